"""O1, O2 in real Chromium: a relying party that is not trusted (the demo storage frontend
registered as a third party) gets the consent page after the password; it names the client and
each scope in words (``offline_access`` as "keep access while you are not using it", not a
technical term); "Deny" sends the person back to the client with ``access_denied`` and nothing
issued; the next sign-in asks again, and "Allow" signs in.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/`` after checking the
page for console errors, script errors and failed requests (``snap``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.flows import claim
from tests.browser.flows import click_and_wait
from tests.browser.flows import heading
from tests.browser.flows import on_path
from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import phone_snap
from tests.browser.flows import served_frontend
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.browser.test_browser_account_menu import snap as snap  # noqa: F401 (fixture)
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

CLIENT_NAME = "Third-party storage viewer"


@pytest.fixture(scope="module")
def third_party(browser_provider: Any) -> Iterator[Any]:
    with served_frontend(browser_provider, CLIENT_NAME, trusted=False) as frontend:
        yield frontend


@pytest.mark.covers("O1", "O2")
def test_O1_consent_names_each_scope_deny_returns_access_denied_then_allow_signs_in(
    page, browser_provider, third_party, snap
):
    provider = browser_provider
    user_id, email = provider.new_user()
    open_login_from_frontend(page, third_party, provider, lambda _page, what: snap(what))
    submit_password(page, email, PASSWORD)
    on_path(page, provider, "/login")  # the consent page answers the password itself
    page.locator("#allow").wait_for()
    snap("consent")
    phone_snap(page, snap, "consent")
    assert heading(page) == "アクセスの許可"
    assert CLIENT_NAME in page.locator("main").inner_text()
    scopes = page.locator("#scopes li")
    shown = {
        scopes.nth(i).get_attribute("data-scope"): scopes.nth(i).inner_text().strip()
        for i in range(scopes.count())
    }
    assert shown["offline_access"] == "ご利用中でないときも、再ログインなしでアクセスを維持"
    assert shown["openid"] == "あなたの識別子"
    assert all(text != scope for scope, text in shown.items()), shown

    # Deny: back at the client with access_denied; nothing issued.
    with page.expect_navigation(url=re.compile("^" + re.escape(third_party.url))):
        page.click("#deny")
    page.locator("#error").wait_for()
    snap("client-access-denied")
    assert "access_denied" in page.locator("#error").inner_text()
    assert page.locator("#claims").count() == 0

    # The next sign-in asks again (the denied one left no session: the password first);
    # Allow signs in.
    page.goto(third_party.url + "/")
    click_and_wait(page, "#signin")
    page.locator("#password-form").wait_for()
    submit_password(page, email, PASSWORD)
    on_path(page, provider, "/login")  # the consent page answers the password itself
    snap("consent-again")
    click_and_wait(page, "#allow")
    wait_signed_in(page, third_party)
    snap("client-claims")
    assert claim(page, "sub") == user_id
