"""K2, K3, T2 in real Chromium: "Forgot your password?" from the storage frontend's sign-in,
the same answer for an unknown address, the reset link of the mail the SMTP sink caught, a
weak password refused, the new one set; then the old password is refused, the new one signs
in although the account was locked (K2), and the 2FA registration starts over (T2). And K2
with the clock moved: the lock mail's unlock link, expired, says to reset the password, and
the reset unlocks.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/`` after checking the
page for console errors, script errors and failed requests (``snap``).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from idp.actor import Actor
from idp.models import User
from idp.users.lockout import lock_account
from tests.browser.flows import as_shot
from tests.browser.flows import assert_two_factor_claims
from tests.browser.flows import claim
from tests.browser.flows import click_and_wait
from tests.browser.flows import confirm_recovery_code
from tests.browser.flows import enroll_phone
from tests.browser.flows import enrolled_user
from tests.browser.flows import fill_password
from tests.browser.flows import heading
from tests.browser.flows import new_phone
from tests.browser.flows import on_path
from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import phone_snap
from tests.browser.flows import read_recovery_code
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.browser.test_browser_account_menu import snap as snap  # noqa: F401 (fixture)
from tests.clock import moved_clock
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

NEW_PASSWORD = "Umi-no-Sakana-2028"
WEAK_PASSWORD = "sakana"
WRONG_JA = "メールアドレスまたはパスワードが正しくありません"
LOCKED_JA = "このアカウントはロックされています"
SENT_JA = "パスワードをリセットするためのリンクをメールでお送りしました"


def ask_for_reset(page, provider, snap, email: str, what: str) -> str:
    """The forgot-password page: ``email`` sent; the text of the page that answers."""
    on_path(page, provider, "/password/forgot")
    page.locator("#email").wait_for()
    assert heading(page) == "パスワードのリセット"
    page.fill("#email", email)
    snap(what)
    click_and_wait(page, "#submit")
    page.locator("#sent").wait_for()
    snap(what + "-sent")
    assert heading(page) == "メールをご確認ください"
    return str(page.locator("#sent").inner_text())


@pytest.mark.covers("K2", "K3", "T2", "P2")
def test_K3_forgot_password_mail_new_password_then_only_it_signs_in(
    page, browser_provider, frontend, mailbox, snap
):
    provider = browser_provider
    _phone, e164 = new_phone()
    user_id, email, _code = enrolled_user(provider, "sms", {"phone": e164})
    with provider.app.app_context():
        lock_account(Actor.system("login"), provider.db().session.get(User, user_id))

    # From the service's sign-in page; an unknown address gets the very same answer (K3).
    open_login_from_frontend(page, frontend, provider, as_shot(snap))
    snap("login")
    click_and_wait(page, "#forgot")
    unknown = ask_for_reset(
        page, provider, snap, f"nobody-{uuid.uuid4().hex[:8]}@example.jp", "forgot-unknown"
    )
    page.go_back()
    page.locator("#email").wait_for()
    known = ask_for_reset(page, provider, snap, email, "forgot")
    assert known == unknown and SENT_JA in known

    mail = mailbox.wait_for(to=email, subject_contains="パスワードリセット")
    assert mail["Subject"] == "【WORKSDRIVE】パスワードリセット"
    (link,) = [u for u in mailbox.links_in(mail) if u.startswith(provider.url + "/links/")]

    # P2: a weak password is refused with the rule it breaks; then the new one is set.
    page.goto(link)
    page.locator("#password").wait_for()
    snap("reset-form")
    phone_snap(page, snap, "reset-form")
    assert heading(page) == "新しいパスワードの設定"
    assert email in page.locator("main").inner_text()
    fill_password(page, WEAK_PASSWORD, WEAK_PASSWORD)
    with page.expect_navigation() as navigation:
        page.click("#submit")
    assert navigation.value is not None and navigation.value.status == 400
    snap("reset-weak-password")
    assert "8文字以上" in page.locator("main").inner_text()
    assert page.input_value("#password") == ""
    fill_password(page, NEW_PASSWORD, NEW_PASSWORD)
    click_and_wait(page, "#submit")
    page.locator("#done").wait_for()
    snap("reset-done")
    phone_snap(page, snap, "reset-done")
    assert heading(page) == "パスワードを変更しました。"
    assert NEW_PASSWORD not in page.content()

    # The old password is refused; the new one signs in (the lock is gone, K2) ...
    open_login_from_frontend(page, frontend, provider, as_shot(snap), "frontend-after-reset")
    submit_password(page, email, PASSWORD)
    snap("old-password-refused")
    assert WRONG_JA in page.locator("#error").inner_text()
    submit_password(page, email, NEW_PASSWORD)
    # ... and the 2FA registration starts again from the SMS enrollment (T2).
    enroll_phone(page, provider, as_shot(snap), remember=False)
    read_recovery_code(page, provider, as_shot(snap))
    confirm_recovery_code(page, as_shot(snap))
    wait_signed_in(page, frontend)
    snap("frontend-claims")
    assert_two_factor_claims(page, user_id, email, ["pwd", "sms", "mfa"])


@pytest.mark.covers("K1", "K2", "K3", "X4")
def test_K2_an_expired_unlock_link_says_to_reset_and_the_reset_unlocks(
    page, browser_provider, frontend, mailbox, snap
):
    provider = browser_provider
    user_id, email = provider.new_user()
    with provider.app.app_context():
        lock_account(Actor.system("login"), provider.db().session.get(User, user_id))
    mail = mailbox.wait_for(to=email, subject_contains="アカウントロック")
    (unlock,) = [u for u in mailbox.links_in(mail) if u.startswith(provider.url + "/links/")]

    with moved_clock(provider.app.extensions["idp.store"]) as clock:
        clock.advance(timedelta(days=14, seconds=1).total_seconds())
        # The unlock link has expired: its page says so and points to the reset.
        response = page.goto(unlock)
        assert response is not None and response.status == 400
        snap("unlock-link-expired")
        assert "有効期限（14日間）が切れています" in page.locator("#error").inner_text()
        assert "パスワードをリセット" in page.locator("#unlock-link-advice").inner_text()

        # Still locked at the frontend; "Forgot your password?" → the mail → a new password.
        open_login_from_frontend(page, frontend, provider, as_shot(snap))
        submit_password(page, email, PASSWORD)
        snap("still-locked")
        assert LOCKED_JA in page.locator("#error").inner_text()
        click_and_wait(page, "#forgot")
        ask_for_reset(page, provider, snap, email, "forgot")
        reset = mailbox.wait_for(to=email, subject_contains="パスワードリセット")
        (link,) = [u for u in mailbox.links_in(reset) if u.startswith(provider.url + "/links/")]
        page.goto(link)
        page.locator("#password").wait_for()
        fill_password(page, NEW_PASSWORD, NEW_PASSWORD)
        click_and_wait(page, "#submit")
        page.locator("#done").wait_for()
        snap("reset-done")

        # K2: the reset unlocked the account.
        open_login_from_frontend(page, frontend, provider, as_shot(snap), "frontend-after")
        submit_password(page, email, NEW_PASSWORD)
        wait_signed_in(page, frontend)
        snap("frontend-claims")
        assert claim(page, "sub") == user_id
