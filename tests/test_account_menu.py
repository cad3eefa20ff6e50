"""U1, U2, P1, P2, C1, C2, X2: the account menu at /account, driven like a browser.

The U2 table is written out here as SPEC prints it (not read from policies/), and each cell
is checked twice: on the menu page (the item is linked or not) and by a direct request to the
item's URL (the page, or 403 with a page). The C1/C2 boundaries are reached by moving the
clock (time_machine, ``tick=False`` at the exact instants; the server threads see it)."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine

from idp.models import Contract
from idp.models import User
from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.helpers import redirect_params
from tests.test_two_factor import after_password
from tests.test_two_factor import last_sms_code
from tests.test_two_factor import new_phone
from tests.test_two_factor import send_sms

#: Every item's page under the provider (U1's order).
PATHS = {
    "login_method": "/account/login-method",
    "email_change": "/account/email",
    "password_change": "/account/password",
    "sessions": "/account/sessions",
    "access_route": "/account/access-route",
    "two_factor": "/account/two-factor",
    "ad_setting": "/account/ad",
    "contract_information": "/account/contract",
    "plan_change": "/account/plan",
    "cancellation": "/account/cancellation",
}
ALL = list(PATHS)
#: SPEC U2, column by column ("others" are admins and users alike), with X2's sessions and
#: browsers, which are everyone's (not a row of U2).
U2 = {
    ("basic", "contractor"): ALL,
    ("basic", "others"): ["password_change", "sessions"],
    ("trial", "contractor"): [
        "password_change",
        "sessions",
        "access_route",
        "two_factor",
        "ad_setting",
        "plan_change",
    ],
    ("trial", "others"): ["password_change", "sessions"],
}
NEW_PASSWORD = "Hoshi-no-Kame-2027"


def account_sign_in(provider, email, password=PASSWORD, browser=None):
    """The account menu's own login page (U1), submitted like a browser."""
    browser = browser or Browser(provider.url)
    page = browser.get("/account/login")
    assert 'id="password-form"' in page.text, page.text[:300]
    return browser, browser.submit(page, "password-form", email=email, password=password)


def linked_items(menu) -> list[str]:
    return re.findall(r'data-item="([a-z_]+)" href="/account/', menu.text)


def assert_menu_and_urls(browser, menu, allowed, refused_reason="not_permitted"):
    """One U2 column: the menu links exactly ``allowed`` (in U1's order), each allowed URL
    answers its page and every other one 403 with a page that says why."""
    assert menu.status_code == 200, menu.text[:300]
    assert "認証・契約情報変更メニュー" in menu.text
    assert linked_items(menu) == [item for item in ALL if item in allowed]
    for item, path in PATHS.items():
        page = browser.session.get(browser.provider_url + path, allow_redirects=False)
        if item in allowed:
            assert page.status_code == 200, (item, page.status_code, page.text[:300])
        else:
            assert page.status_code == 403, (item, page.status_code)
            assert f'data-reason="{refused_reason}"' in page.text, (item, page.text[:300])
            assert "ご利用いただけません" in page.text


def role_user(provider, contract_id, column_role):
    role = "contractor" if column_role == "contractor" else column_role
    return provider.new_user(contract_id, role=role)


@pytest.mark.covers("U1", "U2")
@pytest.mark.parametrize("plan", ["basic", "trial"])
@pytest.mark.parametrize("role", ["contractor", "admin", "user"])
def test_U2_every_cell_on_the_menu_and_by_direct_request(provider, plan, role):
    contract_id = provider.new_contract(plan=plan, two_factor=False)
    _user_id, email = provider.new_user(contract_id, role=role)
    browser, menu = account_sign_in(provider, email)
    assert menu.url == f"{provider.url}/account"
    column = "contractor" if role == "contractor" else "others"
    assert_menu_and_urls(browser, menu, U2[(plan, column)])


