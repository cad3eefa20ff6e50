"""L3, L6 in real Chromium: a later sign-in of a user whose enrollment exists — the SMS code
read from the outbox (a wrong one first), then "Lost your device?" with the recovery code as
copied, a new recovery code to confirm, and the old one refused at the next sign-in.

(The authenticator app's and the passkey's challenges are walked after their enrollment in
test_browser_two_factor.py.) Every page visited is saved to
``test-artifacts/screenshots/<test-name>/`` after checking the page for console errors, script
errors and failed requests (``snap``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.browser.flows import RECOVERY_CODE
from tests.browser.flows import as_shot
from tests.browser.flows import assert_japanese_page
from tests.browser.flows import assert_two_factor_claims
from tests.browser.flows import claim
from tests.browser.flows import click_and_wait
from tests.browser.flows import confirm_recovery_code
from tests.browser.flows import heading
from tests.browser.flows import on_path
from tests.browser.flows import phone_snap
from tests.browser.flows import read_recovery_code
from tests.browser.flows import sign_in_again
from tests.browser.flows import sign_out_at_frontend
from tests.browser.flows import sms_challenge
from tests.browser.flows import sms_code
from tests.browser.flows import wait_signed_in
from tests.browser.test_browser_account_menu import snap as snap  # noqa: F401 (fixture)
from tests.clock import moved_clock

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def as_copied(code: str) -> str:
    """The recovery code as a person may type it from paper: lower case, spaces for hyphens."""
    return " ".join(code.lower().split("-"))


def lost_device(page: Any, provider: Any, snap: Any, code: str) -> None:
    """From the challenge: "Lost your device?" → the recovery code page → ``code`` sent."""
    click_and_wait(page, "#lost-device")
    on_path(page, provider, "/login/2fa/recovery")
    page.locator("#code-form").wait_for()
    snap("recovery-entry")
    phone_snap(page, snap, "recovery-entry")
    assert_japanese_page(page)
    assert heading(page) == "リカバリーコードでログイン"
    page.fill("#code", code)
    click_and_wait(page, "#submit")


@pytest.mark.covers("L3", "L6")
def test_L6_sms_challenge_then_lost_device_with_the_recovery_code(
    page, browser_provider, frontend, snap
):
    provider = browser_provider
    # L3/L6: the password, then the SMS step of the enrolled number; no code sent on GET.
    user_id, email, first_code, typed_phone, e164 = sms_challenge(page, frontend, provider, snap)
    page.locator("#send-form").wait_for()
    snap("sms-challenge")
    phone_snap(page, snap, "sms-challenge")
    assert_japanese_page(page)
    assert heading(page) == "SMS認証"
    assert page.locator("#code-form").count() == 0
    assert e164[-4:] in page.locator("#masked-phone").inner_text()
    assert typed_phone not in page.content()
    assert page.locator("#lost-device").is_visible()
    click_and_wait(page, "#send")
    page.locator("#code-form").wait_for()
    snap("sms-code-sent")
    assert page.locator("#code-sent").is_visible()
    code = sms_code(provider, e164)

    # A wrong code is refused on the same page; the right one signs in (not remembered).
    page.fill("#code", "000000" if code != "000000" else "111111")
    with page.expect_navigation() as navigation:
        page.click("#submit")
    assert navigation.value is not None and navigation.value.status == 400
    snap("sms-wrong-code")
    assert "正しくありません" in page.locator("#error").inner_text()
    page.fill("#code", code)
    assert not page.is_checked("#remember")
    click_and_wait(page, "#submit")
    wait_signed_in(page, frontend)
    snap("frontend-claims-sms")
    assert_two_factor_claims(page, user_id, email, ["pwd", "sms", "mfa"])

    # L6: the next sign-in asks again (the browser was not remembered); the device is lost.
    sign_out_at_frontend(page, frontend, as_shot(snap))
    sign_in_again(page, frontend, provider, email, as_shot(snap))
    on_path(page, provider, "/login/2fa/sms")
    snap("sms-challenge-again")
    lost_device(page, provider, snap, as_copied(first_code))
    second_code = read_recovery_code(page, provider, as_shot(snap), "new-recovery-code")
    assert second_code != first_code
    confirm_recovery_code(page, as_shot(snap))
    wait_signed_in(page, frontend)
    snap("frontend-claims-recovery")
    assert_two_factor_claims(page, user_id, email, ["pwd", "otp", "mfa"])

    # The old code never works again; the new one does (and is replaced in turn).
    sign_out_at_frontend(page, frontend, as_shot(snap))
    sign_in_again(page, frontend, provider, email, as_shot(snap))
    on_path(page, provider, "/login/2fa/sms")
    lost_device(page, provider, snap, first_code)
    on_path(page, provider, "/login/2fa/recovery")
    snap("old-recovery-code-refused")
    assert "正しくありません" in page.locator("#error").inner_text()
    page.fill("#code", second_code)
    click_and_wait(page, "#submit")
    third_code = read_recovery_code(page, provider, as_shot(snap), "third-recovery-code")
    assert RECOVERY_CODE.fullmatch(third_code) and third_code not in (first_code, second_code)
    confirm_recovery_code(page, as_shot(snap))
    wait_signed_in(page, frontend)
    snap("frontend-claims-second-recovery")
    assert_two_factor_claims(page, user_id, email, ["pwd", "otp", "mfa"])


@pytest.mark.covers("L3", "L6", "X2")
def test_L3_a_remembered_browser_skips_the_code_until_30_days_have_passed(
    page, browser_provider, frontend, snap
):
    provider = browser_provider
    # The SMS challenge with "remember this browser" ticked.
    user_id, email, _code, _typed, e164 = sms_challenge(page, frontend, provider, snap)
    click_and_wait(page, "#send")
    page.fill("#code", sms_code(provider, e164))
    page.check("#remember")
    snap("sms-code-remember")
    click_and_wait(page, "#submit")
    wait_signed_in(page, frontend)
    assert_two_factor_claims(page, user_id, email, ["pwd", "sms", "mfa"])

    sign_out_at_frontend(page, frontend, as_shot(snap))
    with moved_clock(provider.app.extensions["idp.store"]) as clock:
        # 29 days later: the password alone in this browser.
        clock.advance(timedelta(days=29).total_seconds())
        sign_in_again(page, frontend, provider, email, as_shot(snap))
        wait_signed_in(page, frontend)
        snap("frontend-claims-remembered")
        assert claim(page, "amr") == ["pwd"]
        # Signed out now (31 days on, the frontend's own session would have lapsed), then
        # more than 30 days after the browser's last use: the code is asked again (L3).
        sign_out_at_frontend(page, frontend, as_shot(snap))
        clock.advance(timedelta(days=31).total_seconds())
        sign_in_again(page, frontend, provider, email, as_shot(snap))
        on_path(page, provider, "/login/2fa/sms")
        page.locator("#send-form").wait_for()
        snap("sms-challenge-after-31-days")
