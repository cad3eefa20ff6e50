"""Security headers, CSRF, error pages and request limits for every surface."""

from __future__ import annotations

import functools
import logging
import secrets
from collections.abc import Callable
from typing import Any
from typing import TypeVar
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Flask
from flask import abort
from flask import current_app
from flask import g
from flask import jsonify
from flask import render_template
from flask import request
from flask.globals import request_ctx
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from idp import extensions
from idp.csrf import CsrfProtect
from idp.errors import IdpError
from idp.i18n import pick_locale
from idp.outage import RETRY_AFTER
from idp.outage import Service
from idp.outage import outage_of
from idp.problems import Problem
from idp.problems import problem_response

log = logging.getLogger("idp.web")
csrf = CsrfProtect()

View = TypeVar("View", bound=Callable[..., Any])


def csrf_exempt(view: View) -> View:
    """``csrf.exempt`` keeping the view's type (Flask-WTF is untyped): for the endpoints
    whose callers prove themselves otherwise (client authentication, bearer tokens)."""
    csrf.exempt(view)
    return view


#: Scripts only from our origin (the WebAuthn glue), no framing, nothing from elsewhere
#: (DESIGN.md, Security defaults).
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'"
)
#: Set on every response whose view did not set its own (DESIGN.md, Security defaults); also
#: ``Strict-Transport-Security`` with secure cookies, ``Cache-Control: no-store`` on pages
#: and machine endpoints.
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
)
#: Machine endpoints answer JSON errors, never HTML.
API_PATHS = (
    "/token",
    "/revoke",
    "/introspect",
    "/userinfo",
    "/jwks.json",
    "/.well-known/",
    "/api/",
    "/scim/",
)


#: JSON APIs whose errors are RFC 9457 problem details (idp/problems.py).
PROBLEM_PATHS = ("/api/",)


def _is_api() -> bool:
    return request.path.startswith(API_PATHS)


def _error_page(status: int, **context: Any) -> tuple[str, int]:
    """The error page, also for a request the router could not bind (a Host header that is
    not a host name, e.g. a label over 63 characters: werkzeug raises BadHost and leaves no
    URL adapter, so every ``url_for`` in the templates would fail). We never build links
    from the request's Host (DESIGN.md), so the page is built against the issuer."""
    if request_ctx.url_adapter is None:
        issuer = urlsplit(extensions.settings().issuer)
        request_ctx.url_adapter = current_app.url_map.bind(
            issuer.netloc, script_name=issuer.path or "/", url_scheme=issuer.scheme
        )
    return render_template("login/error.html", **context), status


def body_limit(limit: int) -> Callable[[View], View]:
    """Let the requests of this view carry up to ``limit`` bytes (a file upload) instead of
    the app's ``MAX_CONTENT_LENGTH``. Applied before any hook reads the body (CSRF, NUL)."""

    def decorate(view: View) -> View:
        view.max_content_length = limit  # type: ignore[attr-defined]
        return view

    return decorate


@functools.lru_cache(maxsize=64)
def is_valid_host(host: str) -> bool:
    """``host[:port]`` with a host name and a port above 0 (see ``refuse_invalid_host``);
    remembered for the few Host values a node sees, as parsing it was a per-request cost."""
    try:
        parts = urlsplit(f"//{host}")
        return bool(parts.hostname) and (parts.port is None or parts.port > 0)
    except ValueError:  # a port that is not a number, a bracket left open
        return False


