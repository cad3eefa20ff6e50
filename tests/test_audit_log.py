"""G6, G8, X3, X9: the contract's audit log as an administrator reads it — filters (user,
event, reason code, time range), keyset pages newest first that cover every event once, the
reason in words with its rules, another contract's events never shown (domain, console, API,
CSV), and the CSV export: streamed in keyset batches, UTF-8 with a BOM, parsed back by the
csv module into the same rows, formula cells neutralised."""

from __future__ import annotations

import csv
import inspect
import io
import json
import re
import threading
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from html import unescape

import pytest
import requests
from sqlalchemy import event as sa_event

from idp.audit_log import CSV_COLUMNS
from idp.audit_log import AuditLogError
from idp.audit_log import AuditQuery
from idp.audit_log import export_events
from idp.audit_log import list_events
from idp.models import AuditEvent
from tests.field_errors import assert_field_error
from tests.field_errors import assert_no_field_error
from tests.field_errors import text_of
from tests.test_admin_api import PREFIX
from tests.test_admin_api import api
from tests.test_admin_api import assert_problem
from tests.test_admin_api import token_for
from tests.test_admin_console import console_sign_in
from tests.test_admin_console import signed_in_admin

TIMEOUT = 10
START = datetime(2026, 3, 1, tzinfo=UTC)


def seed(provider, contract_id, count, start=START, step=timedelta(seconds=1), **values):
    """``count`` events of ``contract_id``, ``step`` apart from ``start``; returns their ids."""
    ids = []
    with provider.app.app_context():
        session = provider.db().session
        for index in range(count):
            row = AuditEvent(
                at=start + step * index,
                event=values.get("event", "login"),
                outcome=values.get("outcome", "refused"),
                reason=values.get("reason", "wrong_password"),
                user_id=values.get("user_id"),
                contract_id=contract_id,
                client_id=values.get("client_id"),
                ip=values.get("ip", "192.0.2.1"),
                actor=values.get("actor"),
                details=values.get("details", {"n": index}),
            )
            session.add(row)
            session.flush()
            ids.append(row.id)
        session.commit()
    return ids


def every_page(provider, after=None, **values):
    """Every event of the query, page after page, as ids."""
    seen, cursor = [], after
    with provider.app.app_context():
        while True:
            page = list_events(AuditQuery(after=cursor, **values))
            seen.extend(row.id for row in page.rows)
            cursor = page.next_cursor
            if cursor is None:
                return seen


def test_G6_filters_by_user_event_reason_and_time(provider):
    contract_id = provider.new_contract()
    user_id, _ = provider.new_user(contract_id)
    wrong = seed(provider, contract_id, 3, user_id=user_id)
    locked = seed(provider, contract_id, 2, START + timedelta(days=1), reason="locked")
    codes = seed(provider, contract_id, 2, START + timedelta(days=2), event="second_factor")

    def ids(**values):
        with provider.app.app_context():
            page = list_events(AuditQuery(contract_id=contract_id, limit=200, **values))
        return {row.id for row in page.rows}

    assert set(wrong) <= ids(user_id=user_id) and not set(locked) & ids(user_id=user_id)
    assert ids(reason="locked") == set(locked)
    assert ids(event="second_factor") == set(codes)
    day_two = {"since": START + timedelta(days=1), "until": START + timedelta(days=2)}
    assert ids(**day_two) == set(locked)
    assert ids(event="login", reason="wrong_password", **day_two) == set()
    # A range that ends before it starts holds nothing (never an error).
    assert ids(since=START + timedelta(days=3), until=START) == set()


@pytest.mark.parametrize("limit", [1, 7])
def test_G6_X9_keyset_pages_cover_every_event_once_newest_first(provider, limit):
    contract_id = provider.new_contract()
    seed(provider, contract_id, 12)
    seed(provider, contract_id, 5, step=timedelta(0))  # five events of one instant
    with provider.app.app_context():
        everything = list_events(AuditQuery(contract_id=contract_id, limit=200)).rows
    assert len(everything) > 17
    newest_first = sorted(everything, key=lambda row: (row.at, row.id), reverse=True)
    assert [row.id for row in everything] == [row.id for row in newest_first]
    assert every_page(provider, contract_id=contract_id, limit=limit) == [
        row.id for row in everything
    ]


