"""The demo frontend's browser defences: no framing, scripts or third-party loads, no full
URLs on referrers, and no cross-site form posts (on top of SameSite=Lax)."""

from __future__ import annotations

import flask

from idp.demo.frontend.pages import error_page
from idp.demo.frontend.relying_party import current_relying_party
from idp.demo.frontend.relying_party import origin_of


def security_headers(response: flask.Response) -> flask.Response:
    """Forbid framing, scripts and third-party loads; keep full URLs off referrers."""
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'",
    )
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    # "same-origin" (not "no-referrer") so browsers still send a real Origin on our POSTs.
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def check_post_origin() -> flask.Response | None:
    """Reject cross-site form posts (on top of SameSite=Lax) using Origin/Referer."""
    if flask.request.method != "POST":
        return None
    relying_party = current_relying_party()
    origin = flask.request.headers.get("Origin")
    referer = flask.request.headers.get("Referer")
    if origin is not None:
        allowed = origin == relying_party.own_origin
    elif referer:
        allowed = origin_of(referer) == relying_party.own_origin
    else:
        allowed = True  # non-browser client (scripts, test clients)
    if allowed:
        return None
    return error_page(
        "csrf_rejected",
        f"Cross-origin POST rejected; open the frontend at {relying_party.base_url}",
        403,
    )


def register_guards(app: flask.Flask) -> None:
    app.after_request(security_headers)
    app.before_request(check_post_origin)
