"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from flask import Blueprint
from flask import jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from idp import extensions
from idp.models import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    checks: dict[str, str] = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError:
        checks["database"] = "unavailable"
    store = extensions.store()
    try:
        store.get("readyz")
        checks["store"] = "ok"
    except Exception:  # any backend failure means not ready
        checks["store"] = "unavailable"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ok" if ready else "unavailable", checks=checks), 200 if ready else 503
