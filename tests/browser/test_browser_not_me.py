"""X6 (with M7, K3) in real Chromium: someone signed in as the contractor changes the account's
email; the old address gets the notice with its "this was not me" link. Its owner follows it,
confirms, and reads that the change was undone, the account signed out and locked, and a
reset link mailed to the restored address; that link sets a new password, which then signs in
with the old address — the address the other person chose no longer does.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/`` after checking the
page for console errors, script errors and failed requests (``snap``, ``watched_snap``).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.browser.flows import as_shot
from tests.browser.flows import claim
from tests.browser.flows import click_and_wait
from tests.browser.flows import contractor
from tests.browser.flows import fill_password
from tests.browser.flows import heading
from tests.browser.flows import menu_sign_in
from tests.browser.flows import open_item
from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.browser.flows import watched_snap
from tests.browser.test_browser_account_menu import snap as snap  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

THEIR_PASSWORD = "Someone-Else-2029"
OWN_PASSWORD = "Mine-Again-2029x"


def mailed_link(mailbox: Any, provider: Any, to: str, subject: str) -> str:
    mail = mailbox.wait_for(to=to, subject_contains=subject)
    (link,) = [u for u in mailbox.links_in(mail) if u.startswith(provider.url + "/links/")]
    return link


@pytest.mark.covers("X6", "M7", "K3")
def test_X6_this_was_not_me_undoes_an_email_change_and_a_reset_link_lets_the_owner_back(
    page, context_factory, browser_provider, frontend, mailbox, shot, snap
):
    provider = browser_provider
    _contract, user_id, email = contractor(provider, "basic")
    their_email = f"them-{uuid.uuid4().hex[:10]}@example.jp"

    # Someone with the account changes its email (M7) in another browser.
    them = context_factory(viewport={"width": 1280, "height": 900}).new_page()
    their_snap = watched_snap(them, shot)
    menu_sign_in(them, provider, email, their_snap)
    open_item(them, provider, "email_change", "/account/email")
    them.fill("#new_email", their_email)
    them.fill("#new_email_confirmation", their_email)
    click_and_wait(them, "#submit")
    them.goto(mailed_link(mailbox, provider, their_email, "メールアドレス変更登録"))
    fill_password(them, THEIR_PASSWORD, THEIR_PASSWORD)
    click_and_wait(them, "#submit")
    them.locator("#done").wait_for()
    their_snap("their-change-done")

    # X6: the owner follows the old address's "this was not me" link and confirms.
    page.goto(mailed_link(mailbox, provider, email, "アカウント情報変更のお知らせ"))
    page.locator("#not-me-form").wait_for()
    snap("not-me")
    assert page.locator("#before").inner_text().strip() == email
    assert page.locator("#after").inner_text().strip() == their_email
    click_and_wait(page, "#submit")
    page.locator("#done").wait_for()
    snap("not-me-done")
    assert heading(page) == "変更を取り消しました。"
    assert email in page.locator("#reset-sent").inner_text()

    # Their browser was signed out: the menu asks for a sign-in again.
    them.goto(provider.url + "/account")
    them.locator("#password-form").wait_for()
    their_snap("their-menu-signed-out")

    # The reset link mailed to the restored address sets the owner's new password (K3).
    page.goto(mailed_link(mailbox, provider, email, "パスワードリセット"))
    page.locator("#password").wait_for()
    snap("reset-form")
    fill_password(page, OWN_PASSWORD, OWN_PASSWORD)
    click_and_wait(page, "#submit")
    page.locator("#done").wait_for()
    snap("reset-done")

    # The other person's address and password no longer sign in; the owner's do.
    open_login_from_frontend(page, frontend, provider, as_shot(snap), "frontend")
    submit_password(page, their_email, THEIR_PASSWORD)
    snap("their-address-refused")
    assert "正しくありません" in page.locator("#error").inner_text()
    submit_password(page, email, OWN_PASSWORD)
    wait_signed_in(page, frontend)
    snap("frontend-claims")
    assert page.locator("#user-email").inner_text() == email
    assert claim(page, "sub") == user_id
