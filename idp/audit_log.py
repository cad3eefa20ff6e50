"""G6, X9: one contract's audit log as the admin console and the admin API read it — filters
(user, event, reason code, time range), keyset paging newest first, and the CSV export.

Keyset, not OFFSET (X9): a page is "the next N older than (at, id)", so the thousandth page
costs what the first does, through the (contract_id, …, at) indexes; the cursor is opaque to
callers. The total is capped (``COUNT_CAP``) as the user list's is. A page costs two
statements whatever its size. Only the contract's own events are ever read (G8): the
contract is a condition of every statement, a cursor cannot lift it.

The export (:func:`export_events`) reads the same query in keyset batches of
``EXPORT_BATCH`` rows and yields CSV records one by one: the whole log is never in memory,
and its statements grow with rows / batch. A cell that a spreadsheet would read as a
formula (``= + - @``, tab, carriage return first) is prefixed with ``'`` (OWASP "CSV
injection"). Reading changes nothing, so nothing is audited here.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import Text
from sqlalchemy import and_
from sqlalchemy import cast
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

from idp.errors import ProvisioningError
from idp.models import AuditEvent
from idp.models import User
from idp.models import db
from idp.users.find import email_key

#: The total is counted up to this many; beyond, the log says "1,000+".
COUNT_CAP = 1000
#: The largest page a caller may ask for.
MAX_PAGE_SIZE = 200
#: Rows read per statement by the export.
EXPORT_BATCH = 2000
#: The longest event name, reason code or user id a filter may hold (the columns' widths).
MAX_CODE_LENGTH = 40
MAX_USER_ID_LENGTH = 32
#: The CSV export's columns, in order.
CSV_COLUMNS = ("at", "event", "outcome", "reason", "actor", "user_id", "client_id", "ip", "details")
#: What makes a spreadsheet read a cell as a formula (OWASP).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class AuditLogError(ProvisioningError):
    """A log request that cannot be answered: a cursor that is not ours, a page size or a
    filter out of range."""

    default_reason = "bad_audit_query"


@dataclass(frozen=True)
class AuditQuery:
    contract_id: str
    #: Events about this user (the ``user_id`` column).
    user_id: str | None = None
    event: str | None = None
    #: The reason code (X3).
    reason: str | None = None
    #: From this instant (included) …
    since: datetime | None = None
    #: … to this one (excluded); a range that ends before it starts holds nothing.
    until: datetime | None = None
    #: The ``next_cursor`` of the page before; None: the newest events.
    after: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class AuditRow:
    id: int
    at: datetime
    event: str
    outcome: str
    reason: str | None
    actor: str | None
    user_id: str | None
    client_id: str | None
    ip: str | None
    details: dict[str, Any]


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    #: Pass as ``after`` for the next (older) page; None on the last page.
    next_cursor: str | None
    #: How many events match, up to ``COUNT_CAP``; ``is_total_capped``: more than that.
    total: int
    is_total_capped: bool


def _utc(value: datetime) -> datetime:
    """UTC, aware (SQLite hands back naive UTC values; a caller may pass another zone)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _check(query: AuditQuery) -> None:
    if not 1 <= query.limit <= MAX_PAGE_SIZE:
        raise AuditLogError(f"A page holds 1 to {MAX_PAGE_SIZE} events.", "bad_page_size")
    for value, longest in (
        (query.event, MAX_CODE_LENGTH),
        (query.reason, MAX_CODE_LENGTH),
        (query.user_id, MAX_USER_ID_LENGTH),
    ):
        if value is not None and (len(value) > longest or "\x00" in value):
            raise AuditLogError("A filter is not valid.", "bad_filter")