def test_G6_X9_statements_per_page_do_not_grow_with_the_page_size(provider):
    contract_id = provider.new_contract()
    seed(provider, contract_id, 60)
    counts = []
    with provider.app.app_context():
        for limit in (5, 50):
            with counted_statements(provider) as statements:
                list_events(AuditQuery(contract_id=contract_id, limit=limit))
            counts.append(len(statements))
    assert counts == [2, 2]


class counted_statements:  # noqa: N801 (a context manager read as a phrase)
    """This thread's SQL statements while inside (the audit sealer runs on its own)."""

    def __init__(self, provider):
        self.engine = provider.db().engine
        self.statements = []
        self.thread = threading.get_ident()

    def _count(self, *_args, **_kwargs):
        if threading.get_ident() == self.thread:
            self.statements.append(1)

    def __enter__(self):
        sa_event.listen(self.engine, "before_cursor_execute", self._count)
        return self.statements

    def __exit__(self, *_exc):
        sa_event.remove(self.engine, "before_cursor_execute", self._count)


def test_G6_G8_a_tampered_cursor_is_refused_and_never_reaches_another_contract(provider):
    contract_id = provider.new_contract()
    seed(provider, contract_id, 3)
    other = provider.new_contract()
    theirs = set(seed(provider, other, 3))
    with provider.app.app_context():
        for cursor in ("x", "bm90IGpzb24", "WyJub3QgYSB0aW1lIiwgMV0", "WzEsIDJd"):
            with pytest.raises(AuditLogError):
                list_events(AuditQuery(contract_id=contract_id, after=cursor))
        with pytest.raises(AuditLogError):
            list_events(AuditQuery(contract_id=contract_id, limit=201))
    # A cursor handed out for the other contract's log pages through this one's only.
    with provider.app.app_context():
        their_cursor = list_events(AuditQuery(contract_id=other, limit=1)).next_cursor
    assert not theirs & set(every_page(provider, contract_id=contract_id, after=their_cursor))


def read_csv(body: bytes) -> list[dict[str, str]]:
    assert body.startswith("\ufeff".encode())  # the BOM: Excel reads UTF-8 (G6)
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline="")))
    assert tuple(rows[0]) == CSV_COLUMNS
    return [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]


