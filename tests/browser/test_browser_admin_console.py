"""G1, G2, G3, G5 in real Chromium: the admin console walked as a contractor walks it — from
the account menu's link to the users list (search with a Japanese name, a filter), a user's
detail, an invitation, and the line numbers (a wrong number first). Every page is saved to
``test-artifacts/screenshots/<test-name>/``, the list, detail, invitations and lines pages also
at a 375 px phone width (no horizontal scrolling). Fails on a console error, a script error or
a failed sub-resource, an axe violation or untranslated text (``watched``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.flows import click_and_wait
from tests.browser.flows import heading
from tests.browser.flows import menu_sign_in
from tests.browser.flows import on_path
from tests.browser.flows import phone_snap
from tests.browser.test_browser_account_menu import snap  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _contract(provider: Any) -> tuple[str, str, dict[str, str]]:
    """A contract with its contractor and three users (two named 田中)."""
    contract_id = provider.new_contract(two_factor=False)
    _boss_id, boss_email = provider.new_user(contract_id, role="contractor", name="契約 太郎")
    users = {}
    for name in ("田中 一郎", "田中 花子", "山田 次郎"):
        user_id, _email = provider.new_user(contract_id, name=name)
        users[name] = user_id
    return contract_id, boss_email, users


@pytest.mark.covers("G1", "G2", "G3", "G5", "A2", "U1")
def test_G1_G2_G3_G5_list_detail_invite_and_lines_in_chromium(
    page,
    browser_provider,
    snap,  # noqa: F811 (the account menu walk's fixture, imported above)
    mailbox,
):
    provider = browser_provider
    _contract_id, boss_email, users = _contract(provider)
    menu_sign_in(page, provider, boss_email, snap)
    # U1, G1: the menu links the console for the contractor.
    click_and_wait(page, "#to-admin-console")
    on_path(page, provider, "/admin/users")
    assert "管理コンソール" in page.locator("#console-band").inner_text()
    assert heading(page) == "利用者"
    assert page.locator("#user-count").inner_text().strip() == "4 人"
    snap("users")
    phone_snap(page, snap, "users")

    # G2: search with a Japanese surname, then a filter on top of it.
    page.fill("#q", "田中")
    with page.expect_navigation():
        page.click("#search")
    rows = page.locator("tr.user-row")
    assert rows.count() == 2
    assert page.locator("#user-count").inner_text().strip() == "2 人"
    page.select_option("#sort", "name")
    page.select_option("#order", "desc")
    with page.expect_navigation():
        page.click("#search")
    names = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())]
    assert names == ["田中 花子", "田中 一郎"]
    snap("search")

    # G2: the detail of one of them.
    with page.expect_navigation():
        page.click(f'tr[data-user="{users["田中 花子"]}"] a')
    on_path(page, provider, f"/admin/users/{users['田中 花子']}")
    assert heading(page) == "田中 花子"
    assert page.locator("#login-method").inner_text() == "メールアドレスとパスワード"
    assert page.locator("#no-sign-ins").is_visible()
    snap("detail")
    phone_snap(page, snap, "detail")

    # G3: invite one user.
    click_and_wait(page, "#nav-invitations")
    on_path(page, provider, "/admin/invitations")
    email = f"walk-{uuid.uuid4().hex[:8]}@example.jp"
    page.fill("#email", email)
    page.fill("#name", "招待 三郎")
    page.select_option("#role", "admin")
    snap("invite-form")
    with page.expect_navigation():
        page.click("#invite")
    assert page.locator("#done").inner_text().startswith("招待を送信しました")
    pending = page.locator("tr.invitation")
    assert pending.count() == 1 and email in pending.first.inner_text()
    assert "管理者" in pending.first.inner_text()
    mailbox.wait_for(to=email, subject_contains="利用者登録")
    snap("invited")
    phone_snap(page, snap, "invitations")

    # G5, A2: line numbers; a wrong one first, then the fix (as on NTT's paperwork).
    click_and_wait(page, "#nav-lines")
    on_path(page, provider, "/admin/lines")
    assert page.locator("#current-route").get_attribute("data-route") == "line+internet"
    assert page.locator("#ad-not-configured").is_visible()
    page.fill("#numbers", "CAF-0123-4567-89\nCOP1234")
    with page.expect_navigation():
        page.click("#add")
    error = page.locator("#error")
    assert error.is_visible() and "COP1234 は回線番号ではありません" in error.inner_text()
    assert page.input_value("#numbers") == "CAF-0123-4567-89\nCOP1234"
    # The messages are under the field they are about, which has the focus (issue 14).
    expect(page.locator("#numbers")).to_be_focused()  # autofocus: at its next rendering
    assert page.get_attribute("#numbers", "aria-describedby") == "error-numbers numbers-rule"
    assert "COP1234 は回線番号ではありません" in page.locator("#error-numbers").inner_text()
    snap("lines-error")
    page.fill("#numbers", "CAF-0123-4567-89\nCOP-1234-5678")
    with page.expect_navigation():
        page.click("#add")
    assert page.locator("#done").is_visible()
    numbers = page.locator("li.line")
    assert [numbers.nth(i).get_attribute("data-line") for i in range(numbers.count())] == [
        "CAF0123456789",
        "COP12345678",
    ]
    snap("lines")
    phone_snap(page, snap, "lines")


@pytest.mark.covers("G3")
def test_G3_invitations_from_a_shift_jis_file_in_chromium(
    page,
    browser_provider,
    snap,  # noqa: F811 (the account menu walk's fixture, imported above)
    mailbox,
):
    """The upload form takes an Excel "CSV" (Shift_JIS); the job page refreshes itself until
    the job is done, then shows each row's result and the error report's link."""
    provider = browser_provider
    _contract_id, boss_email, _users = _contract(provider)
    menu_sign_in(page, provider, boss_email, snap)
    page.goto(f"{provider.url}/admin/invitations")
    email = f"file-{uuid.uuid4().hex[:8]}@example.jp"
    text = f"メールアドレス,氏名,権限\r\n{email},一括 四郎,利用者\r\nno-address,誤り,利用者\r\n"
    upload = {"name": "招待.csv", "mimeType": "text/csv", "buffer": text.encode("cp932")}
    page.set_input_files("#file", files=[upload])
    snap("upload-form")
    with page.expect_navigation():
        page.click("#upload")
    assert "/admin/invitation-jobs/" in page.url
    page.wait_for_selector('#job-status[data-status="finished"]', timeout=20_000)
    rows = page.locator("tr.job-row")
    assert rows.count() == 2
    assert "一括 四郎" in rows.nth(0).inner_text() and "招待しました" in rows.nth(0).inner_text()
    assert "メールアドレスの形式が正しくありません" in rows.nth(1).inner_text()
    assert page.locator("#error-report").is_visible()
    mailbox.wait_for(to=email, subject_contains="利用者登録")
    snap("invitation-job")
    phone_snap(page, snap, "invitation-job")
