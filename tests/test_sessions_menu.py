"""X2, X7, L3, G4: "sessions and browsers" in the account menu, and the admin side's lock
and deletion, as a person and a relying party see them.

Each browser sends its own User-Agent; the relying party is the back-channel test's receiver,
which validates every logout token as OIDC Back-Channel Logout 1.0 §2.6 says."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from idp import extensions
from idp.actor import Actor
from idp.backchannel.delivery import deliver_due
from idp.models import AuditEvent
from idp.models import RememberedBrowser
from idp.models import SsoSessionRecord
from idp.models import TokenFamily
from idp.models import User
from idp.sessions import describe_device
from idp.sessions import list_sessions
from idp.sso import network_of
from idp.users.delete import DeletionError
from idp.users.delete import delete_user
from idp.users.lockout import lock_by_admin
from tests.clock import moved_clock
from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.helpers import redirect_params
from tests.test_account_menu import account_sign_in
from tests.test_backchannel_logout import Receiver
from tests.test_backchannel_logout import validate_logout_token
from tests.test_backchannel_logout import wait_for_deliveries
from tests.test_security_sessions import _asks_for_login
from tests.test_security_sessions import _silent
from tests.test_two_factor import after_password
from tests.test_two_factor import enroll_by_sms

FIREFOX_LINUX = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
ADMIN = Actor.admin(uuid.uuid4().hex)


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def browser_as(provider: Any, user_agent: str) -> Browser:
    browser = Browser(provider.url)
    browser.session.headers["User-Agent"] = user_agent
    return browser


def listed(page: Any) -> list[dict[str, Any]]:
    """The sessions on the page as a person reads them."""
    assert page.status_code == 200 and 'id="sessions"' in page.text, page.text[:300]
    items = re.findall(r'<li class="session" (.*?)</li>', page.text, re.S)
    return [
        {
            "sid": re.search(r'data-sid="([^"]+)"', item).group(1),
            "this_browser": 'data-this-browser="yes"' in item,
            "device": re.search(r'class="device">([^<]*)<', item).group(1),
            "network": re.search(r'class="network">([^<]*)<', item).group(1),
            "line_auth": 'class="line-auth"' in item,
        }
        for item in items
    ]


def end_form(page: Any, sid: str) -> str:
    """The id of the "sign out" form of session ``sid``."""
    match = re.search(
        rf'data-sid="{re.escape(sid)}".*?<form method="post" id="(end-\d+)"', page.text, re.S
    )
    assert match, page.text[:500]
    return match.group(1)


def sid_of(rp: Any, tokens: dict[str, Any]) -> str:
    return rp.id_token_claims(tokens["id_token"])["sid"]


def user_row(provider: Any, user_id: str) -> User | None:
    with provider.app.app_context():
        return provider.db().session.get(User, user_id)


@pytest.mark.covers("X2", "X7", "U1")
def test_X7_two_browsers_listed_then_the_other_one_signed_out(provider, receiver):
    user_id, email = provider.new_user()
    rp = provider.new_client(backchannel_logout_uri=receiver.url)
    laptop = browser_as(provider, FIREFOX_LINUX)
    phone = browser_as(provider, SAFARI_IPHONE)
    laptop_tokens = rp.login_tokens(laptop, email, PASSWORD)
    phone_tokens = rp.login_tokens(phone, email, PASSWORD)
    # The menu's own sign-in in the laptop continues the laptop's session (one per browser).
    _laptop, menu = account_sign_in(provider, email, browser=laptop)
    assert 'data-item="sessions" href="/account/sessions"' in menu.text

    page = laptop.get("/account/sessions")
    sessions = {s["sid"]: s for s in listed(page)}
    laptop_sid, phone_sid = sid_of(rp, laptop_tokens), sid_of(rp, phone_tokens)
    assert set(sessions) == {laptop_sid, phone_sid}
    assert sessions[laptop_sid]["this_browser"] and not sessions[phone_sid]["this_browser"]
    assert sessions[laptop_sid]["device"] == "Firefox / Ubuntu"
    assert sessions[phone_sid]["device"] == "Mobile Safari / iOS"
    # The place is the network, never the address: 127.0.0.1 is shown as 127.0.0.x.
    assert {s["network"] for s in sessions.values()} == {"127.0.0.x"}
    assert "127.0.0.1" not in page.text
    assert "このブラウザ" in page.text and "ログイン中のセッション" in page.text

    done = laptop.submit(page, end_form(page, phone_sid))
    assert done.url.endswith("/account/sessions?done=session_ended")
    assert 'id="done"' in done.text
    assert [s["sid"] for s in listed(done)] == [laptop_sid]
    # The same button again (a second click): it ended already, nothing more is sent.
    again = laptop.session.post(page.url, data=_fields(page, end_form(page, phone_sid)))
    assert again.status_code == 404 and 'data-reason="not_found"' in again.text
    # The phone is signed out: its next /authorize asks it to sign in; its refresh token died.
    assert _asks_for_login(phone, rp)
    assert rp.refresh(phone_tokens["refresh_token"])["error"] == "invalid_grant"
    # Its relying party is told, with that session's sid (and only that one).
    wait_for_deliveries(provider)
    (token,) = receiver.tokens()
    claims = validate_logout_token(provider, token, rp.client_id, set())
    assert (claims["sub"], claims["sid"]) == (user_id, phone_sid)
    # The laptop stays in, at the relying party too.
    assert "code" in _silent(laptop, rp)
    assert rp.refresh(laptop_tokens["refresh_token"])["_status"] == 200
    assert laptop.get("/account").url == f"{provider.url}/account"


@pytest.mark.covers("X2", "X7")
def test_X2_ending_this_browsers_session_signs_it_out(provider):
    _user_id, email = provider.new_user()
    browser, _menu = account_sign_in(provider, email)
    page = browser.get("/account/sessions")
    (mine,) = listed(page)
    assert mine["this_browser"]
    answer = browser.session.post(
        page.url,
        data={**_fields(page, end_form(page, mine["sid"]))},
        allow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/account/login")
    assert browser.get("/account").url.startswith(f"{provider.url}/login")


def _fields(page: Any, form_id: str) -> dict[str, str]:
    from tests.helpers import forms_in

    return next(f for f in forms_in(page.text) if f.id == form_id).fields


@pytest.mark.covers("X2", "X7", "G8")
def test_X2_another_users_session_or_browser_is_not_found(provider, rp):
    """Ownership: a sid or a remembered browser of someone else answers 404 and nothing
    changes (rule-removal checked: without the user check in end_one_session, or in
    revoke_remembered, this test fails)."""
    _mine, my_email = provider.new_user()
    their_id, their_email = provider.new_user()
    them = Browser(provider.url)
    their_sid = sid_of(rp, rp.login_tokens(them, their_email, PASSWORD))
    with provider.app.app_context():
        their_browser = RememberedBrowser(user_id=their_id, token_hash="0" * 64)
        provider.db().session.add(their_browser)
        provider.db().session.commit()
        their_browser_id = their_browser.id

    me, _menu = account_sign_in(provider, my_email)
    page = me.get("/account/sessions")
    token = _fields(page, "end-all-form")["csrf_token"]
    for data in (
        {"action": "end", "sid": their_sid},
        {"action": "forget", "browser": their_browser_id},
        {"action": "end", "sid": "no-such-session"},
        {"action": "forget", "browser": ""},
    ):
        answer = me.session.post(page.url, data={**data, "csrf_token": token})
        assert answer.status_code == 404, (data, answer.status_code)
        assert 'data-reason="not_found"' in answer.text and "見つかりません" in answer.text
    # Nothing changed: they are still signed in and their browser still remembered.
    assert "code" in _silent(them, rp)
    with provider.app.app_context():
        assert provider.db().session.get(RememberedBrowser, their_browser_id).revoked_at is None
    # And this person is still here too.
    assert len(listed(me.get("/account/sessions"))) == 1


@pytest.mark.covers("X2", "X7")
def test_X2_sign_out_everywhere_from_the_menu(provider, receiver):
    user_id, email = provider.new_user()
    rp = provider.new_client(backchannel_logout_uri=receiver.url)
    phone = browser_as(provider, SAFARI_IPHONE)
    rp.login_tokens(phone, email, PASSWORD)
    laptop, _menu = account_sign_in(provider, email, browser=browser_as(provider, FIREFOX_LINUX))
    page = laptop.get("/account/sessions")
    assert len(listed(page)) == 2
    answer = laptop.session.post(
        page.url, data=_fields(page, "end-all-form"), allow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["Location"].endswith("/account/login")
    assert answer.headers["Set-Cookie"].startswith("idp_sso=;")  # the cookie is cleared
    for browser in (laptop, phone):
        assert _silent(browser, rp)["error"] == "login_required"
    wait_for_deliveries(provider)
    (token,) = receiver.tokens()
    assert validate_logout_token(provider, token, rp.client_id, set())["sub"] == user_id
    with provider.app.app_context():
        assert list_sessions(provider.db().session.get(User, user_id)) == []


@pytest.mark.covers("X2", "L3")
def test_L3_a_forgotten_browser_asks_for_the_second_factor_again(provider, rp):
    contract_id = provider.new_contract(two_factor=True)
    _user_id, email = provider.new_user(contract_id)
    browser = browser_as(provider, FIREFOX_LINUX)
    callback, _code = enroll_by_sms(provider, browser, after_password(browser, rp, email), True)
    assert "code" in redirect_params(callback)
    # Remembered: a new sign-in in this browser goes straight through.
    assert "code" in redirect_params(after_password(browser, rp, email, prompt="login"))

    _browser, _menu = account_sign_in(provider, email, browser=browser)
    page = browser.get("/account/sessions")
    remembered = re.findall(r'<li class="browser" data-browser="([^"]+)"([^>]*)>', page.text)
    assert len(remembered) == 1 and 'data-this-browser="yes"' in remembered[0][1]
    assert "記憶されたブラウザ" in page.text and "Firefox / Ubuntu" in page.text
    done = browser.submit(page, "forget-1")
    assert done.url.endswith("?done=browser_forgotten") and 'id="no-browsers"' in done.text

    again = after_password(browser, rp, email, prompt="login")
    assert again.status_code == 200 and "/login/2fa/" in again.url, again.url
    assert 'id="send-form"' in again.text or 'id="code-form"' in again.text


@pytest.mark.covers("X2", "X7")
def test_X2_forget_all_browsers(provider, rp):
    user_id, email = provider.new_user()
    with provider.app.app_context():
        for _n in range(2):
            provider.db().session.add(RememberedBrowser(user_id=user_id, token_hash="1" * 64))
        provider.db().session.commit()
    browser, _menu = account_sign_in(provider, email)
    page = browser.get("/account/sessions")
    assert page.text.count('<li class="browser"') == 2
    done = browser.submit(page, "forget-all-form")
    assert done.url.endswith("?done=browsers_forgotten") and 'id="no-browsers"' in done.text
    assert listed(done)  # still signed in


@pytest.mark.covers("X2", "U1")
def test_X2_english_page_and_bad_action(provider):
    _user_id, email = provider.new_user()
    browser, _menu = account_sign_in(provider, email)
    page = browser.get("/account/sessions?lang=en")
    assert "Where you are signed in" in page.text and "this browser" in page.text
    bad = browser.session.post(
        page.url.split("?")[0], data={**_fields(page, "end-all-form"), "action": "nonsense"}
    )
    assert bad.status_code == 400 and 'id="sessions"' in bad.text
    assert len(listed(browser.get("/account/sessions"))) == 1


@pytest.mark.covers("X2")
def test_X2_purge_drops_ended_sessions_and_keeps_live_ones(provider, rp):
    from idp.maintenance import purge

    _user_id, email = provider.new_user()
    ended, live = Browser(provider.url), Browser(provider.url)
    ended_sid = sid_of(rp, rp.login_tokens(ended, email, PASSWORD))
    live_sid = sid_of(rp, rp.login_tokens(live, email, PASSWORD))
    me, _menu = account_sign_in(provider, email, browser=live)
    page = me.get("/account/sessions")
    me.submit(page, end_form(page, ended_sid))
    with provider.app.app_context():
        assert purge(Actor.system("test-purge")).sessions >= 1
        assert provider.db().session.get(SsoSessionRecord, ended_sid) is None
        assert provider.db().session.get(SsoSessionRecord, live_sid) is not None
    assert [s["sid"] for s in listed(me.get("/account/sessions"))] == [live_sid]


@pytest.mark.covers("X2")
def test_X2_last_use_is_written_at_most_every_five_minutes(provider, rp):
    user_id, email = provider.new_user()
    browser = Browser(provider.url)
    sid = sid_of(rp, rp.login_tokens(browser, email, PASSWORD))

    def last_used() -> Any:
        with provider.app.app_context():
            return provider.db().session.get(SsoSessionRecord, sid).last_used_at

    store = extensions.store.of(provider.app)
    with moved_clock(store) as clock:
        clock.advance(60)
        assert "code" in _silent(browser, rp)
        first = last_used()
        clock.advance(60)
        assert "code" in _silent(browser, rp)
        assert last_used() == first  # within five minutes: no write
        clock.advance(300)
        assert "code" in _silent(browser, rp)
        assert last_used() > first


@pytest.mark.covers("X7", "G4", "K1")
def test_X7_admin_lock_ends_every_session_and_tells_the_clients(provider, receiver):
    user_id, email = provider.new_user()
    rp = provider.new_client(backchannel_logout_uri=receiver.url)
    browsers = [Browser(provider.url) for _n in range(2)]
    tokens = [rp.login_tokens(b, email, PASSWORD) for b in browsers]
    with provider.app.app_context():
        lock_by_admin(ADMIN, provider.db().session.get(User, user_id))
    for browser, issued in zip(browsers, tokens, strict=True):
        assert _silent(browser, rp)["error"] == "login_required"
        assert rp.refresh(issued["refresh_token"])["error"] == "invalid_grant"
    wait_for_deliveries(provider)
    (token,) = receiver.tokens()
    assert validate_logout_token(provider, token, rp.client_id, set())["sub"] == user_id
    assert user_row(provider, user_id).locked_at is not None
    # Locked: the password alone no longer signs in.
    refused = after_password(Browser(provider.url), rp, email)
    assert "code" not in (refused.headers.get("Location") or "")
    with provider.app.app_context():
        events = provider.db().session.query(AuditEvent).filter_by(user_id=user_id, event="lock")
        assert [(e.outcome, e.reason) for e in events] == [("ok", "admin_lock")]


@pytest.mark.covers("X7", "G4")
def test_X7_deletion_tells_the_clients_after_the_user_is_gone(provider):
    user_id, email = provider.new_user()
    receiver = Receiver()  # down at the deletion
    rp = provider.new_client(backchannel_logout_uri=receiver.url)
    browser = Browser(provider.url)
    sid = sid_of(rp, rp.login_tokens(browser, email, PASSWORD))
    store = extensions.store.of(provider.app)
    try:
        with moved_clock(store) as clock:
            with provider.app.app_context():
                delete_user(ADMIN, provider.db().session.get(User, user_id))
            wait_for_deliveries(provider)
            assert user_row(provider, user_id) is None
            with provider.app.app_context():
                db = provider.db().session
                assert db.query(TokenFamily).filter_by(user_id=user_id).count() == 0
                assert db.get(SsoSessionRecord, sid) is None
            assert _silent(browser, rp)["error"] == "login_required"

            receiver.start()
            clock.advance(31)
            with provider.app.app_context():
                deliver_due()
            (token,) = receiver.tokens()
            claims = validate_logout_token(provider, token, rp.client_id, set())
            assert claims["sub"] == user_id
    finally:
        receiver.stop()
    with provider.app.app_context():
        (event,) = (
            provider.db().session.query(AuditEvent).filter_by(user_id=user_id, event="user_delete")
        )
        assert event.outcome == "ok" and event.details["actor"]["id"] == ADMIN.id


@pytest.mark.covers("G4", "X7")
def test_G4_the_contractor_cannot_be_deleted(provider, rp):
    contract_id = provider.new_contract()
    boss_id, email = provider.new_user(contract_id, role="contractor")
    browser = Browser(provider.url)
    rp.login_tokens(browser, email, PASSWORD)
    with provider.app.app_context():
        with pytest.raises(DeletionError, match="contractor cannot be deleted"):
            delete_user(ADMIN, provider.db().session.get(User, boss_id))
        refused = provider.db().session.query(AuditEvent).filter_by(event="user_delete")
        assert ("refused", "contractor") in {(e.outcome, e.reason) for e in refused}
    assert user_row(provider, boss_id) is not None
    assert "code" in _silent(browser, rp)  # nothing happened


@pytest.mark.parametrize(
    ("address", "network"),
    [
        ("203.0.113.77", "203.0.113.x"),
        ("2001:db8:1:2::5", "2001:db8:1::/48"),
        ("::ffff:198.51.100.9", "198.51.100.x"),
        ("", ""),
        (None, ""),
        ("not-an-address", ""),
    ],
)
def test_X2_the_place_is_the_network_never_the_address(address, network):
    assert network_of(address) == network


@pytest.mark.parametrize(
    ("user_agent", "device"),
    [
        (FIREFOX_LINUX, "Firefox / Ubuntu"),
        (SAFARI_IPHONE, "Mobile Safari / iOS"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            "Chrome / Windows",
        ),
        ("python-requests/2.32.3", "Python Requests"),
        ("", ""),
        ("???", ""),
    ],
)
def test_X2_device_is_browser_and_system(user_agent, device):
    assert describe_device(user_agent) == device


# The command line (G4, X7): lock, unlock, sign out, delete.

IDP = [sys.executable, "-m", "idp.cli"]


@pytest.fixture()
def cli_env(tmp_path):
    return {
        **os.environ,
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_SECRET_KEY": "cli-test-secret",
        "IDP_ENCRYPTION_KEY": "x2rqoV0T3sD5cQ0nJ6W9lJ2xQe0y2v9cN3m0tWqZ8kE=",
        "IDP_ISSUER": "http://127.0.0.1:9",
        "IDP_ARGON2_MEMORY_KIB": "1024",
        "IDP_ARGON2_TIME_COST": "1",
    }


def idp(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [*IDP, *args], env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _rows(tmp_path: Any, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(tmp_path / "instance" / "idp.sqlite3") as db:
        return list(db.execute(sql))


@pytest.mark.covers("G4", "X7", "K1")
def test_G4_cli_lock_unlock_sign_out_delete(cli_env, tmp_path):
    idp(cli_env, "init")
    contract = idp(cli_env, "contracts", "add", "Sessions KK").stdout.strip()
    for email, role in (("boss@sessions.example", "contractor"), ("kai@sessions.example", "user")):
        add = ["users", "add", "--contract", contract, "--email", email, "--role", role]
        idp(cli_env, *add, "--password", PASSWORD)

    assert idp(cli_env, "users", "lock", "--email", "Kai@sessions.example").stdout.startswith(
        "locked"
    )
    assert _rows(tmp_path, "SELECT locked_at IS NOT NULL FROM users WHERE email_key LIKE 'kai%'")[
        0
    ] == (1,)
    assert idp(cli_env, "users", "unlock", "--email", "kai@sessions.example").stdout == "unlocked\n"
    assert _rows(tmp_path, "SELECT locked_at IS NULL FROM users WHERE email_key LIKE 'kai%'")[
        0
    ] == (1,)
    signed_out = idp(cli_env, "users", "sign-out", "--email", "kai@sessions.example")
    assert signed_out.stdout.startswith("signed_out token_families_revoked=0")

    # Deletion asks first; without an answer nothing happens.
    asked = idp(cli_env, "users", "delete", "--email", "kai@sessions.example", check=False)
    assert asked.returncode == 1 and "Aborted" in asked.stderr
    assert len(_rows(tmp_path, "SELECT id FROM users")) == 2
    refused = idp(
        cli_env, "users", "delete", "--email", "boss@sessions.example", "--yes", check=False
    )
    assert refused.returncode == 1 and "Error: The contractor cannot be deleted" in refused.stderr
    assert "Traceback" not in refused.stderr
    deleted = idp(cli_env, "users", "delete", "--email", "kai@sessions.example", "--yes")
    assert deleted.stdout.startswith("deleted")
    assert [r[0] for r in _rows(tmp_path, "SELECT email FROM users")] == ["boss@sessions.example"]
    unknown = idp(cli_env, "users", "lock", "--email", "nobody@sessions.example", check=False)
    assert unknown.returncode == 1 and "Error: No user with the email" in unknown.stderr

    rows = _rows(tmp_path, "SELECT event, outcome, reason, details FROM audit_events")
    events = {(e, o, r, json.loads(d)["actor"]["kind"]) for e, o, r, d in rows}
    assert {
        ("lock", "ok", "admin_lock", "cli"),
        ("unlock", "ok", None, "cli"),
        ("sign_out_everywhere", "ok", "sign_out_everywhere", "cli"),
        ("user_delete", "refused", "contractor", "cli"),
        ("user_delete", "ok", None, "cli"),
    } <= events
