"""C1–C4, U2: the contractor's plan change, cancellation and contract information in the
account menu, driven like a browser (forms submitted with their CSRF tokens), with the clock
moved where C1/C2 need it (time_machine; the server threads see it)."""

from __future__ import annotations

from datetime import UTC
from datetime import timedelta

import pytest
import time_machine

from idp.actor import Actor
from idp.contracts.contract import get_contract
from idp.models import AuditEvent
from tests.conftest import PASSWORD
from tests.field_errors import assert_field_error
from tests.field_errors import assert_no_field_error
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.helpers import redirect_params
from tests.test_account_menu import account_sign_in
from tests.test_contract_life import IN_WINDOW
from tests.test_contract_life import audited
from tests.test_contract_life import frontend_sign_in
from tests.test_contract_life import refused_with

PATHS = ("/account/plan", "/account/cancellation", "/account/contract")


def contract_of(provider, contract_id):
    with provider.app.app_context():
        contract = get_contract(contract_id)
        provider.db().session.expunge(contract)
        return contract


def events(provider, event, contract_id):
    with provider.app.app_context():
        return (
            provider.db().session.query(AuditEvent).filter_by(event=event, contract_id=contract_id)
        ).count()


def signed_in_contractor(provider, plan="basic"):
    contract_id = provider.new_contract(plan=plan)
    boss_id, boss_email = provider.new_user(contract_id, role="contractor")
    browser, menu = account_sign_in(provider, boss_email)
    assert menu.status_code == 200, menu.text[:300]
    return contract_id, Actor.user(boss_id, contract_id), browser


# --- C2 ----------------------------------------------------------------------------------


@pytest.mark.covers("C1", "C2", "U2")
@pytest.mark.parametrize("when", [timedelta(days=1), IN_WINDOW], ids=["trial", "window"])
def test_C2_trial_to_basic_selection_confirmation_done_opens_the_frontend(provider, rp, when):
    contract_id = provider.new_contract(plan="trial")
    _member, member_email = provider.new_user(contract_id, role="user")
    boss_id, boss_email = provider.new_user(contract_id, role="contractor")
    with time_machine.travel(when, tick=True):
        if when == IN_WINDOW:
            assert refused_with(frontend_sign_in(provider, rp, member_email), "trial_ended")
        browser, _menu = account_sign_in(provider, boss_email)
        selection = browser.get("/account/plan")
        assert selection.status_code == 200 and 'data-plan="trial"' in selection.text
        assert "トライアルプラン" in selection.text
        confirmation = browser.submit(selection, "plan-form")
        assert confirmation.status_code == 200 and 'id="plan-confirm-form"' in confirmation.text
        assert "ベーシックプラン" in confirmation.text
        # Seeing the confirmation changes nothing.
        assert contract_of(provider, contract_id).plan == "trial"
        done = browser.submit(confirmation, "plan-confirm-form")
        assert done.status_code == 200 and 'id="done"' in done.text
        assert "ベーシックプランになりました" in done.text
        assert contract_of(provider, contract_id).plan == "basic"
        # At once: the member signs in to the frontend.
        assert "code" in redirect_params(frontend_sign_in(provider, rp, member_email))
    [(outcome, _reason, details)] = audited(
        provider, "plan_change", Actor.user(boss_id, contract_id)
    )
    assert outcome == "ok" and details["plan"] == {"old": "trial", "new": "basic"}


@pytest.mark.covers("C1", "C2")
def test_C2_the_window_closing_between_confirmation_and_submit_changes_nothing(provider):
    contract_id = provider.new_contract(plan="trial")
    _boss, boss_email = provider.new_user(contract_id, role="contractor")
    started = contract_of(provider, contract_id).trial_started_at
    started = started if started.tzinfo else started.replace(tzinfo=UTC)
    deadline = started + timedelta(days=30 + 15)
    with time_machine.travel(deadline - timedelta(minutes=1), tick=False):
        browser, _menu = account_sign_in(provider, boss_email)
        confirmation = browser.submit(browser.get("/account/plan"), "plan-form")
        assert 'id="plan-confirm-form"' in confirmation.text
    with time_machine.travel(deadline + timedelta(seconds=1), tick=False):
        late = browser.submit(confirmation, "plan-confirm-form")
        assert refused_with(late, "contract_closed"), late.text[:300]
    assert contract_of(provider, contract_id).plan == "trial"
    assert events(provider, "plan_change", contract_id) == 0


