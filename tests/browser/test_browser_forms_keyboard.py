"""P1, C4 in real Chromium by keyboard alone (issue 14, accessibility): Tab reaches every
control of the form's page in order, Enter sends the form; a page answered with errors puts
each message right after its field, marks the field aria-invalid="true" with aria-describedby
naming the message, lists the messages at the top as links to their fields, and the focus is
already on the first field with an error (``autofocus``, templates/account/_fields.html).

Like every browser test, the pages are also checked by axe-core and the other watches
(tests/browser/conftest.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.flows import contractor
from tests.browser.flows import menu_sign_in
from tests.browser.flows import open_item
from tests.browser.flows import open_login_from_frontend
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

#: What a keyboard can reach (the controls of our pages), visible ones only.
FOCUSABLE = """() => [...document.querySelectorAll(
    'a[href], button, input:not([type=hidden]), select, textarea, [tabindex]:not([tabindex="-1"])'
  )].filter(el => el.getClientRects().length > 0)"""
FOCUS_INDEX = f"() => ({FOCUSABLE})().indexOf(document.activeElement)"


def active_id(page: Any) -> str:
    return str(page.evaluate("() => document.activeElement.id"))


def tab_order(page: Any) -> list[int]:
    """Tab from the top of the page until the focus leaves it: the controls reached, as
    indexes in document order. (A click on the page's top-left corner, the product name,
    moves Chromium's starting point of Tab there; the focus itself stays by the keyboard.)"""
    page.mouse.click(1, 1)
    reached: list[int] = []
    for _ in range(60):
        page.keyboard.press("Tab")
        index = page.evaluate(FOCUS_INDEX)
        if index < 0 or index in reached:
            break
        reached.append(index)
    return reached


def assert_every_control_reached_in_order(page: Any) -> None:
    count = page.evaluate(f"() => ({FOCUSABLE})().length")
    assert count > 0
    assert tab_order(page) == list(range(count))


def tab_to(page: Any, field: str) -> None:
    """Press Tab until ``field`` has the focus (from wherever the focus is now)."""
    for _ in range(40):
        if active_id(page) == field:
            return
        page.keyboard.press("Tab")
    raise AssertionError(f"Tab never reached #{field}")


def assert_focused_and_described(page: Any, field: str, message: str) -> None:
    """The focus is on ``field``, which is invalid and described by its message, shown right
    after it; the summary at the top links to it."""
    assert active_id(page) == field
    assert page.get_attribute(f"#{field}", "aria-invalid") == "true"
    described = (page.get_attribute(f"#{field}", "aria-describedby") or "").split()
    assert f"error-{field}" in described, described
    assert message in page.locator(f"#error-{field}").inner_text()
    follows = page.evaluate("f => document.getElementById(f).nextElementSibling?.id", field)
    assert follows == f"error-{field}"
    links = page.locator("#error[role=alert] li a")
    assert links.count() == page.locator(f"#error-{field} li").count()
    assert {links.nth(i).get_attribute("href") for i in range(links.count())} == {f"#{field}"}
    assert message in page.locator("#error").inner_text()
    assert page.locator("[aria-invalid=true]").count() == 1


@pytest.mark.covers("P1", "P2")
def test_P1_password_change_by_keyboard_focus_lands_on_the_first_invalid_field(
    page, browser_provider, shot
):
    _contract, _user, email = contractor(browser_provider, "basic")
    menu_sign_in(page, browser_provider, email, lambda what: shot(page, what))
    open_item(page, browser_provider, "password_change", "/account/password")
    page.locator("#password-change-form").wait_for()
    assert page.locator("[aria-invalid]").count() == 0
    assert_every_control_reached_in_order(page)

    # Keyboard only: the current password right, a new one too short (twice), Enter.
    tab_to(page, "current_password")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type("short")
    page.keyboard.press("Tab")
    assert active_id(page) == "password_confirmation"
    page.keyboard.type("short")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.locator("#error-password").wait_for()
    shot(page, "password-too-short-focused")
    # Not the first field of the form: the first one with an error.
    assert_focused_and_described(page, "password", "8文字以上")
    described = page.get_attribute("#password", "aria-describedby").split()
    assert "password-rule" in described  # the rule stays read with the message

    # Typing goes into the focused field at once; Tab on, Shift+Tab back to the current
    # password (never sent back, so typed again), Enter sends.
    assert page.input_value("#current_password") == ""
    page.keyboard.type("Hoshi-no-Kame-2028")
    page.keyboard.press("Tab")
    page.keyboard.type("Hoshi-no-Kame-2029")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert active_id(page) == "current_password"
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.locator("#error-password_confirmation").wait_for()
    shot(page, "confirmation-differs-focused")
    assert_focused_and_described(page, "password_confirmation", "一致しません")
    assert_every_control_reached_in_order(page)


@pytest.mark.covers("C4")
def test_C4_contract_information_by_keyboard_focus_on_the_bad_phone(page, browser_provider, shot):
    _contract, _user, email = contractor(browser_provider, "basic")
    menu_sign_in(page, browser_provider, email, lambda what: shot(page, what))
    open_item(page, browser_provider, "contract_information", "/account/contract")
    page.locator("#contract-information-form").wait_for()
    assert_every_control_reached_in_order(page)
    tab_to(page, "phone")
    page.keyboard.press("Control+A")
    page.keyboard.type("12")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.locator("#error-phone").wait_for()
    shot(page, "bad-phone-focused")
    assert_focused_and_described(page, "phone", "正しい電話番号を入力してください")
    assert_every_control_reached_in_order(page)


@pytest.mark.covers("K3", "P2")
def test_K3_forgot_and_reset_by_keyboard_focus_on_the_new_password(
    page, browser_provider, mailbox, shot
):
    """The mailed reset link's page: a too-short password sent with Enter comes back with the
    focus on the new password, described by the rule list (links to the field) and the rule."""
    _user, email = browser_provider.new_user()
    page.goto(browser_provider.url + "/password/forgot")
    assert_every_control_reached_in_order(page)
    tab_to(page, "email")
    page.keyboard.type(email)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    shot(page, "forgot-sent")
    mail = mailbox.wait_for(to=email)
    links = [link for link in mailbox.links_in(mail) if "/links/" in link]
    assert len(links) == 1, mailbox.links_in(mail)

    page.goto(links[0])
    page.locator("#password").wait_for()
    assert active_id(page) != "password" and page.locator("[aria-invalid]").count() == 0
    tab_to(page, "password")
    page.keyboard.type("short")
    page.keyboard.press("Tab")
    page.keyboard.type("short")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.locator("#error").wait_for()
    shot(page, "reset-too-short-focused")
    assert active_id(page) == "password"
    assert page.get_attribute("#password", "aria-invalid") == "true"
    assert page.get_attribute("#password", "aria-describedby").split() == ["error", "password-rule"]
    assert "8文字以上" in page.locator("#error[role=alert]").inner_text()
    links_to = page.locator("#error li a")
    assert links_to.count() >= 1
    assert {links_to.nth(i).get_attribute("href") for i in range(links_to.count())} == {"#password"}
    # The messages sit with the fields, before the button, not at the top of the page.
    order = page.evaluate(
        """() => ['password_confirmation', 'error', 'submit'].map(id =>
             document.getElementById(id).getBoundingClientRect().top)"""
    )
    assert order == sorted(order), order
    assert_every_control_reached_in_order(page)

    tab_to(page, "password")
    page.keyboard.type("Hoshi-no-Kame-2030")
    page.keyboard.press("Tab")
    page.keyboard.type("Hoshi-no-Kame-2030")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.locator("#done").wait_for()
    shot(page, "reset-done")


@pytest.mark.covers("L1")
def test_L1_a_refused_sign_in_by_keyboard_puts_the_focus_on_the_password(
    page, browser_provider, frontend, shot
):
    """The email is kept and the password is what to type again: the focus is there, and the
    message (which does not say which of the two was wrong) describes both fields."""
    _user, email = browser_provider.new_user()
    open_login_from_frontend(page, frontend, browser_provider, shot)
    page.locator("#password-form").wait_for()
    assert active_id(page) == "email"  # the first field, on a fresh page
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type("Not-The-Right-One-7")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.locator("#error").wait_for()
    shot(page, "refused-focus-on-password")
    assert active_id(page) == "password"
    for field in ("email", "password"):
        assert page.get_attribute(f"#{field}", "aria-describedby") == "error"
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.wait_for_url(frontend.url + "/")