def _conditions(query: AuditQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [AuditEvent.contract_id == query.contract_id]
    if query.user_id is not None:
        conditions.append(AuditEvent.user_id == query.user_id)
    if query.event is not None:
        conditions.append(AuditEvent.event == query.event)
    if query.reason is not None:
        conditions.append(AuditEvent.reason == query.reason)
    if query.since is not None:
        conditions.append(AuditEvent.at >= _utc(query.since))
    if query.until is not None:
        conditions.append(AuditEvent.at < _utc(query.until))
    return conditions


def _encode_cursor(at: datetime, event_id: int) -> str:
    raw = json.dumps([_utc(at).isoformat(), event_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    """(at, id) older than which the page starts; ``AuditLogError`` for a cursor that is not
    one this log handed out."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, event_id = json.loads(raw)
        if not isinstance(at, str) or len(at) > 40:
            raise ValueError
        if not isinstance(event_id, int) or isinstance(event_id, bool) or event_id < 0:
            raise ValueError
        return _utc(datetime.fromisoformat(at)), event_id
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError, OverflowError):
        raise AuditLogError("The page link is not valid.", "bad_cursor") from None


def _older_than(at: datetime, event_id: int) -> ColumnElement[bool]:
    # ``at <= …`` first: an index range on (contract_id[, user_id | event], at); the id
    # orders the events of one instant.
    return and_(
        AuditEvent.at <= at,
        or_(AuditEvent.at < at, AuditEvent.id < event_id),
    )


def _batch(
    conditions: list[ColumnElement[bool]], after: tuple[datetime, int] | None, size: int
) -> list[AuditRow]:
    where = [*conditions, *([_older_than(*after)] if after is not None else [])]
    statement = (
        select(
            AuditEvent.id,
            AuditEvent.at,
            AuditEvent.event,
            AuditEvent.outcome,
            AuditEvent.reason,
            AuditEvent.actor,
            AuditEvent.user_id,
            AuditEvent.client_id,
            AuditEvent.ip,
            AuditEvent.details,
        )
        .where(*where)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(size)
    )
    return [
        AuditRow(
            id=row.id,
            at=row.at,
            event=row.event,
            outcome=row.outcome,
            reason=row.reason,
            actor=row.actor,
            user_id=row.user_id,
            client_id=row.client_id,
            ip=row.ip,
            details=row.details or {},
        )
        for row in db.session.execute(statement).all()
    ]


def list_events(query: AuditQuery) -> AuditPage:
    """One page of ``query.contract_id``'s events, newest first (the caller has checked that
    the actor may read this contract's log: G8)."""
    _check(query)
    conditions = _conditions(query)
    after = _decode_cursor(query.after) if query.after is not None else None
    found = _batch(conditions, after, query.limit + 1)
    rows = found[: query.limit]
    has_more = len(found) > query.limit
    counted = select(AuditEvent.id).where(*conditions).limit(COUNT_CAP + 1).subquery()
    total = db.session.execute(select(func.count()).select_from(counted)).scalar_one()
    return AuditPage(
        rows=rows,
        next_cursor=_encode_cursor(rows[-1].at, rows[-1].id) if has_more else None,
        total=min(total, COUNT_CAP),
        is_total_capped=total > COUNT_CAP,
    )


def find_user_id(contract_id: str, text: str) -> str | None:
    """The user a filter names: an email address of one of ``contract_id``'s users (case
    ignored: L2), or an id as it is (a deleted user's events keep their id); None for an
    address no user of this contract has (another contract's included: G8)."""
    text = text.strip()
    if "@" not in text:
        return text if text and len(text) <= MAX_USER_ID_LENGTH else None
    return db.session.scalar(
        select(User.id).where(User.contract_id == contract_id, User.email_key == email_key(text))
    )


def neutralise(cell: str) -> str:
    """OWASP "CSV injection": a cell a spreadsheet would run as a formula starts with ``'``."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


class _CsvWriter:
    """CSV records (RFC 4180: quoted where needed, CRLF) one at a time, every cell
    neutralised; one buffer reused, so a record costs no new objects but its text."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)

    def record(self, values: list[str]) -> str:
        self._writer.writerow([neutralise(value) for value in values])
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text


def csv_header() -> str:
    """The export's first record: its column names."""
    return _CsvWriter().record(list(CSV_COLUMNS))


def _details_text(stored: str | None) -> str:
    """The details as JSON, Japanese as it is (the column holds them ASCII-escaped: decoded
    again only then; most rows have none)."""
    if not stored:
        return "{}"
    if "\\u" not in stored:
        return stored
    return json.dumps(json.loads(stored), ensure_ascii=False)


def _export_batch(
    conditions: list[ColumnElement[bool]], after: tuple[datetime, int] | None, size: int
) -> list[Any]:
    """One batch of the export as plain tuples (no row objects: a million of them would
    cost more than the query), the details as the stored JSON text."""
    where = [*conditions, *([_older_than(*after)] if after is not None else [])]
    statement = (
        select(
            AuditEvent.at,
            AuditEvent.id,
            AuditEvent.event,
            AuditEvent.outcome,
            AuditEvent.reason,
            AuditEvent.actor,
            AuditEvent.user_id,
            AuditEvent.client_id,
            AuditEvent.ip,
            cast(AuditEvent.details, Text),
        )
        .where(*where)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(size)
    )
    return list(db.session.connection().execute(statement).all())


def export_events(query: AuditQuery, batch: int = EXPORT_BATCH) -> Iterator[str]:
    """The header, then one CSV record per event of ``query`` (its cursor and limit are
    ignored: every matching event, newest first), read ``batch`` rows per statement."""
    query = replace(query, after=None, limit=1)
    _check(query)
    conditions = _conditions(query)
    writer = _CsvWriter()
    yield writer.record(list(CSV_COLUMNS))
    after: tuple[datetime, int] | None = None
    while True:
        rows = _export_batch(conditions, after, batch)
        for at, _id, event, outcome, reason, actor, user_id, client_id, ip, details in rows:
            yield writer.record(
                [
                    _utc(at).isoformat(),
                    event,
                    outcome,
                    reason or "",
                    actor or "",
                    user_id or "",
                    client_id or "",
                    ip or "",
                    _details_text(details),
                ]
            )
        if len(rows) < batch:
            return
        after = (rows[-1][0], rows[-1][1])
        # What was read is not kept: Core rows (no identity map), and each batch's list
        # goes once the next is read.
