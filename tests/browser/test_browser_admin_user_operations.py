"""G4 (with K1, T2, X7) in real Chromium: the contractor's operations on one user in the admin
console, each from the user's detail through its confirmation page to the detail saying what
was done — unlock a locked account, reset 2FA, grant then revoke the admin privilege, sign out
everywhere, disable (the user's next sign-in at the storage frontend is refused with a page
saying why) and enable again (it signs in), then delete (back to the list, the user gone).

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/`` after checking the
page for console errors, script errors and failed requests (``snap``, ``watched_snap``).
"""

from __future__ import annotations

from typing import Any

import pytest

from idp.actor import Actor
from idp.models import User
from idp.users.lockout import lock_account
from tests.browser.flows import as_shot
from tests.browser.flows import claim
from tests.browser.flows import click_and_wait
from tests.browser.flows import enrolled_user
from tests.browser.flows import menu_sign_in
from tests.browser.flows import new_phone
from tests.browser.flows import on_path
from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.browser.flows import watched_snap
from tests.browser.test_browser_account_menu import snap as snap  # noqa: F401 (fixture)
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def operate(page: Any, snap: Any, button: str, operation: str, done: str) -> None:
    """The detail's ``button`` → the confirmation of ``operation`` → the detail, ``done``."""
    click_and_wait(page, f"#{button}")
    heading = page.locator("#confirm-heading")
    heading.wait_for()
    assert heading.get_attribute("data-operation") == operation
    assert page.locator("#warning").is_visible()
    snap(f"confirm-{operation}")
    click_and_wait(page, "#confirm")
    assert page.locator("#done").get_attribute("data-done") == done
    snap(f"done-{operation}")


@pytest.mark.covers("G4", "K1", "T2", "X7")
def test_G4_unlock_reset_2fa_roles_sign_out_disable_enable_delete(
    page, context_factory, browser_provider, frontend, shot, snap
):
    provider = browser_provider
    contract_id = provider.new_contract(two_factor=False)
    _boss, boss_email = provider.new_user(contract_id, role="contractor")
    _phone, e164 = new_phone()
    user_id, email, _code = enrolled_user(provider, "sms", {"phone": e164}, contract_id)
    with provider.app.app_context():
        lock_account(Actor.system("login"), provider.db().session.get(User, user_id))

    menu_sign_in(page, provider, boss_email, snap)
    click_and_wait(page, "#to-admin-console")
    click_and_wait(page, f'tr[data-user="{user_id}"] a')
    on_path(page, provider, f"/admin/users/{user_id}")
    snap("detail-locked")
    assert page.locator("#lock").get_attribute("data-locked") == "yes"

    # K1: unlock (one button, no confirmation: it only gives access back).
    click_and_wait(page, "#unlock")
    assert page.locator("#done").get_attribute("data-done") == "unlocked"
    assert page.locator("#lock").get_attribute("data-locked") == "no"
    snap("done-unlock")

    # T2: the 2FA registration reset; the button is gone afterwards (nothing left to reset).
    operate(page, snap, "reset-two-factor", "reset_two_factor", "two_factor_reset")
    assert page.locator("#reset-two-factor").count() == 0

    # The admin privilege, granted then revoked.
    operate(page, snap, "grant-admin", "grant_admin", "role_changed")
    assert page.locator("#role").get_attribute("data-role") == "admin"
    operate(page, snap, "revoke-admin", "revoke_admin", "role_changed")
    assert page.locator("#role").get_attribute("data-role") == "user"

    # X7: sign out everywhere.
    operate(page, snap, "sign-out", "sign_out", "signed_out")

    # Disabled: the user's sign-in at the frontend is refused with a page saying why ...
    operate(page, snap, "disable", "disable", "disabled")
    member = context_factory(viewport={"width": 1280, "height": 900}).new_page()
    member_snap = watched_snap(member, shot)
    open_login_from_frontend(member, frontend, provider, as_shot(member_snap), "user-frontend")
    submit_password(member, email, PASSWORD)
    member.locator("#error").wait_for()
    member_snap("user-refused-disabled")
    assert member.locator("#error").get_attribute("data-reason") == "disabled"
    assert "無効" in member.locator("#error").inner_text()
    # ... and enabled again, it signs in (the account was unlocked above, too).
    click_and_wait(page, "#enable")
    assert page.locator("#done").get_attribute("data-done") == "enabled"
    snap("done-enable")
    open_login_from_frontend(member, frontend, provider, as_shot(member_snap), "user-again")
    submit_password(member, email, PASSWORD)
    wait_signed_in(member, frontend)
    member_snap("user-signed-in")
    assert claim(member, "sub") == user_id

    # Deleted: back to the list, where the user is gone.
    click_and_wait(page, "#delete")
    page.locator("#confirm-heading").wait_for()
    snap("confirm-delete")
    click_and_wait(page, "#confirm")
    on_path(page, provider, "/admin/users")
    snap("list-after-delete")
    assert page.locator(f'tr[data-user="{user_id}"]').count() == 0
