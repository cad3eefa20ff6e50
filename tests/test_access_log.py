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
from typing import Any

import pytest
from gunicorn.config import Config

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
