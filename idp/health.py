"""Liveness and readiness for load balancers and orchestrators.

``/healthz``: the process answers. ``/readyz``: this node can serve sign-ins: the database
answers, the ephemeral store answers, and a signing key can be read from the keys folder.
503 names the failing check (``"unavailable"``) and nothing more: the cause (a host name, a
path, an error text) goes to the log only, where the redaction applies."""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Blueprint
from flask import jsonify
from sqlalchemy import text
from werkzeug.wrappers import Response

from idp import extensions
from idp.models import db

bp = Blueprint("health", __name__)
log = logging.getLogger("idp.health")


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


def _database() -> None:
    try:
        db.session.execute(text("SELECT 1"))
    finally:
        db.session.rollback()


def _store() -> None:
    extensions.store().get("readyz")


def _keys() -> None:
    extensions.keys().check()


CHECKS: dict[str, Callable[[], None]] = {"database": _database, "store": _store, "keys": _keys}


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    for name, check in CHECKS.items():
        try:
            check()
            checks[name] = "ok"
        except Exception as error:  # any failure of a dependency means not ready
            log.warning("readiness check %s failed: %s: %s", name, type(error).__name__, error)
            checks[name] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503