@pytest.mark.covers("U1", "U2", "C1", "C2")
def test_C1_C2_U2_at_the_exact_trial_boundaries(provider):
    contract_id = provider.new_contract(plan="trial", two_factor=False)
    _boss, boss_email = provider.new_user(contract_id, role="contractor")
    _admin, admin_email = provider.new_user(contract_id, role="admin")
    with provider.app.app_context():
        started = provider.db().session.get(Contract, contract_id).trial_started_at
    started = started if started.tzinfo else started.replace(tzinfo=UTC)
    trial_end = started + timedelta(days=30)
    deadline = trial_end + timedelta(days=15)
    trial_contractor = U2[("trial", "contractor")]
    second = timedelta(seconds=1)

    # The last second of the trial: everyone as during the trial.
    with time_machine.travel(trial_end - second, tick=False):
        boss, menu = account_sign_in(provider, boss_email)
        assert_menu_and_urls(boss, menu, trial_contractor)
        admin, menu = account_sign_in(provider, admin_email)
        assert_menu_and_urls(admin, menu, ["password_change", "sessions"])
    # The trial has ended (C1): the admin no longer reaches the menu, even with the session
    # opened a second ago; the contractor still has the trial column (C2: plan change).
    with time_machine.travel(trial_end, tick=False):
        refused = account_sign_in(provider, admin_email)[1]
        assert refused.status_code == 403 and 'data-reason="trial_ended"' in refused.text
        boss, menu = account_sign_in(provider, boss_email)
        assert_menu_and_urls(boss, menu, trial_contractor)
    # The last moment of the 15-day window (inclusive): still the trial column.
    with time_machine.travel(deadline, tick=False):
        boss, menu = account_sign_in(provider, boss_email)
        assert_menu_and_urls(boss, menu, trial_contractor)
    # One second later the contract is closed: the session opened at the deadline can do
    # nothing, and no new sign-in opens.
    with time_machine.travel(deadline + second, tick=False):
        closed = boss.session.get(f"{provider.url}/account", allow_redirects=False)
        assert closed.status_code == 403 and 'data-reason="contract_closed"' in closed.text
        for path in PATHS.values():
            page = boss.session.get(provider.url + path, allow_redirects=False)
            assert page.status_code == 403 and 'data-reason="contract_closed"' in page.text
        refused = account_sign_in(provider, boss_email)[1]
        assert refused.status_code == 403 and 'data-reason="contract_closed"' in refused.text


@pytest.mark.covers("U1", "U2")
def test_U2_without_a_session_every_item_goes_to_the_menu_sign_in(provider):
    browser = Browser(provider.url)
    for path in ["/account", *PATHS.values()]:
        answer = browser.session.get(provider.url + path, allow_redirects=False)
        assert answer.status_code == 303 and answer.headers["Location"].endswith(
            "/account/login"
        ), path
    # A POST with a valid CSRF token of this browser still meets the sign-in first.
    token = forms_in(browser.get("/password/forgot").text)[0].fields["csrf_token"]
    posted = browser.post("/account/password", {"csrf_token": token, "password": NEW_PASSWORD})
    assert 'id="password-form"' in posted.text  # the sign-in page, not a change


@pytest.mark.covers("U1")
def test_U1_the_menu_is_its_own_place_in_japanese_and_english(provider):
    contract_id = provider.new_contract(two_factor=False)
    _user_id, email = provider.new_user(contract_id, role="contractor")
    browser, menu = account_sign_in(provider, email)
    assert 'id="account-band"' in menu.text and 'id="menu-heading"' in menu.text
    assert "認証・契約情報変更メニュー" in menu.text and email in menu.text
    assert 'id="password-form"' not in menu.text
    english = browser.get("/account?lang=en")
    assert "Authentication and contract settings menu" in english.text
    assert "Password change" in english.text and "パスワード変更" not in english.text


@pytest.mark.covers("U1", "L1")
def test_U1_the_menu_sign_in_is_visibly_the_menus_and_does_not_link_to_itself(provider, rp):
    """Tried as a new user would: the menu's sign-in once looked exactly like the service's
    and linked to itself."""
    menu_login = Browser(provider.url).get("/account/login")
    assert (
        'id="account-band"' in menu_login.text and "認証・契約情報変更メニュー" in menu_login.text
    )
    assert 'id="password-form"' in menu_login.text
    assert 'id="account-menu"' not in menu_login.text
    service_login = Browser(provider.url).get(rp.authorize_url())
    assert 'id="account-band"' not in service_login.text
    assert 'id="account-menu"' in service_login.text  # L1: the service's page links the menu


