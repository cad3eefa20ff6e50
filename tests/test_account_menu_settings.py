"""A1, A3, A4, T1, U2: the account menu's access-route and two-step verification pages,
driven like a browser: selection → confirmation → done, and what then changes for the
people of the contract (an internet sign-in refused, the 2FA page asked for)."""

from __future__ import annotations

import pytest

from idp.actor import Actor
from idp.contracts.contract import set_two_factor
from idp.models import AuditEvent
from idp.models import Contract
from idp.models import User
from tests.field_errors import assert_field_error
from tests.field_errors import assert_no_field_error
from tests.helpers import Browser
from tests.test_account_menu import account_sign_in
from tests.test_two_factor import after_password


def contractor(provider, **contract):
    contract_id = provider.new_contract(**contract)
    _user_id, email = provider.new_user(contract_id, role="contractor")
    browser, menu = account_sign_in(provider, email)
    assert menu.url == f"{provider.url}/account", menu.text[:300]
    return contract_id, browser, menu


def stored(provider, contract_id) -> Contract:
    with provider.app.app_context():
        contract = provider.db().session.get(Contract, contract_id)
        provider.db().session.expunge(contract)
        return contract


def audit_events(provider, event, contract_id):
    with provider.app.app_context():
        rows = (
            provider.db()
            .session.query(AuditEvent)
            .filter_by(event=event, contract_id=contract_id)
            .order_by(AuditEvent.id)
        )
        return [(row.outcome, row.details) for row in rows]


def choose_route(browser, route):
    page = browser.get("/account/access-route")
    assert 'id="access-route-form"' in page.text, page.text[:300]
    return browser.submit(page, "access-route-form", route=route)


def choose_two_factor(browser, setting):
    page = browser.get("/account/two-factor")
    assert 'id="two-factor-form"' in page.text, page.text[:300]
    assert 'id="risk-warning"' in page.text and "不正アクセス" in page.text
    return browser.submit(page, "two-factor-form", two_factor=setting)


# --- A1, A3, A4 ---------------------------------------------------------------------------


@pytest.mark.covers("A1", "A3", "A4", "U2")
@pytest.mark.parametrize("plan", ["basic", "trial"])
def test_A1_contractor_sets_line_only_and_internet_sign_ins_are_refused(provider, plan):
    contract_id, browser, menu = contractor(provider, plan=plan, two_factor=False)
    assert 'data-item="access_route" href="/account/access-route"' in menu.text
    # 2FA on for the contract (set after the contractor's own sign-in: A4 is seen below).
    with provider.app.app_context():
        set_two_factor(Actor.cli(), contract_id, True)
    assert 'data-setting="on"' in browser.get("/account/two-factor").text
    _staff, staff_email = provider.new_user(contract_id)
    rp = provider.new_client()

    confirm = choose_route(browser, "line-only")
    assert confirm.status_code == 200 and 'id="access-route-confirm-form"' in confirm.text
    assert '<dd id="current-value">回線とインターネット</dd>' in confirm.text
    assert '<dd id="new-value">回線のみ</dd>' in confirm.text
    # The warning: internet sign-ins refused, 2FA reads off (A4), how to recover (A3).
    assert "インターネットからログインできなくなります" in confirm.text
    assert 'id="two-factor-off"' in confirm.text and "自動的にオフ" in confirm.text
    assert 'id="recovery"' in confirm.text and "インターネットから利用できます" in confirm.text
    # Nothing changed before the confirmation is submitted.
    assert stored(provider, contract_id).access_route == "line+internet"

    done = browser.submit(confirm, "access-route-confirm-form")
    assert done.status_code == 200 and 'id="done"' in done.text and "回線のみ" in done.text
    assert stored(provider, contract_id).access_route == "line-only"
    back = browser.get("/account")
    assert back.url == f"{provider.url}/account"

    # A1: a user of the contract signing in from the internet is refused.
    refused = after_password(Browser(provider.url), rp, staff_email)
    assert refused.status_code == 403 and 'data-reason="route_line_only"' in refused.text
    # A4: the 2FA page reads off while line-only.
    two_factor = browser.get("/account/two-factor")
    assert 'data-setting="off"' in two_factor.text and 'id="two-factor-off"' in two_factor.text

    # A3: the contractor signs in to the menu again from the internet (no 2FA: A4) and
    # switches back; the user signs in again, with 2FA again.
    boss_email = menu.text.split('id="signed-in-as">')[1].split("<")[0]
    again, menu = account_sign_in(provider, boss_email)
    assert menu.url == f"{provider.url}/account", menu.url
    confirm = choose_route(again, "line+internet")
    assert '<dd id="current-value">回線のみ</dd>' in confirm.text
    assert 'id="line-only-warning"' not in confirm.text
    done = again.submit(confirm, "access-route-confirm-form")
    assert 'id="done"' in done.text
    assert stored(provider, contract_id).access_route == "line+internet"
    admitted = after_password(Browser(provider.url), rp, staff_email)
    assert admitted.status_code == 200 and "/login/2fa/" in admitted.url

    events = audit_events(provider, "access_route_setting", contract_id)
    boss_actor = {"kind": "user", "id": user_id_of(provider, boss_email)}
    assert [(outcome, d["access_route"]) for outcome, d in events] == [
        ("ok", "line-only"),
        ("ok", "line+internet"),
    ]
    for _outcome, details in events:
        assert {k: details["actor"][k] for k in ("kind", "id")} == boss_actor
        assert details["actor"]["contract_id"] == contract_id


def user_id_of(provider, email):
    with provider.app.app_context():
        return provider.db().session.query(User).filter_by(email=email).one().id


