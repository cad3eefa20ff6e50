"""U1, U2, P1, A1, A3, A4, T1, C2, C3, C4 in real Chromium: the account menu, walked as its
users walk it (typing, clicking, a form sent with the keyboard), its pages read as they see
them. Every page visited is saved to ``test-artifacts/screenshots/<test-name>/``; the menu
page and the contract information form are also saved at a 375 px phone width.

Each test fails on a console error, an uncaught script error, a failed request, a
sub-resource (style sheet, image) answered with an error, an axe-core violation or
untranslated text (every browser test: ``watched``, tests/browser/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.flows import MENU_JA
from tests.browser.flows import assert_error_next_to
from tests.browser.flows import back_to_menu
from tests.browser.flows import claim
from tests.browser.flows import click_and_wait
from tests.browser.flows import contractor
from tests.browser.flows import heading
from tests.browser.flows import menu_sign_in
from tests.browser.flows import open_item
from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import phone_snap
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.conftest import PASSWORD

#: The same xdist group as the other browser tests: one Chromium, one provider, one frontend.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

NEW_PASSWORD = "Hoshi-no-Kame-2027"
WRONG_PASSWORD = "Not-The-Right-One-7"
#: U1's items with their Japanese wording, in U1's order ("to top" last, always there).
LABELS = {
    "login_method": "ログイン方法",
    "email_change": "メールアドレス変更",
    "password_change": "パスワード変更",
    "sessions": "ログイン中のセッションとブラウザ",
    "access_route": "アクセス経路",
    "two_factor": "2段階認証設定",
    "ad_setting": "Active Directory設定",
    "contract_information": "契約情報",
    "plan_change": "プラン変更",
    "cancellation": "解約",
    "top": "トップへ",
}
#: SPEC U2, written out as SPEC prints it (the menu must show exactly these), with X2/X7's
#: sessions and browsers, everyone's, beside the password change.
U2_BASIC_CONTRACTOR = [item for item in LABELS if item != "top"]
U2_TRIAL_CONTRACTOR = [
    "password_change",
    "sessions",
    "access_route",
    "two_factor",
    "ad_setting",
    "plan_change",
]
U2_OTHERS = ["password_change", "sessions"]


@pytest.fixture()
def snap(page: Any, shot: Any) -> Any:
    """A screenshot of ``page`` (checked by the test's watch, tests/browser/watch.py)."""

    def take(what: str) -> None:
        shot(page, what)

    return take


def assert_menu(page: Any, email: str, items: list[str]) -> None:
    """U1/U2: the menu lists exactly ``items`` (and "to top"), in U1's order and wording."""
    assert heading(page) == MENU_JA
    assert page.locator("#signed-in-as").inner_text().strip() == email
    links = page.locator("#menu-items a")
    shown = [links.nth(i).get_attribute("data-item") for i in range(links.count())]
    assert shown == [*items, "top"], shown
    for item in shown:
        link = page.locator(f"#item-{item}")
        assert link.is_visible() and link.inner_text().strip() == LABELS[item], item


# --- U1, U2, P1 --------------------------------------------------------------------------


@pytest.mark.covers("U1", "U2", "P1", "P2")
def test_U1_U2_P1_basic_contractor_menu_then_password_change_by_keyboard(
    page, context_factory, browser_provider, frontend, shot, snap
):
    _contract, user_id, email = contractor(browser_provider, "basic")
    menu_sign_in(page, browser_provider, email, snap)
    snap("menu")
    assert_menu(page, email, U2_BASIC_CONTRACTOR)
    phone_snap(page, snap, "menu")

    open_item(page, browser_provider, "password_change", "/account/password")
    page.locator("#password-change-form").wait_for()
    snap("password-change")
    assert heading(page) == "パスワード変更"
    assert "3種類以上" in page.locator("#password-rule").inner_text()
    assert page.locator("#account-band").is_visible()

    # P1: a wrong current password is refused next to that field; nothing else is blamed.
    page.fill("#current_password", WRONG_PASSWORD)
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password_confirmation", NEW_PASSWORD)
    click_and_wait(page, "#submit")
    snap("password-change-wrong-current")
    assert_error_next_to(page, "current_password", "現在のパスワードが正しくありません。")
    assert page.locator("#error-password, #error-password_confirmation").count() == 0
    assert page.input_value("#current_password") == ""  # a password is never sent back

    # The same form with the keyboard only: Tab from field to field, Enter sends it.
    page.focus("#current_password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "password"
    page.keyboard.type(NEW_PASSWORD)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "password_confirmation"
    page.keyboard.type(NEW_PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.locator("#done").wait_for()
    snap("password-changed")
    assert heading(page) == "パスワード変更完了"
    assert "変更しました" in page.locator("#done").inner_text()
    back_to_menu(page, browser_provider)
    snap("menu-after-password-change")
    assert_menu(page, email, U2_BASIC_CONTRACTOR)

    # Another browser signs in at the storage frontend with the new password.
    other = context_factory(viewport={"width": 1280, "height": 900}).new_page()
    open_login_from_frontend(other, frontend, browser_provider, lambda *_: None)
    submit_password(other, email, NEW_PASSWORD)
    wait_signed_in(other, frontend)
    shot(other, "other-browser-frontend-claims")
    assert claim(other, "sub") == user_id


@pytest.mark.covers("U1", "U2", "P1")
def test_U2_a_plain_user_sees_only_password_change_and_sessions_and_a_403_page_elsewhere(
    page, browser_provider, snap
):
    contract_id = browser_provider.new_contract(plan="basic", two_factor=False)
    browser_provider.new_user(contract_id, role="contractor")
    _user_id, email = browser_provider.new_user(contract_id, role="user")
    menu_sign_in(page, browser_provider, email, snap)
    snap("menu-plain-user")
    assert_menu(page, email, U2_OTHERS)

    # Typing the access route's address does not help: the 403 page says why.
    response = page.goto(browser_provider.url + "/account/access-route")
    assert response is not None and response.status == 403
    snap("access-route-403")
    assert heading(page) == "ご利用いただけません"
    assert page.locator("#account-band").is_visible()
    error = page.locator("#error")
    assert error.get_attribute("data-reason") == "not_permitted"
    assert "ご利用いただけません" in error.inner_text()
    assert page.locator("#access-route-form").count() == 0
    back_to_menu(page, browser_provider)
    assert_menu(page, email, U2_OTHERS)


# --- A1, A3, A4 --------------------------------------------------------------------------


@pytest.mark.covers("U2", "A1", "A3", "A4")
def test_A1_A3_A4_trial_contractor_sets_line_only_then_back(page, browser_provider, frontend, snap):
    _contract, _user, email = contractor(browser_provider, "trial")
    menu_sign_in(page, browser_provider, email, snap)
    snap("menu-trial-contractor")
    assert_menu(page, email, U2_TRIAL_CONTRACTOR)

    open_item(page, browser_provider, "access_route", "/account/access-route")
    page.locator("#access-route-form").wait_for()
    snap("access-route")
    assert heading(page) == "アクセス経路"
    assert "回線とインターネット" in page.locator("#current-route").inner_text()
    assert page.is_checked("input[name=route][value='line+internet']")
    page.check("input[name=route][value='line-only']")
    click_and_wait(page, "#submit")

    # The confirmation: current → new, and what "line only" means before it is chosen.
    page.locator("#access-route-confirm-form").wait_for()
    snap("access-route-confirm-line-only")
    assert heading(page) == "アクセス経路の確認"
    assert page.locator("#current-value").inner_text().strip() == "回線とインターネット"
    assert page.locator("#new-value").inner_text().strip() == "回線のみ"
    warning = page.locator("#line-only-warning")
    assert warning.is_visible()
    assert "インターネットからログインできなくなります" in warning.inner_text()
    assert "自動的にオフ" in page.locator("#two-factor-off").inner_text()  # A4
    assert page.locator("#recovery").is_visible()  # A3: how to get back in
    click_and_wait(page, "#submit")
    page.locator("#done").wait_for()
    snap("access-route-done")
    assert heading(page) == "アクセス経路を変更しました"
    assert "回線のみ" in page.locator("#done").inner_text()

    # A4: the 2FA setting page says it is off while the route is line only.
    back_to_menu(page, browser_provider)
    open_item(page, browser_provider, "two_factor", "/account/two-factor")
    snap("two-factor-while-line-only")
    assert page.locator("#current-setting").get_attribute("data-setting") == "off"
    assert page.locator("#two-factor-off").is_visible()
    back_to_menu(page, browser_provider)

    # A1: a sign-in at the storage frontend, from the internet, is refused ...
    open_login_from_frontend(
        page, frontend, browser_provider, lambda _page, what: snap(what), "frontend"
    )
    submit_password(page, email, PASSWORD)
    page.locator("#error").wait_for()
    snap("frontend-refused-line-only")
    assert heading(page) == "ログインできません"
    assert page.locator("#error").get_attribute("data-reason") == "route_line_only"

    # ... while the menu still works from the internet (A3): back to line and internet.
    page.goto(browser_provider.url + "/account/access-route")
    page.check("input[name=route][value='line+internet']")
    click_and_wait(page, "#submit")
    page.locator("#access-route-confirm-form").wait_for()
    snap("access-route-confirm-back")
    assert page.locator("#new-value").inner_text().strip() == "回線とインターネット"
    assert page.locator("#line-only-warning").count() == 0
    click_and_wait(page, "#submit")
    page.locator("#done").wait_for()
    snap("access-route-done-back")
    assert "回線とインターネット" in page.locator("#done").inner_text()
    back_to_menu(page, browser_provider)


# --- T1 ----------------------------------------------------------------------------------


@pytest.mark.covers("T1")
def test_T1_warnings_current_and_new_and_the_box_must_be_ticked(page, browser_provider, snap):
    _contract, _user, email = contractor(browser_provider, "trial")
    menu_sign_in(page, browser_provider, email, snap)
    open_item(page, browser_provider, "two_factor", "/account/two-factor")
    page.locator("#two-factor-form").wait_for()
    snap("two-factor")
    assert heading(page) == "2段階認証設定"
    assert "オフ" in page.locator("#current-setting").inner_text()
    assert "不正アクセス" in page.locator("#risk-warning").inner_text()
    page.check("input[name=two_factor][value=on]")
    click_and_wait(page, "#submit")

    page.locator("#two-factor-confirm-form").wait_for()
    snap("two-factor-confirm")
    assert heading(page) == "2段階認証の設定の確認"
    assert page.locator("#current-value").inner_text().strip() == "オフ"
    assert page.locator("#new-value").inner_text().strip() == "オン"
    assert page.locator("#risk-warning").is_visible()
    assert "多要素認証を設定してください" in page.locator("#upstream-mfa").inner_text()
    assert "上記の説明を確認しました" in page.locator("label:has(#confirmed)").inner_text()

    # Unticked: the browser itself holds the form back and says so at the box ...
    confirm_url = page.url
    page.click("#submit")
    assert page.url == confirm_url
    assert page.evaluate("() => document.getElementById('confirmed').validationMessage")
    assert page.locator("#two-factor-confirm-form").is_visible()
    # ... and a browser that does not check forms gets the server's message next to the box.
    page.evaluate("() => document.getElementById('confirmed').removeAttribute('required')")
    click_and_wait(page, "#submit")
    snap("two-factor-confirm-unticked")
    error = page.locator("#error-confirmed")
    assert error.is_visible()
    assert "チェックボックスにチェックを入れてください" in error.inner_text()
    assert page.locator("#new-value").inner_text().strip() == "オン"
    assert (
        page.evaluate(
            "() => document.querySelector('label:has(#confirmed)').nextElementSibling?.id"
        )
        == "error-confirmed"
    )

    page.check("#confirmed")
    click_and_wait(page, "#submit")
    page.locator("#done").wait_for()
    snap("two-factor-done")
    assert heading(page) == "2段階認証の設定を変更しました"
    assert "オン" in page.locator("#done").inner_text()
    back_to_menu(page, browser_provider)
    open_item(page, browser_provider, "two_factor", "/account/two-factor")
    assert page.locator("#current-setting").get_attribute("data-setting") == "on"


# --- C2, C3, C4 --------------------------------------------------------------------------


@pytest.mark.covers("C2", "U2")
def test_C2_trial_to_basic_then_the_menu_shows_the_basic_items(page, browser_provider, snap):
    _contract, _user, email = contractor(browser_provider, "trial")
    menu_sign_in(page, browser_provider, email, snap)
    assert_menu(page, email, U2_TRIAL_CONTRACTOR)
    open_item(page, browser_provider, "plan_change", "/account/plan")
    page.locator("#plan-form").wait_for()
    snap("plan")
    assert heading(page) == "プラン変更"
    assert "トライアルプラン" in page.locator("#current-plan").inner_text()
    assert page.is_checked("#plan-basic")
    click_and_wait(page, "#submit")

    page.locator("#plan-confirm-form").wait_for()
    snap("plan-confirm")
    assert heading(page) == "プラン変更の確認"
    assert page.locator("#from-plan").inner_text().strip() == "トライアルプラン"
    assert page.locator("#to-plan").inner_text().strip() == "ベーシックプラン"
    click_and_wait(page, "#submit")
    page.locator("#done").wait_for()
    snap("plan-done")
    assert heading(page) == "プランを変更しました"
    assert "ベーシックプランになりました" in page.locator("#done").inner_text()

    back_to_menu(page, browser_provider)
    snap("menu-after-plan-change")
    assert_menu(page, email, U2_BASIC_CONTRACTOR)


@pytest.mark.covers("C4", "U2")
def test_C4_a_bad_phone_number_is_refused_next_to_it_then_saved_and_shown(
    page, browser_provider, snap
):
    _contract, _user, email = contractor(browser_provider, "basic")
    menu_sign_in(page, browser_provider, email, snap)
    open_item(page, browser_provider, "contract_information", "/account/contract")
    page.locator("#contract-information-form").wait_for()
    snap("contract-information")
    phone_snap(page, snap, "contract-information")
    assert heading(page) == "契約情報"
    for field, label in [("company_name", "会社名"), ("phone", "電話番号")]:
        assert page.locator(f"label[for={field}]").inner_text().strip() == label

    page.fill("#company_name", "株式会社ほしのかめ")
    page.fill("#contact_person", "山田 花子")
    page.fill("#address", "東京都千代田区丸の内1-1-1")
    page.fill("#phone", "12")
    click_and_wait(page, "#submit")
    snap("contract-information-bad-phone")
    assert_error_next_to(page, "phone", "正しい電話番号を入力してください")
    assert page.locator(".field-error").count() == 1
    assert page.locator("#saved").count() == 0
    # What was typed stays in the form, so that only the phone needs typing again.
    assert page.input_value("#company_name") == "株式会社ほしのかめ"
    assert page.input_value("#phone") == "12"

    page.fill("#phone", "0312345678")
    click_and_wait(page, "#submit")
    page.locator("#saved").wait_for()
    snap("contract-information-saved")
    assert "契約情報を保存しました" in page.locator("#saved").inner_text()
    assert page.locator(".field-error").count() == 0
    assert page.input_value("#phone") == "03-1234-5678"

    # Shown again when the page is opened later from the menu.
    back_to_menu(page, browser_provider)
    open_item(page, browser_provider, "contract_information", "/account/contract")
    snap("contract-information-reopened")
    assert page.locator("#saved").count() == 0
    assert page.input_value("#company_name") == "株式会社ほしのかめ"
    assert page.input_value("#contact_person") == "山田 花子"
    assert page.input_value("#address") == "東京都千代田区丸の内1-1-1"
    assert page.input_value("#phone") == "03-1234-5678"


@pytest.mark.covers("C3", "U2")
def test_C3_wrong_name_refused_right_name_cancels_then_the_frontend_says_contract_ended(
    page, browser_provider, frontend, snap
):
    contract_id, _user, email = contractor(browser_provider, "basic")
    name = _contract_name(browser_provider, contract_id)
    menu_sign_in(page, browser_provider, email, snap)
    open_item(page, browser_provider, "cancellation", "/account/cancellation")
    page.locator("#cancellation-warning").wait_for()
    snap("cancellation-warning")
    assert heading(page) == "解約"
    assert name in page.locator("#cancellation-warning").inner_text()
    assert "90日間" in page.locator("#retention").inner_text()
    click_and_wait(page, "#submit")

    page.locator("#cancellation-form").wait_for()
    snap("cancellation-confirm")
    assert heading(page) == "解約の確認"
    assert page.locator("#contract-name").inner_text().strip() == name
    page.fill("#contract_name", name + "x")
    click_and_wait(page, "#submit")
    snap("cancellation-wrong-name")
    assert_error_next_to(page, "contract_name", "契約名が一致しません")
    assert page.locator("#done").count() == 0

    page.fill("#contract_name", name)
    click_and_wait(page, "#submit")
    page.locator("#done").wait_for()
    snap("cancellation-done")
    assert heading(page) == "解約しました"
    assert name in page.locator("#done").inner_text()
    assert "新たにご契約をお申し込みください" in page.locator("#where-next").inner_text()

    # The session ended with the contract: the frontend asks for a sign-in, which is refused.
    open_login_from_frontend(
        page, frontend, browser_provider, lambda _page, what: snap(what), "frontend-after-cancel"
    )
    snap("frontend-login-after-cancellation")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    with page.expect_navigation() as navigation:
        page.click("#submit")
    refused = navigation.value
    assert refused is not None and refused.status == 403
    # A page to read, not its source shown as text.
    assert refused.headers["content-type"].startswith("text/html"), refused.headers
    page.locator("#error").wait_for()
    snap("frontend-contract-ended")
    assert heading(page) == "ログインできません"
    error = page.locator("#error")
    assert error.get_attribute("data-reason") == "contract_inactive"
    assert "ご契約は解約により終了したため、ログインできません" in error.inner_text()
    assert page.url.startswith(browser_provider.url)


def _contract_name(provider: Any, contract_id: str) -> str:
    from idp.contracts.contract import get_contract

    with provider.app.app_context():
        return str(get_contract(contract_id).name)
