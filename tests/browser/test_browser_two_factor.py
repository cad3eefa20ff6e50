"""L4, L5, L6, L3/X2, X1 in real Chromium: two-step verification from the storage frontend.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/``.
"""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
from playwright.sync_api import Error as PlaywrightError

from idp.sms import list_outbox
from tests.browser.test_browser_login import claim
from tests.browser.test_browser_login import open_login_from_frontend
from tests.browser.test_browser_login import submit_password
from tests.browser.test_browser_login import wait_signed_in
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
ACR_2FA = "urn:worksdrive:acr:2fa"
RECOVERY_CODE = re.compile(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){3}")
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def new_phone() -> tuple[str, str]:
    """A unique 090 number (as typed, and in E.164): the send limit is 5 per number and hour."""
    digits = f"{1 + secrets.randbelow(9)}{secrets.randbelow(10**7):07d}"
    return f"090-{digits[:4]}-{digits[4:]}", f"+8190{digits}"


def sms_code(provider: Any, to: str) -> str:
    """The 6-digit code of the newest SMS to ``to`` in the provider's outbox."""
    # The outbox gateway writes the SMS in the request that sends it; the page showing the
    # code form is that request's answer, so the SMS is there (no waiting).
    instance_dir = Path(provider.app.extensions["idp.settings"].instance_dir)
    for message in list_outbox(instance_dir):
        if message["to"] == to:
            found = re.search(r"\b(\d{6})\b", message["text"])
            assert found, message
            return found.group(1)
    raise AssertionError(f"no SMS to {to}")


def on_path(page: Any, provider: Any, path: str) -> None:
    page.wait_for_url(re.compile("^" + re.escape(provider.url + path) + r"(\?.*)?$"))


def assert_japanese_page(page: Any) -> None:
    assert page.get_attribute("html", "lang") == "ja"
    assert JAPANESE.search(page.locator("h1").inner_text()), page.locator("h1").inner_text()


def assert_fits_width(page: Any) -> None:
    """No horizontal scrolling (phone viewports)."""
    sizes = page.evaluate(
        "() => ({scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth})"
    )
    assert sizes["scroll"] <= sizes["inner"], (page.url, sizes)


def click_and_wait(page: Any, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


def enroll_phone(page: Any, provider: Any, shot: Any, remember: bool) -> None:
    """L4: the SMS enrollment page → phone number → code (→ remember) → recovery code page."""
    on_path(page, provider, "/login/2fa/enroll/sms")
    page.locator("#phone-form").wait_for()
    shot(page, "enroll-sms")
    assert_japanese_page(page)
    assert page.locator("h1").inner_text().strip() == "2段階認証の設定"
    assert page.locator("#sms-help").is_visible() and page.locator("#use-app").is_visible()
    assert_fits_width(page)

    typed, e164 = new_phone()
    page.fill("#phone", typed)
    click_and_wait(page, "#submit")
    on_path(page, provider, "/login/2fa/sms")
    page.locator("#code-form").wait_for()
    shot(page, "sms-code-sent")
    assert_japanese_page(page)
    masked = page.locator("#masked-phone").inner_text()
    assert e164[-4:] in masked and e164[3:-4] not in masked.replace("-", ""), masked
    assert_fits_width(page)

    page.fill("#code", sms_code(provider, e164))
    if remember:
        page.check("#remember")
    shot(page, "sms-code-entered")
    click_and_wait(page, "#submit")


def read_recovery_code(page: Any, provider: Any, shot: Any, what: str = "recovery-code") -> str:
    on_path(page, provider, "/login/2fa/recovery-code")
    page.locator("#saved-form").wait_for()
    shot(page, what)
    assert_japanese_page(page)
    code = page.locator("#recovery-code").inner_text().strip()
    assert RECOVERY_CODE.fullmatch(code), code
    assert page.locator("#recovery-code").is_visible()
    return code


def confirm_recovery_code(page: Any, shot: Any) -> None:
    page.check("#saved")
    shot(page, "recovery-code-saved-ticked")
    click_and_wait(page, "#submit")


def sign_out_at_frontend(page: Any, frontend: Any, shot: Any) -> None:
    page.click("#logout")
    page.wait_for_url(re.compile("^" + re.escape(frontend.url) + r"/(\?.*)?$"))
    page.locator("#signed-out").wait_for()
    shot(page, "frontend-signed-out")


def sign_in_again(page: Any, frontend: Any, provider: Any, email: str, shot: Any) -> None:
    """From the signed-out frontend: Sign in → the password page (the provider session ended)."""
    with page.expect_navigation(url=re.compile("^" + re.escape(provider.url) + r"/login\b")):
        page.click("#signin")
    page.locator("#password-form").wait_for()
    shot(page, "login-again")
    submit_password(page, email, PASSWORD)


def assert_two_factor_claims(page: Any, user_id: str, email: str, amr: list[str]) -> None:
    assert page.locator("#user-email").inner_text() == email
    assert claim(page, "sub") == user_id
    assert claim(page, "amr") == amr
    assert claim(page, "acr") == ACR_2FA


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


def test_L5_authenticator_app_enrollment_in_the_browser(
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

    page.fill("#code", pyotp.TOTP(secret).now())
    click_and_wait(page, "#submit")
    read_recovery_code(page, browser_provider, shot)
    confirm_recovery_code(page, shot)

    wait_signed_in(page, frontend)
    shot(page, "frontend-claims")
    assert_two_factor_claims(page, user_id, email, ["pwd", "otp", "mfa"])


def add_virtual_authenticator(context: Any, page: Any) -> Any:
    """Chromium's virtual CTAP2 authenticator (CDP WebAuthn) for this page's target."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def run_webauthn(page: Any, shot: Any, what: str) -> None:
    """Press #webauthn-start; webauthn.js runs the ceremony and posts the form.

    Fails with the page's #webauthn-error text (and a screenshot) when the browser refuses.
    """
    page.locator("#webauthn-form").wait_for()
    start = page.url
    page.click("#webauthn-start")
    error = page.locator("#webauthn-error")
    deadline = time.monotonic() + 10
    while page.url == start:
        try:
            refused = error.is_visible() and error.inner_text()
        except PlaywrightError:  # the page is navigating away: the form was posted
            refused = ""
        if refused:
            shot(page, what + "-refused")
            pytest.fail(f"WebAuthn refused on {start}: {refused!r}", pytrace=False)
        assert time.monotonic() < deadline, "the WebAuthn ceremony did not finish"
        page.wait_for_timeout(50)
    page.wait_for_load_state()


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
