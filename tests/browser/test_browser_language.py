"""K3 and issue 14 in real Chromium: English chosen at the service's sign-in (``ui_locales=en``
from the storage frontend, or the switch) is kept on "Forgot your password?", in the mail it
sends, on the mailed link's page and its done page, whose "Go to WORKSDRIVE" link leads on;
without a choice everything stays Japanese. Fails on a console error, a script error or a
failed request, an axe violation or untranslated text (``watched``,
tests/browser/conftest.py)."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

NEW_PASSWORD = "Fresh-Start-2026"


def _go(page: Any, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


def _reset_link(mailbox: Any, provider: Any, email: str, subject: str) -> str:
    mail = mailbox.wait_for(to=email, subject_contains=subject)
    links = [u for u in mailbox.links_in(mail) if u.startswith(provider.url + "/links/")]
    assert len(links) == 1, mailbox.links_in(mail)
    return links[0]


@pytest.mark.covers("K3")
@pytest.mark.parametrize("how", ["ui_locales", "switch", "default"])
def test_K3_the_language_chosen_is_kept_through_forgot_password_and_its_link(
    page, browser_provider, frontend, mailbox, shot, how
):
    _user_id, email = browser_provider.new_user(locale="ja")
    lang = "ja" if how == "default" else "en"
    query = "?ui_locales=en" if how == "ui_locales" else ""
    page.goto(f"{frontend.url}/login{query}")
    page.wait_for_url(re.compile("^" + re.escape(browser_provider.url) + r"/authorize\b"))
    if how == "switch":
        _go(page, "#lang-en")
    assert page.get_attribute("html", "lang") == lang
    shot(page, f"login-{how}")

    _go(page, "#forgot")
    assert page.get_attribute("html", "lang") == lang
    heading = page.inner_text("h1")
    assert heading == ("Reset your password" if lang == "en" else "パスワードのリセット")
    page.fill("#email", email)
    _go(page, "#submit")
    assert page.locator("#no-mail").is_visible() and page.locator("#send-again").is_visible()
    shot(page, f"forgot-sent-{how}")

    subject = "Password reset" if lang == "en" else "パスワードリセット"
    page.goto(_reset_link(mailbox, browser_provider, email, subject))
    assert page.get_attribute("html", "lang") == lang
    assert page.inner_text("h1") == (
        "Set a new password" if lang == "en" else "新しいパスワードの設定"
    )
    page.fill("#password", NEW_PASSWORD)
    page.fill("#password_confirmation", NEW_PASSWORD)
    _go(page, "#submit")
    assert page.locator("#done").is_visible() and page.get_attribute("html", "lang") == lang
    shot(page, f"reset-done-{how}")

    _go(page, "#to-service")
    assert page.url.rstrip("/") == browser_provider.url
    assert page.get_attribute("html", "lang") == lang
