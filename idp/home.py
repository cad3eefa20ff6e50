"""The provider's own address (``/``): a short page saying what this site is and where to go
(the account menu; in development also the outboxes), instead of a 404 to the first URL the
README names (issue 14); and the way from every end page back to the service."""

from __future__ import annotations

from flask import Blueprint
from flask import render_template
from flask import url_for

from idp import extensions

bp = Blueprint("home", __name__)


@bp.app_template_global()
def service_url() -> str:
    """Where "go to WORKSDRIVE" leads from an end page: the configured storage service
    (``IDP_SERVICE_URL``), else this home page. Never a URL from the request (no open
    redirect)."""
    return extensions.settings().service_url or url_for("home.home")


@bp.get("/")
def home() -> str:
    return render_template("home.html", dev=extensions.settings().dev)
