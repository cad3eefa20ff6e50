"""G6, X3 in real Chromium: the contract's audit log walked as a contractor walks it — from the
console's menu, a wrong password shown with its reason in words and its rules, a filter by
reason code, and "Download CSV" saving a file Excel reads as UTF-8 (the BOM) with the same
filters; a filter naming nobody is said under it, which has the focus (issue 14). Saved to
``test-artifacts/screenshots/<test-name>/``, also at a 375 px phone width."""

from __future__ import annotations

import csv
import io

import pytest
from playwright.sync_api import expect

from tests.browser.flows import click_and_wait
from tests.browser.flows import heading
from tests.browser.flows import menu_sign_in
from tests.browser.flows import on_path
from tests.browser.flows import phone_snap
from tests.browser.test_browser_account_menu import snap  # noqa: F401
from tests.conftest import PASSWORD
from tests.helpers import Browser

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


@pytest.mark.covers("G6", "X3")
def test_G6_X3_the_audit_log_filtered_and_downloaded_in_chromium(
    page,
    browser_provider,
    snap,  # noqa: F811 (the account menu walk's fixture, imported above)
):
    provider = browser_provider
    contract_id = provider.new_contract(two_factor=False)
    _boss_id, boss_email = provider.new_user(contract_id, role="contractor", name="契約 太郎")
    user_id, email = provider.new_user(contract_id, name="田中 一郎")
    # A wrong password at the account menu's sign-in: a refusal with its reason code.
    browser = Browser(provider.url)
    login = browser.get("/account")
    browser.submit(login, "password-form", email=email, password=PASSWORD + "x")
    menu_sign_in(page, provider, boss_email, snap)
    click_and_wait(page, "#to-admin-console")
    click_and_wait(page, "#nav-audit")
    on_path(page, provider, "/admin/audit")
    assert heading(page) == "監査ログ"
    refused = page.locator('tr.event-row[data-reason="wrong_password"]')
    assert refused.count() == 1
    text = refused.first.inner_text()
    assert "パスワードが誤っていました。" in text and "L2, K1" in text and user_id in text
    snap("audit")
    phone_snap(page, snap, "audit")

    page.fill("#reason", "wrong_password")
    with page.expect_navigation():
        page.click("#search")
    assert page.locator("tr.event-row").count() == 1
    with page.expect_download() as download_info:
        page.click("#download-csv")
    download = download_info.value
    assert download.suggested_filename.startswith(f"audit-{contract_id}-")
    body = open(download.path(), "rb").read()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"))))
    assert [(r["event"], r["reason"], r["user_id"]) for r in rows] == [
        ("login", "wrong_password", user_id)
    ]

    # A user filter naming nobody of the contract: the message under that field, which is
    # invalid and has the focus when the page comes back (issue 14), listed in the summary.
    page.fill("#user", "nobody-here@example.jp")
    with page.expect_navigation():
        page.click("#search")
    expect(page.locator("#user")).to_be_focused()  # autofocus: at its next rendering
    assert page.get_attribute("#user", "aria-invalid") == "true"
    assert page.get_attribute("#user", "aria-describedby") == "error-user"
    assert "この契約にいません" in page.locator("#error-user").inner_text()
    assert "この契約にいません" in page.locator("#error[role=alert]").inner_text()
    assert page.locator("tr.event-row").count() == 0
    snap("audit-unknown-user")
