"""Issue 13, X3, X4: the JSON lines the hot paths write directly (``idp.log_lines.info_line``)
are the lines ``logging`` writes, and ``logging`` still decides whenever anything else would
see the record: another handler, a filter, a level.

Each case writes the same call twice, once with the logger as the app configures it (one
JSON stream handler: the direct way) and once with a second handler attached (the ``logging``
way), and compares what the JSON handler's stream received."""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from idp.log_lines import REQUEST_ID
from idp.log_lines import JsonFormatter
from idp.log_lines import PreRedactedFilter
from idp.log_lines import info_line
from idp.redaction import REDACTED
from idp.redaction import RedactingFilter

SECRET = "S3cr3t-code-4f1d"


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger set up as ``idp.logs.setup_logging`` sets ``idp`` up: one stream handler with
    the JSON formatter, not propagating. Each test starts with :func:`_alone` (pytest attaches
    its capture handler to every non-propagating logger when a test's call begins)."""
    named = logging.getLogger(f"idp-test.{uuid.uuid4().hex}")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    named.addHandler(handler)
    named.setLevel(logging.INFO)
    named.propagate = False
    yield named, stream
    named.removeHandler(handler)


def _alone(named: logging.Logger) -> None:
    """Only the JSON handler on ``named``: as in a served process, not under pytest."""
    named.handlers[:] = [h for h in named.handlers if type(h) is logging.StreamHandler]


@pytest.fixture
def records_made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the loggers ``logging`` made a record for (its record factory)."""
    made: list[str] = []
    factory = logging.getLogRecordFactory()

    def counting(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        made.append(record.name)
        return record

    monkeypatch.setattr(logging, "_logRecordFactory", counting)
    return made


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    for line in lines:
        line.pop("ts")  # the second it was written in
    return lines


CALLS: list[tuple[str, dict[str, Any]]] = [
    ("audit", {"audit": {"event": "token_issued", "outcome": "ok", "client_id": "c1"}}),
    (f"GET /cb?code={SECRET}&state=s1", {}),
    ("said ü and 日本語", {}),
    ('1.2.3.4 - - "GET /links/x HTTP/1.1" 200 5 "-" "ua"', {"redacted": True}),
    ("audit", {"audit": {"event": "x", "details": {"client_secret": SECRET}, "ip": None}}),
]


@pytest.mark.covers("X3", "X4")
@pytest.mark.parametrize(("message", "options"), CALLS)
def test_X3_X4_a_direct_line_is_the_line_logging_writes(logger, records_made, message, options):
    named, stream = logger
    _alone(named)
    token = REQUEST_ID.set("0f" * 16)
    try:
        info_line(named, message, **options)
        assert records_made == []  # written directly: no record was made
        kept = _Kept()
        named.addHandler(kept)
        info_line(named, message, **options)
        named.removeHandler(kept)
    finally:
        REQUEST_ID.reset(token)
    assert len(kept.records) == 1  # the second handler saw it: the logging way
    direct, through_logging = _lines(stream)
    assert direct == through_logging
    assert direct["request_id"] == "0f" * 16 and direct["logger"] == named.name
    assert SECRET not in json.dumps(direct)


@pytest.mark.covers("X4")
def test_X4_a_direct_line_is_redacted(logger):
    named, stream = logger
    _alone(named)
    info_line(named, f"POST /token client_secret={SECRET}", audit={"password": SECRET})
    (line,) = _lines(stream)
    assert line["msg"] == f"POST /token client_secret={REDACTED}"
    assert line["audit"] == {"password": REDACTED}
    assert "request_id" not in line  # outside a request


@pytest.mark.covers("X4")
def test_X4_what_could_drop_or_change_a_record_still_sees_it(logger, records_made):
    named, stream = logger
    _alone(named)
    handler = named.handlers[0]
    # A filter on the handler: logging's way, and it can drop the line.
    handler.addFilter(lambda record: "drop" not in record.getMessage())
    info_line(named, "please drop this")
    info_line(named, "keep this")
    handler.filters.clear()
    assert [line["msg"] for line in _lines(stream)] == ["keep this"]
    assert len(records_made) == 2
    # A handler above INFO, or a logger above INFO: nothing is written.
    handler.setLevel(logging.WARNING)
    info_line(named, "not at warning")
    handler.setLevel(logging.NOTSET)
    named.setLevel(logging.WARNING)
    info_line(named, "not either")
    named.setLevel(logging.INFO)
    assert [line["msg"] for line in _lines(stream)] == ["keep this"]
    # A redacting filter on the logger redacts a line not redacted yet, and is not needed
    # for one that is (gunicorn's access logger: idp.logs.RedactingGunicornLogger).
    named.addFilter(PreRedactedFilter())
    records_made.clear()
    info_line(named, f"/cb?code={SECRET}", redacted=True)
    assert records_made == []
    named.filters.clear()
    named.addFilter(RedactingFilter())
    info_line(named, f"/cb?code={SECRET}")
    assert records_made == [named.name]
    named.filters.clear()
    assert _lines(stream)[-1]["msg"] == f"/cb?code={REDACTED}"


@pytest.mark.covers("X3")
def test_X3_a_handler_of_another_kind_gets_a_record(records_made):
    named = logging.getLogger(f"idp-test.{uuid.uuid4().hex}")
    named.propagate = False
    named.setLevel(logging.INFO)
    named.handlers.clear()
    kept = _Kept()
    kept.setFormatter(JsonFormatter())
    named.addHandler(kept)
    info_line(named, "to a handler of its own", audit={"event": "e"})
    assert [record.getMessage() for record in kept.records] == ["to a handler of its own"]
    assert kept.records[0].audit == {"event": "e"}  # type: ignore[attr-defined]


@pytest.mark.covers("X3")
def test_X3_a_failed_write_never_fails_the_caller(logger, capsys):
    named, stream = logger
    _alone(named)
    stream.close()  # writing raises ValueError
    info_line(named, "lost")  # as StreamHandler.emit: reported on stderr, not raised
    assert "lost" in capsys.readouterr().err
