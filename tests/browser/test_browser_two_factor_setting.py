"""T1 (with L3, L4) in real Chromium, what the contractor's 2FA setting does to the people of
the contract: the contractor turns it on in the account menu (the confirmation shows current
and new, the risk, and needs its box ticked); a user's next sign-in at the storage frontend
starts the SMS enrollment; the contractor turns it off again (the same confirmation); the
user's next sign-in goes straight to the service.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/`` after checking the
page for console errors, script errors and failed requests (``snap``, ``watched_snap``).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.browser.flows import as_shot
from tests.browser.flows import back_to_menu
from tests.browser.flows import claim
from tests.browser.flows import click_and_wait
from tests.browser.flows import contractor
from tests.browser.flows import heading
from tests.browser.flows import menu_sign_in
from tests.browser.flows import on_path
from tests.browser.flows import open_item
from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.browser.flows import watched_snap
from tests.browser.test_browser_account_menu import snap as snap  # noqa: F401 (fixture)
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

LABEL = {"on": "オン", "off": "オフ"}


def change_two_factor(page: Any, provider: Any, snap: Any, to: str) -> None:
    """The menu's 2FA setting → ``to`` → the confirmation (box ticked) → done → the menu."""
    open_item(page, provider, "two_factor", "/account/two-factor")
    page.locator("#two-factor-form").wait_for()
    snap(f"two-factor-to-{to}")
    page.check(f"input[name=two_factor][value={to}]")
    click_and_wait(page, "#submit")
    page.locator("#two-factor-confirm-form").wait_for()
    snap(f"two-factor-confirm-{to}")
    other = "off" if to == "on" else "on"
    assert page.locator("#current-value").inner_text().strip() == LABEL[other]
    assert page.locator("#new-value").inner_text().strip() == LABEL[to]
    assert page.locator("#risk-warning").is_visible()
    page.check("#confirmed")
    click_and_wait(page, "#submit")
    page.locator("#done").wait_for()
    snap(f"two-factor-done-{to}")
    assert LABEL[to] in page.locator("#done").inner_text()
    back_to_menu(page, provider)


@pytest.mark.covers("T1", "L3", "L4")
def test_T1_on_then_a_users_sign_in_enrolls_off_then_it_does_not(
    page, context_factory, browser_provider, frontend, shot, snap
):
    provider = browser_provider
    contract_id, _boss, boss_email = contractor(provider, "basic")
    user_id, email = provider.new_user(contract_id)
    menu_sign_in(page, provider, boss_email, snap)
    change_two_factor(page, provider, snap, "on")

    # The user's next sign-in: the password, then the SMS enrollment (L3, L4).
    member = context_factory(viewport={"width": 1280, "height": 900}).new_page()
    member_snap = watched_snap(member, shot)
    open_login_from_frontend(member, frontend, provider, as_shot(member_snap), "user-frontend")
    submit_password(member, email, PASSWORD)
    on_path(member, provider, "/login/2fa/enroll/sms")
    member.locator("#phone-form").wait_for()
    member_snap("user-asked-to-enroll")
    assert heading(member) == "2段階認証の設定"

    # Off again; the user's next sign-in (a new one) goes straight to the service.
    change_two_factor(page, provider, snap, "off")
    open_login_from_frontend(member, frontend, provider, as_shot(member_snap), "user-again")
    submit_password(member, email, PASSWORD)
    wait_signed_in(member, frontend)
    member_snap("user-signed-in-without-2fa")
    assert claim(member, "sub") == user_id
    assert claim(member, "amr") == ["pwd"]
