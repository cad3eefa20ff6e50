"""G6 through the admin API: ``GET /audit-events`` (filters, keyset paging, newest first)
and ``GET /audit-events.csv`` (the same filters, every matching event, streamed), on the
caller's contract only (G8), scope admin:read."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from flask import Response
from flask import jsonify
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from idp.admin.api.auth import READ
from idp.admin.api.auth import caller
from idp.admin.api.auth import requires
from idp.admin.api.blueprint import bp
from idp.admin.api.parameters import bad_parameter
from idp.admin.api.parameters import page_parameters
from idp.admin.api.users import iso_time
from idp.admin.audit_csv import csv_filename
from idp.admin.audit_csv import csv_response
from idp.audit_log import MAX_CODE_LENGTH
from idp.audit_log import MAX_PAGE_SIZE
from idp.audit_log import MAX_USER_ID_LENGTH
from idp.audit_log import AuditLogError
from idp.audit_log import AuditQuery
from idp.audit_log import AuditRow
from idp.audit_log import export_events
from idp.audit_log import list_events
from policies.reasons import rules_of

#: RFC 3339 date-time (``T`` or a space between, ``Z`` or an offset; any fraction).
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)
_RFC3339_EXAMPLE = "An RFC 3339 date-time, e.g. 2026-04-01T00:00:00+09:00."


def _time(name: str) -> datetime | None:
    """An RFC 3339 instant; a leap second counts as the second before, and an instant
    beyond what Python holds as the nearest it does (no event is there either way)."""
    text = request.args.get(name)
    if text is None:
        return None
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise bad_parameter(name, _RFC3339_EXAMPLE)
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    fraction = (match.group(7) or "0")[:6].ljust(6, "0")
    try:
        local = datetime(
            max(year, 1), month, day, hour, minute, min(second, 59), int(fraction), tzinfo=UTC
        )
    except ValueError:
        raise bad_parameter(name, _RFC3339_EXAMPLE) from None
    if match.group(8) is None:
        hours, minutes = int(match.group(10)), int(match.group(11))
        if hours > 23 or minutes > 59:
            raise bad_parameter(name, "An offset from -23:59 to +23:59.")
        offset = timedelta(hours=hours, minutes=minutes)
        try:
            local = local - offset if match.group(9) == "+" else local + offset
        except OverflowError:
            local = (
                datetime.min.replace(tzinfo=UTC) if year < 2 else datetime.max.replace(tzinfo=UTC)
            )
    return local


def _text(name: str, longest: int) -> str | None:
    value = request.args.get(name)
    if value is not None and (not 0 < len(value) <= longest or "\x00" in value):
        raise bad_parameter(name, f"1 to {longest} characters.")
    return value


def _query() -> AuditQuery:
    cursor, limit = page_parameters(MAX_PAGE_SIZE)
    return AuditQuery(
        contract_id=caller().contract_id,
        user_id=_text("user_id", MAX_USER_ID_LENGTH),
        event=_text("event", MAX_CODE_LENGTH),
        reason=_text("reason", MAX_CODE_LENGTH),
        since=_time("since"),
        until=_time("until"),
        after=cursor,
        limit=limit,
    )


def event_json(row: AuditRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "at": iso_time(row.at),
        "event": row.event,
        "outcome": row.outcome,
        "reason": row.reason,
        "rules": list(rules_of(row.reason)),
        "actor": row.actor,
        "user_id": row.user_id,
        "client_id": row.client_id,
        "ip": row.ip,
        "details": row.details,
    }


@bp.get("/audit-events")
@requires(READ)
def audit_events() -> Response:
    try:
        page = list_events(_query())
    except AuditLogError as error:
        raise bad_parameter("cursor", str(error)) from None
    return jsonify(
        events=[event_json(row) for row in page.rows],
        next_cursor=page.next_cursor,
        total=page.total,
        total_capped=page.is_total_capped,
    )


@bp.get("/audit-events.csv")
@requires(READ)
def audit_events_csv() -> BaseResponse:
    query = _query()
    return csv_response(export_events(query), csv_filename(query.contract_id, datetime.now(UTC)))