# --- P1, P2 ---------------------------------------------------------------------------------


def password_page(browser):
    page = browser.get("/account/password")
    assert 'id="password-change-form"' in page.text, page.text[:300]
    return page


def change(browser, current=PASSWORD, new=NEW_PASSWORD, confirmation=None):
    return browser.submit(
        password_page(browser),
        "password-change-form",
        current_password=current,
        password=new,
        password_confirmation=new if confirmation is None else confirmation,
    )


def sms_sign_in(provider, browser, rp, email, e164, **extra):
    """A sign-in of an enrolled SMS user: password, the code sent, (remember)."""
    page = after_password(browser, rp, email)
    if 'id="code-sent"' not in page.text:
        page = send_sms(browser, page)
    return browser.submit(page, "code-form", code=last_sms_code(provider, e164), **extra)


@pytest.mark.covers("P1", "X2", "L3")
def test_P1_password_change_end_to_end(provider, rp):
    contract_id = provider.new_contract(two_factor=True)
    _user_id, email = provider.new_user(contract_id)
    # Browser B, another device: enrolls SMS and holds the frontend's tokens.
    other = Browser(provider.url)
    phone, e164 = new_phone()
    page = other.submit(after_password(other, rp, email), "phone-form", phone=phone)
    page = other.submit(page, "code-form", code=last_sms_code(provider, e164))
    callback = other.submit(page, "saved-form", saved="yes")
    tokens = rp.exchange(redirect_params(callback)["code"])
    assert tokens["_status"] == 200
    # Browser A, this one: signed in to the frontend and remembered.
    here = Browser(provider.url)
    assert "code" in redirect_params(sms_sign_in(provider, here, rp, email, e164, remember="yes"))

    _browser, menu = account_sign_in(provider, email, browser=here)
    assert menu.url == f"{provider.url}/account", menu.text[:300]  # remembered: no 2FA
    assert 'data-item="password_change"' in menu.text
    done = change(here)
    assert done.status_code == 200 and 'id="done"' in done.text
    assert "パスワードを変更しました" in done.text

    # This browser stays in the menu; the other browser's sign-in and tokens have ended.
    assert here.get("/account").url == f"{provider.url}/account"
    silent = other.session.get(rp.authorize_url(prompt="none"), allow_redirects=False)
    assert "error=login_required" in silent.headers["Location"]
    assert rp.refresh(tokens["refresh_token"])["error"] == "invalid_grant"
    # The old password no longer signs in; the new one does, and this browser is no longer
    # remembered: the second factor is asked again (X2).
    refused = after_password(Browser(provider.url), rp, email)
    assert refused.status_code == 401
    again = after_password(here, rp, email, password=NEW_PASSWORD, prompt="login")
    assert "/login/2fa/sms" in again.url, again.url


@pytest.mark.covers("P1", "P2")
def test_P1_P2_refusals_next_to_their_fields_in_japanese_and_english(provider, rp):
    _user_id, email = provider.new_user(provider.new_contract(two_factor=False))
    browser, _menu = account_sign_in(provider, email)
    page = password_page(browser)
    assert "8文字以上" in page.text and 'id="password-rule"' in page.text  # P2 shown

    wrong = change(browser, current="Not-The-Password-1")
    assert wrong.status_code == 400
    assert "現在のパスワードが正しくありません。" in _field_error(wrong, "current_password")
    weak = change(browser, new="short")
    assert weak.status_code == 400 and _field_error(weak, "password")
    assert "8文字以上" in _field_error(weak, "password")
    classes = change(browser, new="alllowercaseletters")
    assert classes.status_code == 400 and _field_error(classes, "password")
    mismatch = change(browser, confirmation=NEW_PASSWORD + "x")
    assert mismatch.status_code == 400 and _field_error(mismatch, "password_confirmation")
    browser.session.cookies.set("lang", "en")
    english = change(browser, current="Not-The-Password-1")
    assert "The current password is not correct." in _field_error(english, "current_password")
    # Nothing was changed: the password still signs in.
    assert "code" in rp.sign_in(Browser(provider.url), email, PASSWORD)


