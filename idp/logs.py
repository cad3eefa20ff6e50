"""JSON log lines on stderr (one object per line), for every logger of the app; no live
secret in any log line (``idp/redaction.py``): our JSON lines, werkzeug's request log
(``idp demo``, the tests' server) and gunicorn's access and error logs (``idp serve``).

Every request has an id (:class:`RequestObserver`): the ``X-Request-ID`` the trusted proxy
sent when ``IDP_TRUSTED_PROXIES`` is set and the value is a plain token of at most 128
characters (letters, digits, ``._:-``), else a new random one. It is in every JSON line
logged while the request runs (``"request_id"``), in the response's ``X-Request-ID`` header
and in gunicorn's access log (``"request_id"`` and ``rid=``; gunicorn's lines are JSON too
under ``idp serve``), so that one request's lines can be found together
and matched with the proxy's. A client's own header is ignored without a trusted proxy: it
could otherwise make unrelated requests look like one."""

from __future__ import annotations

import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any
from typing import cast

from flask import Flask
from gunicorn.glogging import Logger as GunicornLogger
from gunicorn.glogging import SafeAtoms

from idp.log_lines import REQUEST_ID
from idp.log_lines import JsonFormatter
from idp.log_lines import PreRedactedFilter
from idp.log_lines import info_line
from idp.metrics import observe_request
from idp.redaction import RedactingFilter
from idp.redaction import redact
from idp.redaction import redact_header

#: Loggers of the servers in front of the app, which log request lines.
SERVER_LOGGERS = ("werkzeug",)
#: An ``X-Request-ID`` taken from the trusted proxy: a plain token, bounded.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
REQUEST_ID_HEADER = "X-Request-ID"
#: gunicorn's default access log line, with the request id at its end.
ACCESS_LOG_FORMAT = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" rid=%({x-request-id}o)s'
)

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


