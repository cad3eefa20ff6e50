"""M1, M7, X6 in real Chromium: the contractor changes the email in the account menu, follows
the link mailed to the new address, sets the password, and signs in to the storage frontend
with the new address; the old address's "this was not me" notice has arrived.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

NEW_PASSWORD = "Sora-no-Tori-2028"


def _link(mailbox: Any, to: str, subject: str) -> str:
    mail = mailbox.wait_for(to=to, subject_contains=subject)
    return [u for u in mailbox.links_in(mail) if "/links/" in u][0]


@pytest.mark.covers("M1", "M7", "X6", "U1")
def test_M7_menu_email_change_followed_by_the_mailed_link(
    page, browser_provider, frontend, shot, mailbox
):
    contract_id = browser_provider.new_contract(plan="basic", two_factor=False)
    _user_id, email = browser_provider.new_user(contract_id, role="contractor")
    new_email = f"b-{uuid.uuid4().hex[:10]}@example.jp"

    page.goto(browser_provider.url + "/account/login")
    page.locator("#password-form").wait_for()
    submit_password(page, email, PASSWORD)
    page.wait_for_url(browser_provider.url + "/account")
    with page.expect_navigation():
        page.click('a[data-item="email_change"]')
    assert page.locator("#current-email").inner_text() == email
    shot(page, "email-form")
    page.fill("#new_email", new_email)
    page.fill("#new_email_confirmation", new_email.replace("b-", "c-"))
    with page.expect_navigation():
        page.click("#submit")
    assert "一致しません" in page.locator("#error-new_email_confirmation").inner_text()
    shot(page, "email-mismatch")
    page.fill("#new_email_confirmation", new_email)
    with page.expect_navigation():
        page.click("#submit")
    page.locator("#sent").wait_for()
    shot(page, "email-sent")

    link = _link(mailbox, new_email, "メールアドレス変更登録")
    page.goto(link)
    assert page.locator("#new-email").inner_text() == new_email
    page.locator("#password-rule").wait_for()
    shot(page, "link-confirm")
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password_confirmation", NEW_PASSWORD)
    with page.expect_navigation():
        page.click("#submit")
    page.locator("#done").wait_for()
    assert page.locator("#new-email").inner_text() == new_email
    shot(page, "link-done")

    open_login_from_frontend(page, frontend, browser_provider, shot, "frontend-after-change")
    submit_password(page, email, PASSWORD)
    assert "正しくありません" in page.locator("#error").inner_text()
    shot(page, "old-email-refused")
    submit_password(page, new_email, NEW_PASSWORD)
    wait_signed_in(page, frontend)
    assert page.locator("#user-email").inner_text() == new_email
    shot(page, "frontend-signed-in-with-new-email")
    _link(mailbox, email, "アカウント情報変更のお知らせ")