@pytest.mark.covers("C2")
def test_C2_a_basic_contract_has_no_plan_to_change_to(provider):
    contract_id, _boss, browser = signed_in_contractor(provider, "basic")
    page = browser.get("/account/plan")
    assert page.status_code == 200 and 'id="no-change"' in page.text
    assert 'id="plan-form"' not in page.text
    token = forms_in(browser.get("/account/cancellation").text)[0].fields["csrf_token"]
    posted = browser.post("/account/plan", {"csrf_token": token, "plan": "basic", "step": "change"})
    assert posted.status_code == 400 and 'id="error"' in posted.text
    assert "変更後のプランを選択してください" in posted.text
    assert_no_field_error(posted.text)  # no choice on the page: the message at the top only
    assert events(provider, "plan_change", contract_id) == 0


@pytest.mark.covers("C2")
def test_C2_a_plan_not_offered_is_said_on_the_choice(provider):
    """C2, issue 14: a trial contract posting another plan: the message is on the plan's
    radio group (aria-invalid, described by it), whose radio button has the focus."""
    contract_id, _boss, browser = signed_in_contractor(provider, "trial")
    page = browser.get("/account/plan")
    refused = browser.submit(page, "plan-form", plan="gold")
    assert refused.status_code == 400
    assert_field_error(refused.text, "plan", "変更後のプランを選択してください")
    assert events(provider, "plan_change", contract_id) == 0


# --- C3 ----------------------------------------------------------------------------------


@pytest.mark.covers("C3", "U2")
def test_C3_warning_typed_name_done_and_every_session_ends(provider, rp):
    contract_id = provider.new_contract(plan="basic")
    boss_id, boss_email = provider.new_user(contract_id, role="contractor")
    _member, member_email = provider.new_user(contract_id, role="user")
    tokens = rp.login_tokens(Browser(provider.url), member_email, PASSWORD)
    browser, _menu = account_sign_in(provider, boss_email)
    name = contract_of(provider, contract_id).name

    warning = browser.get("/account/cancellation")
    assert warning.status_code == 200 and 'id="cancellation-warning"' in warning.text
    assert 'data-days="90"' in warning.text and "90日間保管" in warning.text
    assert name in warning.text
    confirmation = browser.submit(warning, "cancellation-warning-form")
    assert 'id="cancellation-form"' in confirmation.text and name in confirmation.text
    assert contract_of(provider, contract_id).status == "active"

    done = browser.submit(confirmation, "cancellation-form", contract_name=f"  {name} ")
    assert done.status_code == 200 and 'id="done"' in done.text, done.text[:500]
    assert 'id="where-next"' in done.text and "新たにご契約をお申し込みください" in done.text
    assert contract_of(provider, contract_id).status == "cancelled"
    # The menu's own session ended with the others.
    menu = browser.session.get(f"{provider.url}/account", allow_redirects=False)
    assert menu.status_code == 303 and menu.headers["Location"].endswith("/account/login")
    assert refused_with(account_sign_in(provider, boss_email)[1], "contract_inactive")
    assert refused_with(frontend_sign_in(provider, rp, member_email), "contract_inactive")
    refreshed = rp.refresh(tokens["refresh_token"])
    assert refreshed["_status"] == 400 and refreshed["error"] == "invalid_grant"
    [(outcome, _reason, details)] = audited(
        provider, "contract_cancel", Actor.user(boss_id, contract_id)
    )
    assert outcome == "ok" and details["users"] == 2


@pytest.mark.covers("C3")
@pytest.mark.parametrize("typed", ["", "wrong name", "NAME-IN-CAPITALS"])
def test_C3_a_wrong_contract_name_is_refused_next_to_the_field_and_nothing_ends(
    provider, rp, typed
):
    contract_id, _boss, browser = signed_in_contractor(provider, "basic")
    name = contract_of(provider, contract_id).name
    typed = name.upper() if typed == "NAME-IN-CAPITALS" else typed
    confirmation = browser.submit(browser.get("/account/cancellation"))
    refused = browser.submit(confirmation, "cancellation-form", contract_name=typed)
    assert refused.status_code == 400 and 'id="error-contract_name"' in refused.text
    assert "契約名が一致しません" in refused.text
    assert 'id="cancellation-form"' in refused.text
    assert contract_of(provider, contract_id).status == "active"
    assert events(provider, "contract_cancel", contract_id) == 0
    # The menu session still works, and the message exists in English too.
    assert browser.get("/account").status_code == 200
    english = browser.submit(
        browser.get("/account/cancellation?lang=en"), "cancellation-warning-form"
    )
    english = browser.submit(english, "cancellation-form", contract_name="x")
    assert "The contract name does not match" in english.text


# --- C4 ----------------------------------------------------------------------------------

