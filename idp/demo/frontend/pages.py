"""The demo frontend's one template, rendered in the chosen language, and its error pages:
a failed step or an unknown address shows the frontend's own page, never a stack trace."""

from __future__ import annotations

from typing import Any

import flask
from werkzeug.exceptions import HTTPException

from idp.demo.frontend.relying_party import current_relying_party
from idp.demo.frontend_errors import FrontendError
from idp.demo.frontend_words import DEFAULT_LANGUAGE
from idp.demo.frontend_words import LANGUAGES
from idp.demo.frontend_words import gettext_for

TEMPLATE = "demo/frontend.html"


def language() -> str:
    chosen = flask.session.get("lang")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE


def render(status: int = 200, **context: Any) -> flask.Response:
    """Render the single template in the chosen language, with no-store caching."""
    relying_party = current_relying_party()
    context.setdefault("view", "home")
    lang = language()
    html = flask.render_template(
        TEMPLATE,
        issuer=relying_party.issuer,
        base_url=relying_party.base_url,
        lang=lang,
        _=gettext_for(lang),
        # The provider's sessions page (X2, X7), in the same language.
        sessions_url=f"{relying_party.issuer}/account/sessions?lang={lang}",
        **context,
    )
    response = flask.make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(error: str, description: str = "", status: int = 400) -> flask.Response:
    """Render an error page whose ``#error`` element holds the error code."""
    return render(status, view="error", error=error, error_description=description)


def language_switch() -> None:
    """``?lang=ja|en`` switches the frontend's language (kept in its session cookie)."""
    chosen = flask.request.args.get("lang")
    if chosen in LANGUAGES:
        flask.session["lang"] = chosen


def on_frontend_error(exc: FrontendError) -> flask.Response:
    """Show a FrontendError as a page, not a stack trace."""
    return error_page(exc.error, exc.description, exc.status)


def on_http_error(exc: HTTPException) -> flask.Response:
    """An unknown address or method: the frontend's own page with a way back, not
    werkzeug's bare one (headers such as 405's ``Allow`` kept)."""
    status = exc.code or 500
    response = error_page(f"http_{status}", exc.name, status)
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def register_pages(app: flask.Flask) -> None:
    """The language switch (before any other request hook) and the error pages."""
    app.before_request(language_switch)
    app.register_error_handler(FrontendError, on_frontend_error)
    app.register_error_handler(HTTPException, on_http_error)
