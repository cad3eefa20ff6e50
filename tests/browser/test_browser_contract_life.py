"""C1, C2 in real Chromium with the provider's clock moved (time_machine; the provider runs in
this process, so its server threads see the moved clock): a trial that ended 1 day ago
refuses the storage frontend with a page saying why, while its contractor still signs in to
the account menu and changes the plan to basic, after which the user signs in again; 15
days after the trial, the contract is closed to the menu and the frontend alike.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/`` after checking the
page for console errors, script errors and failed requests (``snap``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine

from tests.browser.flows import as_shot
from tests.browser.flows import claim
from tests.browser.flows import click_and_wait
from tests.browser.flows import heading
from tests.browser.flows import menu_sign_in
from tests.browser.flows import open_item
from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import phone_snap
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.browser.flows import watched_snap
from tests.browser.test_browser_account_menu import snap as snap  # noqa: F401 (fixture)
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

#: The trial lasts 30 days; a day later it has ended, inside the 15-day plan-change window.
IN_WINDOW = timedelta(days=31)
#: The window is over: the contract is closed.
AFTER_WINDOW = timedelta(days=30 + 15, hours=1)


def refused_at_frontend(page: Any, provider: Any, frontend: Any, email: str, snap: Any) -> Any:
    """The frontend's sign-in with the right password; the refusal page's ``#error``."""
    open_login_from_frontend(page, frontend, provider, as_shot(snap))
    submit_password(page, email, PASSWORD)
    page.locator("#error").wait_for()
    assert heading(page) == "ログインできません"
    assert page.url.startswith(provider.url)
    return page.locator("#error")


@pytest.mark.covers("C1", "C2", "U2")
def test_C1_C2_trial_ended_frontend_refused_contractor_changes_the_plan_in_the_window(
    page, context_factory, browser_provider, frontend, snap, shot
):
    provider = browser_provider
    contract_id = provider.new_contract(plan="trial", two_factor=False)
    _boss_id, boss_email = provider.new_user(contract_id, role="contractor")
    user_id, email = provider.new_user(contract_id)

    with time_machine.travel(IN_WINDOW, tick=True):
        # C1: a user of the ended trial is refused by the frontend, with the reason.
        error = refused_at_frontend(page, provider, frontend, email, snap)
        snap("frontend-trial-ended")
        phone_snap(page, snap, "frontend-trial-ended")
        assert error.get_attribute("data-reason") == "trial_ended"
        assert "トライアル期間は終了しました" in error.inner_text()

        # The contractor still reaches the account menu, whose plan change is offered.
        boss = context_factory(viewport={"width": 1280, "height": 900}).new_page()
        boss_snap = watched_snap(boss, shot)
        menu_sign_in(boss, provider, boss_email, boss_snap)
        boss_snap("menu-in-the-window")
        assert boss.locator("#item-plan_change").is_visible()
        open_item(boss, provider, "plan_change", "/account/plan")
        boss.locator("#plan-form").wait_for()
        assert "トライアルプラン" in boss.locator("#current-plan").inner_text()
        click_and_wait(boss, "#submit")
        boss.locator("#plan-confirm-form").wait_for()
        assert boss.locator("#to-plan").inner_text().strip() == "ベーシックプラン"
        click_and_wait(boss, "#submit")
        boss.locator("#done").wait_for()
        boss_snap("plan-done-in-the-window")
        assert "ベーシックプランになりました" in boss.locator("#done").inner_text()

        # C2: sign-ins work again at once.
        open_login_from_frontend(page, frontend, provider, as_shot(snap), "frontend-after-plan")
        submit_password(page, email, PASSWORD)
        wait_signed_in(page, frontend)
        snap("frontend-claims-after-plan")
        assert claim(page, "sub") == user_id


@pytest.mark.covers("C1")
def test_C1_after_the_window_the_contract_is_closed_to_the_menu_and_the_frontend(
    page, browser_provider, frontend, snap
):
    provider = browser_provider
    contract_id = provider.new_contract(plan="trial", two_factor=False)
    _boss_id, boss_email = provider.new_user(contract_id, role="contractor")

    with time_machine.travel(AFTER_WINDOW, tick=True):
        page.goto(provider.url + "/account/login")
        page.locator("#password-form").wait_for()
        snap("menu-login-after-the-window")
        submit_password(page, boss_email, PASSWORD)
        page.locator("#error").wait_for()
        snap("menu-contract-closed")
        error = page.locator("#error")
        assert error.get_attribute("data-reason") == "contract_closed"
        assert "15日を過ぎたため、ご契約は終了しました" in error.inner_text()
        assert page.locator("#menu-items").count() == 0

        error = refused_at_frontend(page, provider, frontend, boss_email, snap)
        snap("frontend-contract-closed")
        assert error.get_attribute("data-reason") == "contract_closed"
