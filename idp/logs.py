"""JSON log lines on stderr (one object per line), for every logger of the app; no live
secret in any log line (``idp/redaction.py``): our JSON lines, werkzeug's request log
(``idp demo``, the tests' server) and gunicorn's access and error logs (``idp serve``)."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from flask import Flask
from gunicorn.glogging import Logger as GunicornLogger

from idp.redaction import RedactingFilter
from idp.redaction import redact
from idp.redaction import redact_header
from idp.redaction import redact_value

#: Loggers of the servers in front of the app, which log request lines.
SERVER_LOGGERS = ("werkzeug",)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        audit = getattr(record, "audit", None)
        if audit:
            entry["audit"] = redact_value(audit)
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def add_redacting_filter(logger: logging.Logger) -> None:
    if not any(isinstance(f, RedactingFilter) for f in logger.filters):
        logger.addFilter(RedactingFilter())


class RedactingGunicornLogger(GunicornLogger):
    """gunicorn's logger (``logger_class``) with secrets out of the access and error logs:
    every atom of ``access_log_format`` (request line, path, query, referrer, and any
    ``{header}i``/``{header}o``/``{variable}e`` an operator adds) goes through the redaction."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        add_redacting_filter(self.error_log)
        add_redacting_filter(self.access_log)

    # The atoms also hold "{header}i"-style keys, which the stub's TypedDict cannot name.
    def atoms(  # type: ignore[override]
        self, resp: Any, req: Any, environ: Any, request_time: Any
    ) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        redacted: dict[str, Any] = {}
        for key, value in atoms.items():
            if key.startswith("{") and key[-2:] in ("}i", "}o", "}e"):
                name = key[1:-2].replace("_", "-")
                redacted[key] = redact_header(name.removeprefix("http-"), value)
            elif isinstance(value, str):
                redacted[key] = redact(value)
            else:
                redacted[key] = value
        return redacted


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