@pytest.mark.covers("A1")
def test_A1_an_unknown_route_is_refused_with_a_message(provider):
    """A1, issue 14: the message belongs to the radio group (its fieldset is aria-invalid and
    described by it), whose first radio button has the focus."""
    contract_id, browser, _menu = contractor(provider)
    page = browser.get("/account/access-route")
    assert_no_field_error(page.text)
    refused = browser.submit(page, "access-route-form", route="everywhere", step="apply")
    assert refused.status_code == 400 and "アクセス経路を選択してください" in refused.text
    assert_field_error(refused.text, "route", "アクセス経路を選択してください")
    assert stored(provider, contract_id).access_route == "line+internet"


# --- T1 -----------------------------------------------------------------------------------


@pytest.mark.covers("T1", "U2")
@pytest.mark.parametrize("plan", ["basic", "trial"])
def test_T1_contractor_turns_2fa_on_and_a_password_user_gets_the_2fa_page(provider, plan):
    contract_id, browser, menu = contractor(provider, plan=plan, two_factor=False)
    assert 'data-item="two_factor" href="/account/two-factor"' in menu.text
    _staff, staff_email = provider.new_user(contract_id)
    rp = provider.new_client()
    before = after_password(Browser(provider.url), rp, staff_email)
    assert "/login/2fa/" not in before.url

    confirm = choose_two_factor(browser, "on")
    assert confirm.status_code == 200 and 'id="two-factor-confirm-form"' in confirm.text
    assert '<dd id="current-value">オフ</dd>' in confirm.text
    assert '<dd id="new-value">オン</dd>' in confirm.text
    assert "上記の説明を確認しました" in confirm.text
    # §5.1(5): users whose method is not password set up MFA at their upstream account.
    assert 'id="upstream-mfa"' in confirm.text and "多要素認証を設定してください" in confirm.text

    done = browser.submit(confirm, "two-factor-confirm-form", confirmed="yes")
    assert done.status_code == 200 and 'id="done"' in done.text
    assert stored(provider, contract_id).two_factor is True
    after = after_password(Browser(provider.url), rp, staff_email)
    assert after.status_code == 200 and "/login/2fa/" in after.url

    # And off again: the password user signs in with the password alone.
    confirm = choose_two_factor(browser, "off")
    assert '<dd id="current-value">オン</dd>' in confirm.text
    browser.submit(confirm, "two-factor-confirm-form", confirmed="yes")
    assert stored(provider, contract_id).two_factor is False
    plain = after_password(Browser(provider.url), rp, staff_email)
    assert "/login/2fa/" not in plain.url

    events = audit_events(provider, "two_factor_setting", contract_id)
    assert [(outcome, d["two_factor"]) for outcome, d in events] == [("ok", True), ("ok", False)]
    assert all(d["actor"]["kind"] == "user" for _o, d in events)


@pytest.mark.covers("T1")
def test_T1_the_unticked_box_is_refused_next_to_it(provider):
    contract_id, browser, _menu = contractor(provider, two_factor=False)
    confirm = choose_two_factor(browser, "on")
    refused = browser.submit(confirm, "two-factor-confirm-form")
    assert refused.status_code == 400
    assert 'id="error-confirmed"' in refused.text
    assert "チェックボックスにチェックを入れてください" in refused.text
    # The page is the confirmation again, still asking for the box.
    assert 'id="two-factor-confirm-form"' in refused.text
    assert stored(provider, contract_id).two_factor is False
    assert audit_events(provider, "two_factor_setting", contract_id) == []
    english = browser.submit(browser.get("/account/two-factor?lang=en"), "two-factor-form")
    refused = browser.submit(english, "two-factor-confirm-form")
    assert "I have confirmed the explanation above" in refused.text
    assert "Tick the box" in refused.text


@pytest.mark.covers("T1")
def test_T1_an_unknown_setting_is_refused_with_a_message(provider):
    contract_id, browser, _menu = contractor(provider, two_factor=False)
    page = browser.get("/account/two-factor")
    refused = browser.submit(
        page, "two-factor-form", two_factor="maybe", step="apply", confirmed="yes"
    )
    assert refused.status_code == 400 and "オンまたはオフを選択してください" in refused.text
    # Issue 14: said on the radio group, whose first radio button has the focus.
    assert_field_error(refused.text, "two_factor", "オンまたはオフを選択してください")
    assert stored(provider, contract_id).two_factor is False


# --- U2 -----------------------------------------------------------------------------------


@pytest.mark.covers("U2", "A1", "T1")
@pytest.mark.parametrize("role", ["admin", "user"])
def test_U2_admin_and_user_get_403_and_change_nothing(provider, role):
    contract_id = provider.new_contract(two_factor=False)
    provider.new_user(contract_id, role="contractor")
    _user_id, email = provider.new_user(contract_id, role=role)
    browser, _menu = account_sign_in(provider, email)
    # A POST with this browser's own valid CSRF token is refused the same way.
    own = browser.get("/account/password").text
    token = own.split('name="csrf_token" value="')[1].split('"')[0]
    for path, data in (
        ("/account/access-route", {"route": "line-only", "step": "apply"}),
        ("/account/two-factor", {"two_factor": "on", "step": "apply", "confirmed": "yes"}),
    ):
        page = browser.session.get(provider.url + path, allow_redirects=False)
        assert page.status_code == 403 and 'data-reason="not_permitted"' in page.text
        posted = browser.post(path, {**data, "csrf_token": token})
        assert posted.status_code == 403 and 'data-reason="not_permitted"' in posted.text
    contract = stored(provider, contract_id)
    assert contract.access_route == "line+internet" and contract.two_factor is False
    assert audit_events(provider, "access_route_setting", contract_id) == []
    assert audit_events(provider, "two_factor_setting", contract_id) == []
