"""G6, X3, X9: the contract's audit log — filters (user by email address or id, event, reason
code, from/to days in Japan time), newest first with keyset paging, each reason in words with
the SPEC rules behind it, and "Download CSV" with the same filters: ``/admin/audit.csv``
streams :func:`idp.audit_log.export_events` (never the whole file in memory), UTF-8 with a
byte-order mark so that Excel opens the Japanese in it correctly. A bad filter shows the page
again with a message beside it (issue 14), never an error."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any

from flask import Response
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp.account_menu.sessions import JST
from idp.admin.audit_csv import csv_filename
from idp.admin.audit_csv import csv_response
from idp.admin.console.guard import Admin
from idp.admin.console.guard import bp
from idp.admin.console.guard import console_page
from idp.admin.console.words import event_labels
from idp.admin.console.words import outcome_labels
from idp.admin.console.words import reason_texts
from idp.audit import DOMAIN_CHANGES
from idp.audit_log import COUNT_CAP
from idp.audit_log import MAX_CODE_LENGTH
from idp.audit_log import AuditLogError
from idp.audit_log import AuditPage
from idp.audit_log import AuditQuery
from idp.audit_log import csv_header
from idp.audit_log import export_events
from idp.audit_log import find_user_id
from idp.audit_log import list_events
from idp.i18n import gettext as _
from policies.reasons import REASON_RULES
from policies.reasons import rules_of

#: Events per page of the console.
PAGE_SIZE = 50
#: The parameters a page link and the CSV link carry (the cursor is added to the next page's).
KEPT = ("user", "event", "reason", "from", "to")
#: The longest filter value kept (an email address).
MAX_FILTER_LENGTH = 320
#: The key of a message about the page link (the cursor), not about a filter.
PAGE_LINK = "cursor"
#: Messages by filter name (``templates/account/_fields.html``).
Errors = dict[str, list[str]]


@dataclass(frozen=True)
class LogRequest:
    query: AuditQuery
    #: The parameters as given (what the form shows again and the links carry).
    shown: dict[str, str]
    #: The user filter names nobody of this contract: nothing matches.
    is_empty: bool


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _parse(admin: Admin) -> tuple[LogRequest, Errors]:
    """The log request from the query string, and messages by filter for what could not be
    used (the rest still applies)."""
    args = request.args
    shown = {key: args.get(key, "").replace("\x00", "").strip()[:MAX_FILTER_LENGTH] for key in KEPT}
    errors: Errors = {}
    user_id = None
    is_empty = False
    if shown["user"]:
        user_id = find_user_id(admin.contract.id, shown["user"])
        if user_id is None:
            errors["user"] = [_("No user of this contract has this email address or ID.")]
            is_empty = True
    for name in ("event", "reason"):
        if len(shown[name]) > MAX_CODE_LENGTH:
            errors[name] = [_("This condition could not be used and was ignored.")]
            shown[name] = ""
    days = {}
    for name in ("from", "to"):
        days[name] = _day(shown[name]) if shown[name] else None
        if shown[name] and days[name] is None:
            errors[name] = [_("A date is not valid (write it as 2026-04-01). It was ignored.")]
            shown[name] = ""
    since = datetime.combine(days["from"], time(), JST) if days["from"] else None
    until = datetime.combine(days["to"] + timedelta(days=1), time(), JST) if days["to"] else None
    if since is not None and until is not None and since >= until:
        errors["to"] = [_("The last day is before the first day: no event is in that range.")]
    cursor = args.get("cursor") or None
    query = AuditQuery(
        contract_id=admin.contract.id,
        user_id=user_id,
        event=shown["event"] or None,
        reason=shown["reason"] or None,
        since=since,
        until=until,
        after=cursor[:1000] if cursor else None,
        limit=PAGE_SIZE,
    )
    return LogRequest(query, shown, is_empty), errors


def _kept(shown: dict[str, str]) -> dict[str, Any]:
    return {key: value for key, value in shown.items() if value}


def count_label(page: AuditPage) -> str:
    return f"{COUNT_CAP:,}+" if page.is_total_capped else f"{page.total:,}"


@bp.get("/audit")
@console_page()
def audit(admin: Admin) -> BaseResponse:
    wanted, errors = _parse(admin)
    status = 200
    if wanted.is_empty:
        page = AuditPage(rows=[], next_cursor=None, total=0, is_total_capped=False)
    else:
        try:
            page = list_events(wanted.query)
        except AuditLogError:
            # A page link that is not this log's (edited): the newest events.
            errors[PAGE_LINK] = [_("The page link is not valid. The first page is shown.")]
            status = 400
            page = list_events(replace(wanted.query, after=None))
    kept = _kept(wanted.shown)
    return Response(
        render_template(
            "admin/audit.html",
            admin=admin,
            page=page,
            count=count_label(page),
            shown=wanted.shown,
            is_later_page=wanted.query.after is not None,
            links={
                "first": url_for("admin_console.audit", **kept),
                "next": url_for("admin_console.audit", **kept, cursor=page.next_cursor)
                if page.next_cursor
                else None,
                "csv": url_for("admin_console.audit_csv", **kept),
            },
            reasons=reason_texts(),
            rules={row.reason: rules_of(row.reason) for row in page.rows if row.reason},
            events=event_labels(),
            outcomes=outcome_labels(),
            known_events=sorted({*DOMAIN_CHANGES.values(), *event_labels()}),
            known_reasons=sorted({*REASON_RULES, *reason_texts()}),
            errors=errors,
            names=KEPT,
            page_link=PAGE_LINK,
        ),
        status,
    )


@bp.get("/audit.csv")
@console_page()
def audit_csv(admin: Admin) -> BaseResponse:
    wanted, _errors = _parse(admin)
    # The filters the page showed; what it could not use it ignored, and so does the file.
    records = export_events(wanted.query) if not wanted.is_empty else iter([csv_header()])
    return csv_response(records, csv_filename(admin.contract.id, admin.now))
