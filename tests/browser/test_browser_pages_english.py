"""U1, U2, G1 in English (issue 14): a contractor who chose English at the menu's sign-in
walks every item of the account menu and the admin console's pages; the watch
(tests/browser/watch.py) fails on any Japanese outside user data and the language switch, and
on any axe-core violation of serious or critical impact, on each page (screenshots at desktop
width under test-artifacts/screenshots/)."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.flows import contractor
from tests.browser.flows import submit_password
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def hrefs(page: Any, selector: str) -> list[str]:
    links = page.locator(selector)
    return [str(links.nth(i).get_attribute("href")) for i in range(links.count())]


@pytest.mark.covers("U1", "U2", "G1")
def test_U1_G1_every_menu_and_console_page_in_english(page, browser_provider, shot):
    contract_id, _user, email = contractor(browser_provider, "basic")
    # User data stays as typed (Japanese names on English pages: translate="no").
    user_id, _ = browser_provider.new_user(contract_id, name="田中 花子")
    page.goto(browser_provider.url + "/account/login")
    with page.expect_navigation():
        page.click("#lang-en")
    assert page.get_attribute("html", "lang") == "en"
    submit_password(page, email, PASSWORD)
    page.locator("#menu-items").wait_for()
    assert page.get_attribute("html", "lang") == "en"
    shot(page, "menu")
    items = [href for href in hrefs(page, "#menu-items a") if href != "/"]
    assert len(items) >= 9, items
    for href in items:
        page.goto(browser_provider.url + href if href.startswith("/") else href)
        assert page.get_attribute("html", "lang") == "en", href
        shot(page, href.strip("/").replace("/", "-") or "top")

    page.goto(browser_provider.url + "/admin/users")
    shot(page, "admin-users")
    for href in hrefs(page, "#console-nav a"):
        page.goto(browser_provider.url + href)
        assert page.get_attribute("html", "lang") == "en", href
        shot(page, href.strip("/").replace("/", "-"))
    page.goto(f"{browser_provider.url}/admin/users/{user_id}")
    assert "田中 花子" in page.locator("main").inner_text()
    shot(page, "admin-user")
    with page.expect_navigation():
        page.click("#what-if")
    shot(page, "admin-what-if")
    # A form answered with errors, in English too: an empty invitation address.
    page.goto(browser_provider.url + "/admin/invitations")
    page.fill("#email", "not-an-address@")
    page.evaluate("() => document.getElementById('email').type = 'text'")
    with page.expect_navigation():
        page.click("#invite")
    page.locator("#error-email").wait_for()
    expect(page.locator("#email")).to_be_focused()  # autofocus: at its next rendering
    shot(page, "admin-invitation-error")
