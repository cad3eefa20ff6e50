"""The provider's own address (``/``): a short page saying what this site is and where to go
(the account menu; in development also the outboxes), instead of a 404 to the first URL the
README names (issue 14)."""

from __future__ import annotations

from flask import Blueprint
from flask import render_template

from idp import extensions

bp = Blueprint("home", __name__)


@bp.get("/")
def home() -> str:
    return render_template("home.html", dev=extensions.settings().dev)
