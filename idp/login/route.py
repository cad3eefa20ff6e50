"""The access route of a request (L9, X5): line authentication only on the line login URL
prefix, with the gateway's signature valid and fresh; anything else is internet access."""

from __future__ import annotations

import time
from typing import Any

from flask import request

from idp import audit
from idp import extensions
from idp.line.gateway import LINE_PATH_PREFIX as LINE_PREFIX
from idp.line.gateway import LineAssertion
from idp.line.gateway import verify_line_headers


def route_of_request() -> dict[str, Any]:
    """``{"kind": "line", "line", "area", "at"}`` or ``{"kind": "internet"}``."""
    settings = extensions.settings()
    if not request.path.startswith(LINE_PREFIX) or not settings.line_gateway_secret:
        return {"kind": "internet"}

    verdict = verify_line_headers(
        request.headers,
        settings.line_gateway_secret.encode(),
        request.method,
        request.path,
        time.time(),
        settings.line_gateway_max_skew,
    )
    if isinstance(verdict, LineAssertion):
        return {
            "kind": "line",
            "line": verdict.number,
            "area": verdict.area,
            "at": verdict.timestamp,
        }
    if verdict.reason != "absent":
        audit.record(
            "line_headers", "refused", f"line_{verdict.reason}", details={"path": request.path}
        )
    return {"kind": "internet"}


def line_login_base() -> str:
    """Where the line login pages are reached (through the line network's gateway)."""
    settings = extensions.settings()
    return settings.line_login_url or f"{settings.issuer}/line"