def _field_error(page, field):
    match = re.search(rf'id="error-{field}"[^>]*>(.*?)</ul>', page.text, re.S)
    return match.group(1) if match else ""


@pytest.mark.covers("P1", "K1")
def test_P1_K1_wrong_current_passwords_count_toward_the_lock(provider, rp, mailbox):
    """An open (or stolen) session cannot be used to guess the password: ten wrong current
    passwords lock the account like ten wrong sign-ins."""
    _user_id, email = provider.new_user(provider.new_contract(two_factor=False))
    browser, _menu = account_sign_in(provider, email)
    for attempt in range(10):
        answer = change(browser, current=f"Guess-Number-{attempt:02d}")
        assert answer.status_code == 400
    locked = change(browser)  # even the right one
    assert locked.status_code == 400 and "ロック" in _field_error(locked, "current_password")
    mailbox.wait_for(to=email, subject_contains="アカウントロック")
    refused = after_password(Browser(provider.url), rp, email)
    assert refused.status_code == 401


@pytest.mark.covers("P1", "K3")
def test_P1_a_password_change_voids_links_mailed_before(provider, mailbox):
    _user_id, email = provider.new_user(provider.new_contract(two_factor=False))
    browser, _menu = account_sign_in(provider, email)
    browser.submit(browser.get("/password/forgot"), email=email)
    mail = mailbox.wait_for(to=email, subject_contains="パスワードリセット")
    link = [u for u in mailbox.links_in(mail) if "/links/" in u][0]
    assert change(browser).status_code == 200
    stale = Browser(provider.url).get(link)
    assert stale.status_code in (400, 404, 410) and 'id="password"' not in stale.text


@pytest.mark.covers("P1", "U2")
def test_P1_only_for_password_users(provider):
    """A Google user has no password: the item is not linked and its URL answers 403."""
    from idp.sso import start_session

    contract_id = provider.new_contract(two_factor=False)
    user_id, _email = provider.new_user(contract_id, password=None, method="google")
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        session = start_session(user, ["google"], "urn:worksdrive:acr:1fa", {"kind": "internet"})
    browser = Browser(provider.url)
    browser.session.cookies.set("idp_sso", session.secret)
    menu = browser.get("/account")
    assert menu.status_code == 200 and 'data-item="password_change"' not in menu.text
    page = browser.session.get(f"{provider.url}/account/password", allow_redirects=False)
    assert page.status_code == 403 and 'data-reason="not_password_method"' in page.text


# --- the fresh factor and the way back --------------------------------------------------------


@pytest.mark.covers("U1", "P1")
def test_U1_a_sensitive_item_asks_for_a_fresh_sign_in_after_5_minutes(provider):
    contract_id = provider.new_contract(two_factor=False)
    _user_id, email = provider.new_user(contract_id, role="contractor")
    start = datetime.now(UTC).replace(microsecond=0)  # auth_time counts whole seconds
    with time_machine.travel(start, tick=False):
        browser, _menu = account_sign_in(provider, email)
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        assert 'id="password-change-form"' in browser.get("/account/password").text
    with time_machine.travel(start + timedelta(minutes=5, seconds=1), tick=False):
        # A sensitive item: through the menu's sign-in again, the email filled in ...
        asked = browser.get("/account/password")
        assert 'id="password-form"' in asked.text and email in asked.text
        # ... a non-sensitive one does not ask.
        assert 'id="contract-information-form"' in browser.get("/account/contract").text
        back = browser.submit(asked, "password-form", email=email, password=PASSWORD)
        assert back.url == f"{provider.url}/account/password"
        assert 'id="password-change-form"' in back.text


