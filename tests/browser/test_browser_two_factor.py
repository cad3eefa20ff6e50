"""L4, L5, L6, L3/X2, X1 in real Chromium: two-step verification from the storage frontend.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/``.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pyotp
import pytest

from tests.browser.flows import add_virtual_authenticator
from tests.browser.flows import assert_fits_width
from tests.browser.flows import assert_japanese_page
from tests.browser.flows import assert_two_factor_claims
from tests.browser.flows import claim
from tests.browser.flows import click_and_wait
from tests.browser.flows import confirm_recovery_code
from tests.browser.flows import enroll_phone
from tests.browser.flows import on_path
from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import read_recovery_code
from tests.browser.flows import run_webauthn
from tests.browser.flows import sign_in_again
from tests.browser.flows import sign_out_at_frontend
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.conftest import PASSWORD

#: The same xdist group as the other browser tests: one Chromium, one provider, one frontend.
pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}


def test_L4_L6_sms_enrollment_in_the_browser(context_factory, browser_provider, frontend, shot):
    contract = browser_provider.new_contract(two_factor=True)
    user_id, email = browser_provider.new_user(contract)
    page = context_factory(**PHONE).new_page()
    open_login_from_frontend(page, frontend, browser_provider, shot)
    shot(page, "login")
    submit_password(page, email, PASSWORD)

    # L4: SMS first, in Japanese; "remember this browser" ticked with the code.
    enroll_phone(page, browser_provider, shot, remember=True)
    recovery = read_recovery_code(page, browser_provider, shot)
    assert_fits_width(page)

    # "I saved it" is required: the browser keeps the form (the box is `required`) ...
    page.click("#submit")
    assert page.evaluate("() => !document.getElementById('saved').validity.valid")
    on_path(page, browser_provider, "/login/2fa/recovery-code")
    # ... and so does the provider when the browser does not check (the same code, an error).
    page.evaluate("() => document.getElementById('saved').removeAttribute('required')")
    with page.expect_navigation() as navigation:
        page.click("#submit")
    assert navigation.value is not None and navigation.value.status == 400
    page.locator("#error").wait_for()
    shot(page, "recovery-code-not-ticked")
    assert "チェックを入れてください" in page.locator("#error").inner_text()
    assert page.locator("#recovery-code").inner_text().strip() == recovery
    confirm_recovery_code(page, shot)

    wait_signed_in(page, frontend)
    shot(page, "frontend-claims")
    assert_two_factor_claims(page, user_id, email, ["pwd", "sms", "mfa"])
    assert page.context.cookies(browser_provider.url + "/")  # the remembered-browser cookie

    # L3/X2: signed out, then in again in the same browser: no second step, amr "pwd" only.
    sign_out_at_frontend(page, frontend, shot)
    sign_in_again(page, frontend, browser_provider, email, shot)
    wait_signed_in(page, frontend)
    shot(page, "frontend-claims-remembered")
    assert claim(page, "sub") == user_id
    assert claim(page, "amr") == ["pwd"]


def test_L5_L6_authenticator_app_enrollment_then_its_challenge(
    context_factory, browser_provider, frontend, shot
):
    contract = browser_provider.new_contract(two_factor=True)
    user_id, email = browser_provider.new_user(contract)
    page = context_factory(**DESKTOP).new_page()
    open_login_from_frontend(page, frontend, browser_provider, shot)
    shot(page, "login")
    submit_password(page, email, PASSWORD)
    on_path(page, browser_provider, "/login/2fa/enroll/sms")
    shot(page, "enroll-sms")

    click_and_wait(page, "#use-app")
    on_path(page, browser_provider, "/login/2fa/enroll/app")
    page.locator("#code-form").wait_for()
    assert_japanese_page(page)
    assert page.locator("h1").inner_text().strip() == "認証アプリの設定"
    qr = page.locator("#qr")
    assert qr.is_visible()
    assert page.evaluate(
        "() => { const img = document.getElementById('qr');"
        " return img.complete && img.naturalWidth > 0 && img.naturalHeight > 0; }"
    ), "the QR code image did not render"
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 150 and box["height"] >= 150, box
    assert not page.locator("#secret").is_visible()  # inside the closed <details>
    shot(page, "enroll-app-qr")

    page.click("details summary")
    page.locator("#secret").wait_for(state="visible")
    shot(page, "enroll-app-key-shown")
    secret = page.locator("#secret").inner_text().strip()
    uri = page.locator("#otpauth-uri").inner_text().strip()
    assert uri.startswith("otpauth://totp/WORKSDRIVE:") and f"secret={secret}" in uri, uri

    enrollment_code = pyotp.TOTP(secret).now()
    page.fill("#code", enrollment_code)
    click_and_wait(page, "#submit")
    read_recovery_code(page, browser_provider, shot)
    confirm_recovery_code(page, shot)

    wait_signed_in(page, frontend)
    shot(page, "frontend-claims")
    assert_two_factor_claims(page, user_id, email, ["pwd", "otp", "mfa"])

    # L6: a later sign-in asks the app's code (the app computes it from the secret shown).
    sign_out_at_frontend(page, frontend, shot)
    sign_in_again(page, frontend, browser_provider, email, shot)
    on_path(page, browser_provider, "/login/2fa/app")
    page.locator("#code-form").wait_for()
    shot(page, "app-challenge")
    assert_japanese_page(page)
    assert page.locator("h1").inner_text().strip() == "認証アプリ"
    assert page.locator("#lost-device").is_visible()
    # The code used at enrollment is refused (a code works once; or, a minute later, old).
    page.fill("#code", enrollment_code)
    with page.expect_navigation() as navigation:
        page.click("#submit")
    assert navigation.value is not None and navigation.value.status == 400
    shot(page, "app-code-used-again")
    assert page.locator("#error").is_visible()
    # The app's next code (±1 step is accepted, and no later step was used yet).
    page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))
    click_and_wait(page, "#submit")
    wait_signed_in(page, frontend)
    shot(page, "frontend-claims-app-challenge")
    assert_two_factor_claims(page, user_id, email, ["pwd", "otp", "mfa"])


def test_X1_passkey_with_chromium_virtual_authenticator(
    context_factory, passkey_provider, passkey_frontend, shot
):
    provider, frontend = passkey_provider, passkey_frontend
    contract = provider.new_contract(two_factor=True)
    user_id, email = provider.new_user(contract)
    context = context_factory(**DESKTOP)
    page = context.new_page()
    cdp, authenticator = add_virtual_authenticator(context, page)

    open_login_from_frontend(page, frontend, provider, shot)
    shot(page, "login")
    submit_password(page, email, PASSWORD)
    enroll_phone(page, provider, shot, remember=False)
    recovery = read_recovery_code(page, provider, shot)

    # X1: register a passkey from the recovery code page.
    click_and_wait(page, "#add-passkey")
    on_path(page, provider, "/login/2fa/passkey/add")
    page.locator("#webauthn-form").wait_for()
    shot(page, "add-passkey")
    assert_japanese_page(page)
    page.fill("#name", "Chromium virtual key")
    run_webauthn(page, shot, "add-passkey")
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(credentials["credentials"]) == 1, credentials
    assert credentials["credentials"][0]["rpId"] == urlsplit(provider.url).hostname

    # Back on the recovery code page, the same code; tick and continue.
    again = read_recovery_code(page, provider, shot, "recovery-code-after-passkey")
    assert again == recovery
    confirm_recovery_code(page, shot)
    wait_signed_in(page, frontend)
    shot(page, "frontend-claims-sms")
    assert_two_factor_claims(page, user_id, email, ["pwd", "sms", "mfa"])

    # A new sign-in (same page: the virtual key belongs to this CDP target): the SMS step
    # offers the passkey.
    sign_out_at_frontend(page, frontend, shot)
    sign_in_again(page, frontend, provider, email, shot)
    on_path(page, provider, "/login/2fa/sms")
    page.locator("#use-passkey").wait_for()
    shot(page, "second-step-sms")
    click_and_wait(page, "#use-passkey")
    on_path(page, provider, "/login/2fa/passkey")
    page.locator("#webauthn-form").wait_for()
    shot(page, "second-step-passkey")
    assert_japanese_page(page)
    run_webauthn(page, shot, "passkey")

    wait_signed_in(page, frontend)
    shot(page, "frontend-claims-passkey")
    assert_two_factor_claims(page, user_id, email, ["pwd", "hwk", "mfa"])
    used = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert used["credentials"][0]["signCount"] >= 1