GOOD = {
    "company_name": "株式会社ほしのかめ",
    "department": "情報システム部",
    "contact_person": "山田 花子",
    "address": "東京都千代田区丸の内1-1-1",
    "phone": "0312345678",
    "billing_email": "Billing@Example.jp",
}


@pytest.mark.covers("C4", "U2")
def test_C4_shown_then_bad_values_refused_next_to_their_fields_then_saved(provider):
    contract_id, boss, browser = signed_in_contractor(provider, "basic")
    page = browser.get("/account/contract")
    assert page.status_code == 200 and 'id="contract-information-form"' in page.text
    for label in ("会社名", "部署", "ご担当者", "住所", "電話番号", "請求先メールアドレス"):
        assert label in page.text

    bad = {
        **GOOD,
        "company_name": "x" * 201,
        "phone": "12",
        "billing_email": "not-an-address",
        "department": "a\x01b",
    }
    refused = browser.submit(page, "contract-information-form", **bad)
    assert refused.status_code == 400
    for field in ("company_name", "phone", "billing_email", "department"):
        assert f'id="error-{field}"' in refused.text, field
    for field in ("contact_person", "address"):
        assert f'id="error-{field}"' not in refused.text, field
    assert "正しい電話番号を入力してください" in refused.text
    assert "正しいメールアドレスを入力してください" in refused.text
    assert "200文字以内" in refused.text
    assert contract_of(provider, contract_id).company_name == ""  # nothing saved
    assert events(provider, "contract_information", contract_id) == 0
    english = browser.submit(
        browser.get("/account/contract?lang=en"), "contract-information-form", **bad
    )
    assert "Enter a valid phone number" in english.text and "at most 200" in english.text

    saved = browser.submit(
        browser.get("/account/contract?lang=ja"), "contract-information-form", **GOOD
    )
    assert saved.status_code == 200 and 'id="saved"' in saved.text
    assert "契約情報を保存しました" in saved.text
    stored = contract_of(provider, contract_id)
    assert stored.company_name == GOOD["company_name"] and stored.address == GOOD["address"]
    assert stored.phone == "03-1234-5678" and stored.billing_email == "Billing@example.jp"
    assert 'value="03-1234-5678"' in browser.get("/account/contract").text
    [(outcome, _reason, details)] = audited(provider, "contract_information", boss)
    assert outcome == "ok" and details["changed"] == sorted(GOOD)


# --- U2 ----------------------------------------------------------------------------------


@pytest.mark.covers("U2", "C2", "C3", "C4")
@pytest.mark.parametrize("role", ["admin", "user"])
def test_U2_admins_and_users_get_403_on_every_page_and_post_changes_nothing(provider, role):
    contract_id = provider.new_contract(plan="basic")
    _person, email = provider.new_user(contract_id, role=role)
    browser, menu = account_sign_in(provider, email)
    token = forms_in(browser.get("/account/password").text)[0].fields["csrf_token"]
    posts = {
        "/account/plan": {"plan": "basic", "step": "change"},
        "/account/cancellation": {"step": "cancel", "contract_name": "x"},
        "/account/contract": GOOD,
    }
    for path in PATHS:
        page = browser.session.get(provider.url + path, allow_redirects=False)
        assert refused_with(page, "not_permitted"), (path, page.status_code)
        posted = browser.post(path, {"csrf_token": token, **posts[path]})
        assert refused_with(posted, "not_permitted"), (path, posted.status_code)
    name = contract_of(provider, contract_id).name
    right = {"csrf_token": token, "step": "cancel", "contract_name": name}
    assert refused_with(browser.post("/account/cancellation", right), "not_permitted")
    stored = contract_of(provider, contract_id)
    assert stored.status == "active" and stored.company_name == ""
    for event in ("plan_change", "contract_cancel", "contract_information"):
        assert events(provider, event, contract_id) == 0


@pytest.mark.covers("U2", "C3", "C4")
def test_U2_a_trial_contractor_may_neither_cancel_nor_edit_the_information(provider):
    contract_id, _boss, browser = signed_in_contractor(provider, "trial")
    token = forms_in(browser.get("/account/plan").text)[0].fields["csrf_token"]
    for path in ("/account/cancellation", "/account/contract"):
        assert refused_with(browser.get(path), "not_permitted"), path
    name = contract_of(provider, contract_id).name
    cancel = {"csrf_token": token, "step": "cancel", "contract_name": name}
    assert refused_with(browser.post("/account/cancellation", cancel), "not_permitted")
    edit = browser.post("/account/contract", {"csrf_token": token, **GOOD})
    assert refused_with(edit, "not_permitted")
    stored = contract_of(provider, contract_id)
    assert stored.status == "active" and stored.company_name == ""