@pytest.mark.covers("U1", "C3")
def test_C3_cancellation_asks_for_a_fresh_sign_in_too(provider):
    """Destructive: the cancellation page, like the sensitive items, wants a recent sign-in."""
    contract_id = provider.new_contract(two_factor=False)
    _user_id, email = provider.new_user(contract_id, role="contractor")
    start = datetime.now(UTC).replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        browser, _menu = account_sign_in(provider, email)
    with time_machine.travel(start + timedelta(minutes=5, seconds=1), tick=False):
        asked = browser.get("/account/cancellation")
        assert 'id="password-form"' in asked.text and email in asked.text
        back = browser.submit(asked, "password-form", email=email, password=PASSWORD)
        assert back.url == f"{provider.url}/account/cancellation"


@pytest.mark.covers("U1")
def test_U1_the_menu_sign_in_returns_only_to_a_page_of_the_menu(provider):
    contract_id = provider.new_contract(two_factor=False)
    _user_id, email = provider.new_user(contract_id, role="contractor")
    for target in ("https://evil.example/account", "//evil.example/account", "/authorize"):
        browser = Browser(provider.url)
        page = browser.get("/account/login", params={"next": target})
        done = browser.submit(page, "password-form", email=email, password=PASSWORD)
        assert done.url == f"{provider.url}/account", (target, done.url)


# --- one contract never reaches another's -----------------------------------------------------


@pytest.mark.covers("U2", "P1")
def test_U2_a_person_acts_only_on_their_own_account_and_contract(provider, rp):
    mine = provider.new_contract(two_factor=False)
    theirs = provider.new_contract(two_factor=False)
    their_id, their_email = provider.new_user(theirs, role="contractor")
    _my_id, my_email = provider.new_user(mine, role="contractor")
    browser, menu = account_sign_in(provider, my_email)
    assert their_email not in menu.text
    # Naming the other account in the form changes nothing of theirs.
    page = password_page(browser)
    done = browser.submit(
        page,
        "password-change-form",
        current_password=PASSWORD,
        password=NEW_PASSWORD,
        password_confirmation=NEW_PASSWORD,
        user_id=their_id,
        email=their_email,
        contract_id=theirs,
    )
    assert 'id="done"' in done.text
    assert "code" in rp.sign_in(Browser(provider.url), their_email, PASSWORD)
    assert "code" in rp.sign_in(Browser(provider.url), my_email, NEW_PASSWORD)


@pytest.mark.covers("P1")
def test_P1_sign_out_other_sessions_keeps_only_the_rotated_one(provider):
    """idp.sso.sign_out_other_sessions on its own (no state_version change): the other
    sessions end, the kept sign-in continues under a new cookie, the old cookie is dead."""
    from idp.actor import Actor
    from idp.sso import sign_out_other_sessions
    from idp.sso import start_session

    user_id, _email = provider.new_user(provider.new_contract(two_factor=False))
    route = {"kind": "internet"}
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        kept = start_session(user, ["pwd"], "urn:worksdrive:acr:1fa", route)
        other = start_session(user, ["pwd"], "urn:worksdrive:acr:1fa", route)
        actor = Actor.user(user.id, user.contract_id)
        new = sign_out_other_sessions(actor, user, kept, "password_change")
    assert new.auth_time == kept.auth_time and new.sid != kept.sid

    def menu_with(secret):
        browser = Browser(provider.url)
        browser.session.cookies.set("idp_sso", secret)
        return browser.session.get(f"{provider.url}/account", allow_redirects=False)

    assert menu_with(new.secret).status_code == 200
    assert menu_with(other.secret).status_code == 303
    assert menu_with(kept.secret).status_code == 303


@pytest.mark.covers("P1", "P2")
def test_P2_the_domain_refuses_a_weak_password_whatever_the_page_checked(provider):
    from idp.actor import Actor
    from idp.errors import DomainError
    from idp.sso import start_session
    from idp.users.password_change import change_password

    user_id, email = provider.new_user(provider.new_contract(two_factor=False))
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        keep = start_session(user, ["pwd"], "urn:worksdrive:acr:1fa", {"kind": "internet"})
        actor = Actor.user(user.id, user.contract_id)
        with pytest.raises(DomainError) as refused:
            change_password(actor, user, PASSWORD, "password", keep)
    assert refused.value.reason == "weak_password"
    _browser, menu = account_sign_in(provider, email)  # unchanged
    assert menu.url == f"{provider.url}/account"
