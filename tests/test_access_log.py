"""gunicorn's access line under ``idp serve`` (idp/logs.py): every atom the format reads is
redacted (credential headers whole), the line is one JSON object with the request id, and an
operator's extra atoms (``{header}i``, ``{header}o``, ``{variable}e``) are redacted too. The
atoms are redacted as the format reads them (issue 13: only those), so these tests name the
atoms an operator could add, not only the default format's.

SPEC X3 (JSON logs with a request id), X4 (no secret in a log line)."""

from __future__ import annotations

import datetime
import io
import json
import logging
import time
from typing import Any

import pytest
from gunicorn import glogging
from gunicorn.config import Config

import idp.logs
from idp.logs import ACCESS_LOG_FORMAT
from idp.logs import RedactingGunicornLogger
from idp.redaction import REDACTED

SECRET = "S3cr3t-code-4f1d"
REQUEST_ID = "0f" * 16


class _Response:
    status = "302 FOUND"
    sent = 0
    headers = [
        ("Location", f"https://rp.example/cb?code={SECRET}&state=s1"),
        ("Set-Cookie", f"idp_sso={SECRET}; HttpOnly"),
        ("X-Request-ID", REQUEST_ID),
    ]


def _environ() -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/login/finish?tx=t1&code={SECRET}",
        "PATH_INFO": "/login/finish",
        "QUERY_STRING": f"tx=t1&code={SECRET}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "192.0.2.7",
        "HTTP_REFERER": f"https://rp.example/start?id_token_hint=eyJhbGciOi.{SECRET}.x",
        "HTTP_USER_AGENT": 'agent "quoted"',
        "HTTP_AUTHORIZATION": f"Basic {SECRET}",
        "HTTP_COOKIE": f"theme={SECRET}",
        "HTTP_X_NOTE": f"password={SECRET}",
        "idp.request_id": REQUEST_ID,
    }


class _Request:
    headers = [(k[5:].replace("_", "-"), v) for k, v in _environ().items() if k[:5] == "HTTP_"]


def _access_line(log_format: str) -> dict[str, Any]:
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", log_format)
    logger = RedactingGunicornLogger(cfg)
    stream = io.StringIO()
    for handler in logger.access_log.handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
    logger.access(_Response(), _Request(), _environ(), datetime.timedelta(milliseconds=3))
    # gunicorn's loggers are process-wide: an earlier logger's handler may write it too.
    line: dict[str, Any] = json.loads(stream.getvalue().splitlines()[0])
    return line


@pytest.mark.covers("X3", "X4")
def test_X3_X4_the_default_access_line_is_redacted_json_with_the_request_id():
    line = _access_line(ACCESS_LOG_FORMAT)
    assert SECRET not in json.dumps(line)
    assert line["request_id"] == REQUEST_ID and line["logger"] == "gunicorn.access"
    message = line["msg"]
    assert f'"GET /login/finish?tx=t1&code={REDACTED} HTTP/1.1" 302' in message
    assert f"id_token_hint={REDACTED}" in message
    assert 'agent \\"quoted\\"' in message  # gunicorn's escaping of quotes is kept
    assert message.endswith(f"rid={REQUEST_ID}")


@pytest.mark.covers("X4")
def test_X4_atoms_an_operator_adds_are_redacted_credential_headers_whole():
    line = _access_line(
        "%(U)s %(q)s auth=%({authorization}i)s cookie=%({Cookie}i)s "
        "note=%({x-note}i)s loc=%({location}o)s set=%({set-cookie}o)s "
        "env=%({http_authorization}e)s ua=%(a)s missing=%({x-none}i)s"
    )
    message = line["msg"]
    assert SECRET not in json.dumps(line)
    assert f"auth={REDACTED} cookie={REDACTED}" in message
    assert f"note=password={REDACTED}" in message
    assert f"loc=https://rp.example/cb?code={REDACTED}&state=s1" in message
    assert f"set={REDACTED} env={REDACTED}" in message
    assert message.endswith("missing=-")


def _generic_line(logger: RedactingGunicornLogger, resp: Any, environ: dict[str, Any]) -> str:
    """The line gunicorn's own way gives: every atom, redacted as the format reads it."""
    from idp.logs import RedactedAtoms

    atoms = RedactedAtoms(logger.atoms(resp, _Request(), environ, datetime.timedelta(0)))
    return ACCESS_LOG_FORMAT % atoms


_StructTime = time.struct_time


class _StoppedClock:
    """The ``time`` module as both loggers read it, stopped at one instant: the two lines are
    built one after the other and would differ if a second ended between them."""

    def __init__(self, at: float) -> None:
        self.at = at

    def time(self) -> float:
        return self.at

    def localtime(self, secs: float | None = None) -> _StructTime:
        return time.localtime(self.at if secs is None else secs)

    def strftime(self, fmt: str, t: _StructTime | None = None) -> str:
        return time.strftime(fmt, self.localtime() if t is None else t)


class _TokenResponse:
    status = "200 OK"
    sent = 1234
    headers = [("Content-Type", "application/json"), ("X-Request-ID", REQUEST_ID)]


class _NoIdResponse:
    status = 400
    sent = None
    headers: list[tuple[str, str]] = []


@pytest.mark.covers("X3", "X4")
@pytest.mark.parametrize("response", [_Response, _TokenResponse, _NoIdResponse])
@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"HTTP_AUTHORIZATION": "Basic " + "YmVuY2gtc2VydmljZTpzZWNyZXQ="},  # bench-service:secret
        {"HTTP_AUTHORIZATION": "Basic !!", "HTTP_REFERER": None, "HTTP_USER_AGENT": None},
        {"RAW_URI": '/links/tok3n?a="b"&password=x y', "HTTP_USER_AGENT": 'ua code="c" "d'},
        {"REMOTE_ADDR": None, "HTTP_REFERER": "https://rp.example/?refresh_token=r"},
    ],
)
def test_X3_X4_the_default_line_is_built_as_gunicorn_would_build_it(response, changes, monkeypatch):
    """Issue 13: the default format's line is built from the values it reads instead of
    gunicorn's ~60 atoms; it must be the very line gunicorn's way gives (same redaction, same
    quoting), whatever the request carried. The filter's second pass over the whole line is
    left out for it: it only found again what the atoms' redaction had replaced, and could
    take the backslash of an escaped quote for part of a secret's value."""
    clock = _StoppedClock(1796300000.75)  # 2026-12-03T12:13:20.75Z
    monkeypatch.setattr(glogging, "time", clock)
    monkeypatch.setattr(idp.logs, "time", clock)
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", ACCESS_LOG_FORMAT)
    logger = RedactingGunicornLogger(cfg)
    environ = {k: v for k, v in {**_environ(), **changes}.items() if v is not None}
    built = logger.default_line(response(), environ)
    assert built == _generic_line(logger, response(), environ)
    assert time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime(clock.at)) in built
    assert SECRET not in built and "tok3n" not in built