def test_G6_csv_parses_back_into_the_same_rows_and_formulas_are_neutralised(provider):
    contract_id = provider.new_contract()
    seed(provider, contract_id, 4, details={"名前": "田中", "note": 'a,b\n"c"'})
    formulas = seed(
        provider,
        contract_id,
        1,
        START + timedelta(days=1),
        ip='=HYPERLINK("http://evil.example")',
        client_id="+cmd|' /C calc'!A0",
        actor="@SUM(1+1)",
        user_id="-2+3",
        details={},
    )
    token = token_for(provider, contract_id, scope="admin:read")
    answer = api(provider, "/audit-events.csv", token, reason="wrong_password")
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert answer.headers["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = read_csv(answer.content)
    with provider.app.app_context():
        query = AuditQuery(contract_id=contract_id, reason="wrong_password", limit=200)
        listed = list_events(query).rows
    assert [int(json.loads(r["details"]).get("n", -1)) for r in rows] == [
        row.details.get("n", -1) for row in listed
    ]
    assert len(rows) == len(listed)
    for row, event in zip(rows, listed, strict=True):
        assert row["event"] == event.event and row["reason"] == (event.reason or "")
        assert datetime.fromisoformat(row["at"]) == event.at.replace(tzinfo=UTC)
    japanese = next(r for r in rows if "名前" in r["details"])
    assert json.loads(japanese["details"]) == {"名前": "田中", "note": 'a,b\n"c"'}
    formula = rows[0]
    assert formulas and formula["ip"] == '\'=HYPERLINK("http://evil.example")'
    assert formula["client_id"] == "'+cmd|' /C calc'!A0"
    assert formula["actor"] == "'@SUM(1+1)"
    assert formula["user_id"] == "'-2+3"


def test_G6_X9_the_export_streams_in_keyset_batches(provider):
    """The export is a generator that reads one batch per statement: the first records come
    after one statement, and the statements grow with rows / batch, not one giant fetch."""
    contract_id = provider.new_contract()
    seed(provider, contract_id, 95)
    token = token_for(provider, contract_id, scope="admin:read")  # (its events first)
    with provider.app.app_context():
        total = list_events(AuditQuery(contract_id=contract_id, limit=200)).total
        records = export_events(AuditQuery(contract_id=contract_id), batch=10)
        assert inspect.isgenerator(records)
        with counted_statements(provider) as statements:
            assert next(records).startswith("at,event,")
            next(records)
            assert len(statements) == 1
            rest = list(records)
        assert len(rest) == total - 1
        assert len(statements) == total // 10 + 1
        with counted_statements(provider) as bigger:
            list(export_events(AuditQuery(contract_id=contract_id), batch=50))
        assert len(bigger) == total // 50 + 1
    # Through the API the response is streamed (no length known ahead, not buffered).
    answer = provider.app.test_client().get(
        f"{PREFIX}/audit-events.csv", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200 and answer.is_streamed
    assert len(read_csv(answer.get_data())) == total


def test_G6_G8_the_api_filters_pages_and_shows_this_contract_only(provider):
    contract_id = provider.new_contract()
    user_id, _ = provider.new_user(contract_id)
    mine = seed(provider, contract_id, 5, user_id=user_id)
    other = provider.new_contract()
    stranger, _ = provider.new_user(other)
    theirs = seed(provider, other, 5, user_id=stranger)
    token = token_for(provider, contract_id, scope="admin:read")
    first = api(provider, "/audit-events", token, user_id=user_id, reason="wrong_password", limit=3)
    assert first.status_code == 200, first.text
    page = first.json()
    assert page["total"] == 5 and page["total_capped"] is False and page["next_cursor"]
    event = page["events"][0]
    assert event["id"] == mine[-1] and event["rules"] == ["L2", "K1"]
    assert event["at"] == (START + timedelta(seconds=4)).isoformat()
    second = api(provider, "/audit-events", token, user_id=user_id, cursor=page["next_cursor"])
    got = [e["id"] for e in page["events"]] + [e["id"] for e in second.json()["events"]]
    assert got[:5] == mine[::-1]
    window = api(
        provider,
        "/audit-events",
        token,
        since="2026-03-01T09:00:01+09:00",
        until="2026-03-01T00:00:03Z",
    ).json()
    assert [e["id"] for e in window["events"]] == [mine[2], mine[1]]
    # Another contract's events: never listed, not even by its user's id.
    assert api(provider, "/audit-events", token, user_id=stranger).json()["events"] == []
    everything = api(provider, "/audit-events", token, limit=200).json()["events"]
    assert not {e["id"] for e in everything} & set(theirs)
    csv_rows = read_csv(api(provider, "/audit-events.csv", token).content)
    assert stranger not in {r["user_id"] for r in csv_rows}
    assert len(csv_rows) == len(everything)
    for bad in ({"since": "yesterday"}, {"cursor": "x"}, {"limit": "0"}, {"event": "x" * 41}):
        assert_problem(api(provider, "/audit-events", token, **bad), 400)
    assert_problem(api(provider, "/audit-events.csv", token, since="2026-13-01T00:00:00Z"), 400)


def test_G6_the_api_needs_a_token_with_admin_read(provider):
    contract_id = provider.new_contract()
    assert_problem(api(provider, "/audit-events"), 401)
    assert_problem(api(provider, "/audit-events.csv"), 401)
    no_read = token_for(provider, contract_id, scope="admin:write")
    assert_problem(api(provider, "/audit-events", no_read), 403)


def events_of(page) -> list[int]:
    return [int(i) for i in re.findall(r'class="event-row" data-event-id="(\d+)"', page.text)]


def test_G6_X3_console_filters_shows_reasons_in_words_and_pages(provider):
    browser, contract_id, admin_id = signed_in_admin(provider)
    user_id, email = provider.new_user(contract_id)
    mine = seed(provider, contract_id, 60, user_id=user_id)
    stranger_contract = provider.new_contract()
    theirs = seed(provider, stranger_contract, 3, user_id=user_id)
    page = browser.get("/admin")
    assert 'id="nav-audit"' in page.text
    page = browser.get("/admin/audit", params={"user": email.upper(), "reason": "wrong_password"})
    assert page.status_code == 200 and 'id="audit-heading"' in page.text
    assert events_of(page) == mine[::-1][:50]
    assert "パスワードが誤っていました。" in unescape(page.text)  # the reason in words (X3)
    assert "L2, K1" in page.text  # the rules behind wrong_password (X3)
    next_link = unescape(page.text.split('id="next-page" href="')[1].split('"')[0])
    older = browser.get(next_link)
    assert events_of(older) == mine[::-1][50:]
    assert 'id="next-page"' not in older.text and 'id="first-page"' in older.text
    # The same filters in the CSV link; the file holds exactly the listed events.
    csv_link = unescape(page.text.split('id="download-csv" href="')[1].split('"')[0])
    assert "user=" in csv_link and "reason=wrong_password" in csv_link
    download = browser.get(csv_link)
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment;")
    rows = read_csv(download.content)
    assert [json.loads(r["details"])["n"] for r in rows] == list(range(59, -1, -1))
    # Another contract's events never show, whatever the filter (G8).
    everything = browser.get("/admin/audit")
    assert not set(events_of(everything)) & set(theirs)
    csv_all = read_csv(browser.get("/admin/audit.csv").content)
    assert len([r for r in csv_all if r["user_id"] == user_id]) == len(mine) + 1  # (user_add)


def test_G6_console_bad_filters_show_the_page_again_with_a_message(provider):
    """G6, issue 14: each bad filter's message is beside it (aria-describedby, aria-invalid),
    the first bad filter has the focus; a page link not of this log is said at the top."""
    browser, contract_id, _ = signed_in_admin(provider)
    seed(provider, contract_id, 3, start=datetime(2026, 3, 1, 15, tzinfo=UTC))  # 3/2 in JST
    stranger, stranger_email = provider.new_user(provider.new_contract())
    unknown = browser.get("/admin/audit", params={"user": stranger_email})
    assert unknown.status_code == 200 and 'id="error"' in unknown.text
    assert events_of(unknown) == [] and 'id="no-events"' in unknown.text
    assert "この契約にいません" in unescape(unknown.text)
    assert_field_error(unknown.text, "user", "この契約にいません")
    bad_date = browser.get(
        "/admin/audit", params={"from": "2026-02-30", "reason": "wrong_password"}
    )
    assert bad_date.status_code == 200 and "2026-04-01" in bad_date.text
    assert len(events_of(bad_date)) == 3
    assert_field_error(bad_date.text, "from", "日付が正しくありません")
    by_day = browser.get("/admin/audit", params={"from": "2026-03-02", "to": "2026-03-02"})
    assert len(events_of(by_day)) == 3
    day_before = browser.get("/admin/audit", params={"to": "2026-03-01"})
    assert events_of(day_before) == []
    reversed_range = browser.get("/admin/audit", params={"from": "2026-03-03", "to": "2026-03-01"})
    assert 'id="error"' in reversed_range.text and events_of(reversed_range) == []
    assert_field_error(reversed_range.text, "to", "終了日が開始日より前です")
    tampered = browser.get("/admin/audit", params={"cursor": "not-ours"})
    assert tampered.status_code == 400 and 'id="error"' in tampered.text
    assert events_of(tampered)
    assert "ページのリンクが正しくありません" in text_of(tampered.text, "error")
    assert_no_field_error(tampered.text)
    too_long = browser.get("/admin/audit", params={"reason": "r" * 50, "event": "e" * 500})
    assert too_long.status_code == 200 and 'id="error"' in too_long.text
    assert_field_error(too_long.text, "event", "この条件は使えないため、無視しました。")
    assert_field_error(too_long.text, "reason", "この条件は使えないため", first=False)


def test_G1_a_user_gets_no_audit_log(provider):
    contract_id = provider.new_contract()
    _, email = provider.new_user(contract_id, role="user")
    browser, _ = console_sign_in(provider, email)
    for path in ("/admin/audit", "/admin/audit.csv"):
        answer = browser.get(path)
        assert answer.status_code == 403 and "at,event" not in answer.text


def test_G6_anonymous_is_sent_to_sign_in(provider):
    answer = requests.get(f"{provider.url}/admin/audit.csv", allow_redirects=False, timeout=TIMEOUT)
    assert answer.status_code == 303 and "/account/login" in answer.headers["Location"]
