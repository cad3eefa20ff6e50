"""D1, D2 in real Chromium: the contractor sets the contract's AD FS in the account menu (a
bad issuer first, its message under the field), confirms (the secret is not shown), reads the
connection ID and login URLs on the done page (also at a phone's width) and in the mail.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/``; the test fails on a
console error, a script error, a failed request, an axe violation or untranslated text
(``watched``, tests/browser/conftest.py).
"""

from __future__ import annotations

import re

import pytest

from tests.browser.flows import back_to_menu
from tests.browser.flows import click_and_wait
from tests.browser.flows import contractor
from tests.browser.flows import heading
from tests.browser.flows import menu_sign_in
from tests.browser.flows import open_item
from tests.browser.flows import phone_snap
from tests.browser.test_browser_account_menu import snap as snap  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SUBJECT = "【WORKSDRIVE】Active Directoryアカウントのログイン用URL・接続ID通知"
SECRET = "Browser-Adfs-S3cret-value"


def assert_message_under(page, field_id: str, error_id: str, expected: str) -> None:
    """The field's message is right under the field (not at the top of the page)."""
    error = page.locator(f"#{error_id}")
    assert error.is_visible() and expected in error.inner_text(), error.inner_text()
    follows = page.evaluate("f => document.getElementById(f).nextElementSibling?.id", field_id)
    assert follows == error_id, follows
    field_box = page.locator(f"#{field_id}").bounding_box()
    error_box = error.bounding_box()
    assert field_box and error_box
    assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 40


@pytest.mark.covers("D1", "D2", "U1")
def test_D1_contractor_sets_ad_fs_in_the_menu_and_reads_the_connection_id(
    page, browser_provider, snap, smtp_sink
):
    smtp_sink.clear()
    _contract, _user, email = contractor(browser_provider, "basic")
    menu_sign_in(page, browser_provider, email, snap)
    open_item(page, browser_provider, "ad_setting", "/account/ad")
    page.locator("#adfs-form").wait_for()
    snap("ad-setting")
    assert heading(page) == "Active Directory設定"
    assert page.locator("#not-configured").is_visible()
    assert page.locator("#ldap-form").is_visible()

    # An issuer that is not https: the form again, the message under the issuer.
    page.fill("#adfs-issuer", "http://fs.example.co.jp/adfs")
    page.fill("#adfs-client_id", "worksdrive")
    page.fill("#adfs-secret", SECRET)
    click_and_wait(page, "#adfs-submit")
    snap("ad-setting-bad-issuer")
    assert_message_under(page, "adfs-issuer", "error-issuer", "https:// で始まる")
    assert page.input_value("#adfs-issuer") == "http://fs.example.co.jp/adfs"
    assert page.input_value("#adfs-secret") == ""  # the secret is never sent back

    page.fill("#adfs-issuer", "https://fs.example.co.jp/adfs")
    page.fill("#adfs-secret", SECRET)
    click_and_wait(page, "#adfs-submit")
    page.locator("#ad-confirm-form").wait_for()
    snap("ad-setting-confirm")
    assert heading(page) == "Active Directory 設定の確認"
    assert page.locator("#summary-issuer").inner_text() == "https://fs.example.co.jp/adfs"
    assert "表示しません" in page.locator("#summary-secret").inner_text()
    assert SECRET not in page.content()

    click_and_wait(page, "#submit")
    page.locator("#done").wait_for()
    snap("ad-setting-done")
    connection_id = page.locator("#connection-id").inner_text().strip()
    assert re.fullmatch(r"adfs-[a-z0-9]{18}", connection_id)
    internet = page.locator("#internet-url").inner_text().strip()
    assert internet == f"{browser_provider.url}/login/ad/{connection_id}"
    phone_snap(page, snap, "ad-setting-done")

    mail = smtp_sink.wait_for(to=email, subject_contains="Active Directory")
    assert mail["Subject"] == SUBJECT
    assert connection_id in smtp_sink.text_of(mail) and internet in smtp_sink.text_of(mail)

    back_to_menu(page, browser_provider)
    open_item(page, browser_provider, "ad_setting", "/account/ad")
    assert page.locator("#current-setting").get_attribute("data-kind") == "adfs"
    assert page.locator("#connection-id").inner_text().strip() == connection_id
    phone_snap(page, snap, "ad-setting-current")