def setup_web(app: Flask) -> None:
    # First of the hooks: the CSRF check and refuse_nul_bytes read the form.
    @app.before_request
    def apply_body_limit() -> None:
        view = app.view_functions.get(request.endpoint or "")
        limit = getattr(view, "max_content_length", None)
        if isinstance(limit, int):
            request.max_content_length = limit

    csrf.init_app(app)

    @app.before_request
    def refuse_invalid_host() -> None:
        """RFC 9112 §3.2: a Host that is not ``host[:port]`` is 400. werkzeug lets some
        through (``a:b:c``, an empty one), and authlib, which reads the request URL, would
        call such a request ``insecure_transport``. Our links never use it (DESIGN.md)."""
        if not is_valid_host(request.host):
            abort(400, "Invalid Host header")

    @app.before_request
    def refuse_nul_bytes() -> None:
        """NUL never belongs in a parameter, and PostgreSQL refuses it in text: stop it here.
        Without a query string there are no arguments to parse (a token request's case)."""
        values = list(request.args.values()) if request.environ.get("QUERY_STRING") else []
        if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            values += list(request.form.values())
        if any("\x00" in value for value in values):
            abort(400, "NUL byte in a parameter")

    # The settings are fixed for the app's life: the defaults are chosen once.
    defaults = SECURITY_HEADERS
    if extensions.settings.of(app).cookies_secure:
        defaults += (("Strict-Transport-Security", "max-age=31536000"),)

    @app.after_request
    def security_headers(response: Response) -> Response:
        """Each default header unless the view set its own. One pass over the response's
        headers: ``setdefault`` searched them once per header and raised a ``KeyError`` for
        every absent one, ~10 µs a request (issue 13)."""
        headers = response.headers
        present = {name.lower() for name in headers.keys()}
        for name, value in defaults:
            if name.lower() not in present:
                headers.add(name, value)
        if "cache-control" not in present and (_is_api() or response.mimetype == "text/html"):
            headers.add("Cache-Control", "no-store")
        return response

    @app.errorhandler(IdpError)
    def idp_error(error: IdpError) -> tuple[str, int]:
        error_id = secrets.token_hex(6)
        log.info("refused %s (%s) id=%s", error.code, error.reason, error_id)
        return _error_page(
            error.status_code,
            error=error.code,
            reason=error.reason,
            error_id=error_id,
            purpose=getattr(error, "purpose", None),
        )

    @app.errorhandler(CSRFError)
    def csrf_error(error: CSRFError) -> tuple[str, int]:
        return _error_page(400, error="csrf", reason=error.description)

    @app.errorhandler(OAuth2Error)
    def oauth_error(error: OAuth2Error) -> tuple[Response, int]:
        return jsonify(error=error.error, error_description=error.description), error.status_code

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> tuple[Response | str, int]:
        status = error.code or 500
        if request.path.startswith(PROBLEM_PATHS):
            problem = Problem(status, f"http_{status}", error.name, error.description or "")
            return problem_response(problem), status
        if _is_api():
            return jsonify(
                error="invalid_request" if status < 500 else "server_error",
                error_description=error.description,
            ), status
        return _error_page(status, error=f"http_{status}")

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response | tuple[Response | str, int]:
        service = outage_of(error)
        if service is not None:
            return unavailable(service, error)
        error_id = secrets.token_hex(6)
        log.exception("unexpected error id=%s", error_id)
        g.locale = g.get("locale")
        if _is_api():
            return jsonify(error="server_error", error_id=error_id), 500
        return _error_page(500, error="server_error", error_id=error_id)


def log_outage(service: Service, error: BaseException) -> str:
    """Log an outage once, with an error id the page shows (the JSON line carries the
    request id, idp/logs.py); only the exception's class, never its text (statement
    parameters, keys). Returns the error id."""
    error_id = secrets.token_hex(6)
    cause = getattr(error, "orig", None) or error.__cause__ or error
    log.error(
        "%s unavailable: %s (%s) path=%s id=%s",
        service,
        type(error).__name__,
        type(cause).__name__,
        request.path,
        error_id,
    )
    return error_id


def unavailable(service: Service, error: BaseException) -> Response:
    """The answer to a request that met an outage (idp/outage.py), with ``Retry-After``:

    - ``/authorize`` once the client and its redirect URI are validated: the OAuth error
      ``temporarily_unavailable`` at the redirect URI (RFC 6749 §4.1.2.1), with ``state`` and
      ``iss``;
    - the admin API: an RFC 9457 problem, 503;
    - the other machine endpoints (token, userinfo, revocation, introspection): 503 with the
      JSON error ``temporarily_unavailable``. RFC 6749 §5.2 registers that code for the
      authorization endpoint only; the token endpoint has no code for "try later", so the
      status (503, RFC 9110 §15.6.4) says it and the code names it (§8.5 lets extensions
      register codes; clients read any unknown one as a failure);
    - a page (the sign-in's steps, the account menu, the console, a mailed link): 503 in the
      person's language, "try again in a moment".
    """
    return unavailable_answer(log_outage(service, error), RETRY_AFTER)


def unavailable_answer(error_id: str | None, retry_after: int) -> Response:
    """The 503 of :func:`unavailable` (also a request shed under load, idp/admission: no
    error id then), asking the client to come back in ``retry_after`` seconds."""
    oauth_redirect = g.get("oauth_redirect")
    if request.path == "/authorize" and oauth_redirect is not None:
        redirect_uri, state = oauth_redirect
        failure = OAuth2Error(
            "The service is temporarily unavailable; try again in a moment.",
            error="temporarily_unavailable",
            redirect_uri=redirect_uri,
            state=state,
        )
        response: Response = extensions.oauth().create_error_redirect(failure)
    elif request.path.startswith(PROBLEM_PATHS):
        response = problem_response(
            Problem(
                503,
                "unavailable",
                "The service is temporarily unavailable.",
                f"Try again in a moment ({error_id})." if error_id else "Try again in a moment.",
            )
        )
    elif _is_api():
        response = jsonify(
            error="temporarily_unavailable",
            error_description="The service is temporarily unavailable; try again in a moment.",
            **({"error_id": error_id} if error_id else {}),
        )
        response.status_code = 503
    else:
        if g.get("locale") is None:
            g.locale = _locale_of_request()
        body, status = _error_page(503, error="unavailable", error_id=error_id)
        response = Response(body, status, mimetype="text/html")
    response.headers["Retry-After"] = str(retry_after)
    return response


def _locale_of_request() -> str | None:
    """The page's language when the sign-in's own could not be read: ``ui_locales`` of an
    authorization request; else the language cookie (idp/i18n.py) decides."""
    return pick_locale(request.args.get("ui_locales"))