class RequestObserver:
    """WSGI middleware, outermost: gives the request its id (see the module's docstring) and
    observes its time in the application for the latency histogram (``idp.metrics``)."""

    def __init__(self, app: WsgiApp, trust_header: bool) -> None:
        self.app = app
        self.trust_header = trust_header

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = environ.get("HTTP_X_REQUEST_ID") if self.trust_header else None
        if not request_id or not SAFE_REQUEST_ID.fullmatch(request_id):
            request_id = os.urandom(16).hex()  # secrets.token_hex(16), without its layers
        environ["idp.request_id"] = request_id
        token = REQUEST_ID.set(request_id)
        status = "500"

        def start(code: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal status
            status = code
            headers.append((REQUEST_ID_HEADER, request_id))
            return start_response(code, headers, exc_info)

        try:
            return self.app(environ, start)
        finally:
            REQUEST_ID.reset(token)
            observe_request(environ, status, time.perf_counter() - started)


def add_redacting_filter(logger: logging.Logger) -> None:
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


#: The environ entries gunicorn's own atoms read (``h u r m U q H f a``).
_ATOM_ENVIRON = (
    "REMOTE_ADDR",
    "HTTP_AUTHORIZATION",
    "REQUEST_METHOD",
    "RAW_URI",
    "SERVER_PROTOCOL",
    "PATH_INFO",
    "QUERY_STRING",
    "HTTP_REFERER",
    "HTTP_USER_AGENT",
)


class RedactedAtoms(SafeAtoms):
    """gunicorn's atoms for the access line, each redacted as the format reads it: the request
    line, path, query, referrer, and any ``{header}i``/``{header}o``/``{variable}e`` an
    operator adds (credential headers whole). Only what the format names is redacted: a
    line reads about ten of some sixty atoms (every header and environ entry is one), and
    redacting them all cost most of a token request's access line (issue 13)."""

    def __init__(self, atoms: dict[str, Any]) -> None:
        dict.__init__(self, atoms)

    def __getitem__(self, key: str) -> Any:
        value = super().__getitem__(key)
        if key.startswith("{") and key[-2:] in ("}i", "}o", "}e"):
            name = key[1:-2].lower().replace("_", "-")
            value = redact_header(name.removeprefix("http-"), value)
        elif isinstance(value, str):
            value = redact(value)
        # As gunicorn's own wrapper: a quote inside an atom cannot end a quoted field.
        return value.replace('"', '\\"') if isinstance(value, str) else value


def _atom(value: str) -> str:
    """One atom of the default access line as :class:`RedactedAtoms` gives it."""
    return redact(value).replace('"', '\\"')


#: The last second of the access line's time and its text (gunicorn's ``now()``).
_last_access_second: tuple[int, str] = (-1, "")


def _access_time() -> str:
    """``[03/Dec/2026:07:19:30 +0000]`` (gunicorn's ``t``), formatted once per second."""
    global _last_access_second
    second = int(time.time())
    last, text = _last_access_second
    if second != last:
        text = time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(second))
        _last_access_second = (second, text)
    return text


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's logger (``logger_class``) with secrets out of the access and error logs:
    every atom ``access_log_format`` reads goes through the redaction (:class:`RedactedAtoms`),
    then the whole line (:class:`RedactingFilter`).

    The default format (:data:`ACCESS_LOG_FORMAT`, what ``idp serve`` sets) is built straight
    from the eight values it reads (:meth:`default_line`), each redacted the same way, rather
    than from gunicorn's dictionary of some sixty atoms: the same line for a fraction of the
    CPU on every request (issue 13). Any other format goes gunicorn's way."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        add_redacting_filter(self.error_log)
        if not any(isinstance(f, PreRedactedFilter) for f in self.access_log.filters):
            for old in [f for f in self.access_log.filters if isinstance(f, RedactingFilter)]:
                self.access_log.removeFilter(old)
            self.access_log.addFilter(PreRedactedFilter())
        # One JSON object per line here too, like the app's own lines.
        for handler in [*self.error_log.handlers, *self.access_log.handlers]:
            handler.setFormatter(JsonFormatter())
        self.is_default_format = cfg.access_log_format == ACCESS_LOG_FORMAT

    def default_line(self, resp: Any, environ: Any) -> str:
        """:data:`ACCESS_LOG_FORMAT`'s line: what gunicorn's atoms ``h l u t r s b f a`` and
        ``{x-request-id}o`` give through :class:`RedactedAtoms`."""
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        sent = getattr(resp, "sent", None)
        request_id = "-"
        for name, value in resp.headers:
            if name.lower() == "x-request-id":
                request_id = value
        request_line = (
            f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}"
        )
        return '%s - %s %s "%s" %s %s "%s" "%s" rid=%s' % (  # noqa: UP031  (gunicorn's)
            _atom(environ.get("REMOTE_ADDR", "-")),
            _atom(self._get_user(environ) or "-"),  # type: ignore[attr-defined]  # not in the stubs
            _access_time(),
            _atom(request_line),
            _atom(status) if isinstance(status, str) else status,
            "-" if sent is None else sent,
            _atom(environ.get("HTTP_REFERER", "-")),
            _atom(environ.get("HTTP_USER_AGENT", "-")),
            _atom(request_id),
        )

    # The atoms also hold "{header}i"-style keys, which the stub's TypedDict cannot name.
    def atoms(  # type: ignore[override]
        self, resp: Any, req: Any, environ: Any, request_time: Any
    ) -> dict[str, Any]:
        """gunicorn's atoms, from only the environ entries they read unless the format names
        an environ atom (``{variable}e``): gunicorn makes an atom of every entry (~35)."""
        if "}e)" not in self.cfg.access_log_format.lower():
            environ = {key: environ[key] for key in _ATOM_ENVIRON if key in environ}
        return cast("dict[str, Any]", super().atoms(resp, req, environ, request_time))

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """The access line, after the response, with the id the request observer gave it."""
        token = REQUEST_ID.set(environ.get("idp.request_id"))
        try:
            if not getattr(self, "is_default_format", False):
                super().access(resp, req, environ, request_time)
            elif self.access_log_enabled:
                try:
                    line = self.default_line(resp, environ)
                except Exception:  # as gunicorn's own access(): never fail the request
                    self.error(traceback.format_exc())
                else:
                    info_line(self.access_log, line, redacted=True)
        finally:
            REQUEST_ID.reset(token)

    atoms_wrapper_class = RedactedAtoms


def setup_logging(app: Flask) -> None:
    root = logging.getLogger("idp")
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
    for name in SERVER_LOGGERS:
        add_redacting_filter(logging.getLogger(name))


def setup_request_observer(app: Flask) -> None:
    """Request ids and the latency histogram; wraps the outermost WSGI layer (after
    ``ProxyFix``), so that the time covers every layer of the app."""
    from idp import extensions
    from idp.metrics import setup_request_metrics

    trusted = extensions.settings.of(app).trusted_proxies > 0
    app.wsgi_app = RequestObserver(app.wsgi_app, trust_header=trusted)  # type: ignore[method-assign]
    setup_request_metrics(app)
