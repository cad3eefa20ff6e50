"""Mails, issue 14: the language chosen at the service's sign-in (``ui_locales`` or the
switch) is kept on "Forgot your password?", in the mail it sends and on the mailed link's
page; a link page follows the browser's remembered choice, else the account's language;
mails the person did not ask for just now keep the account's language. Driven like a
browser against the served provider, with the real SMTP sink."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.test_account_menu import account_sign_in
from tests.test_email_change import ask_by_cli_path
from tests.test_email_change import ask_in_menu
from tests.test_email_change import new_address

RESET_EN = "[WORKSDRIVE] Password reset"
RESET_JA = "【WORKSDRIVE】パスワードリセット"
CHANGE_EN = "[WORKSDRIVE] Confirm your new email address"
CHANGE_JA = "【WORKSDRIVE】メールアドレス変更登録"


def _forgot_from_login(browser, login_page, email):
    """Follow the sign-in page's "Forgot your password?" link and send the form."""
    assert 'id="forgot"' in login_page.text
    forgot = browser.get("/password/forgot")
    return forgot, browser.submit(forgot, email=email)


def _mail_and_link(mailbox, email, subject):
    mail = mailbox.wait_for(to=email, subject_contains=subject[-8:])
    assert mail["Subject"] == subject
    return mail, [u for u in mailbox.links_in(mail) if "/links/" in u][0]


@pytest.mark.covers("K3")
def test_K3_ui_locales_en_is_kept_on_forgot_password_its_mail_and_the_link_page(
    provider, rp, mailbox
):
    _user_id, email = provider.new_user(locale="ja")
    browser = Browser(provider.url)
    login = browser.get(rp.authorize_url(ui_locales="en"))
    assert '<html lang="en">' in login.text and "Forgot your password?" in login.text
    forgot, sent = _forgot_from_login(browser, login, email)
    assert "Reset your password" in forgot.text and "パスワードのリセット" not in forgot.text
    assert "Check your mail" in sent.text
    mail, link = _mail_and_link(mailbox, email, RESET_EN)
    assert "reset the password" in mailbox.text_of(mail)
    page = browser.get(link)
    assert '<html lang="en">' in page.text and "Set a new password" in page.text


@pytest.mark.covers("K3")
def test_K3_the_switch_to_english_is_kept_the_same_way(provider, rp, mailbox):
    _user_id, email = provider.new_user(locale="ja")
    browser = Browser(provider.url)
    japanese = browser.get(rp.authorize_url())
    assert '<html lang="ja">' in japanese.text
    english = browser.get(
        re.findall(r'id="lang-en"[^>]* href="([^"]+)"', japanese.text)[0].replace("&amp;", "&")
    )
    assert '<html lang="en">' in english.text
    forgot, _sent = _forgot_from_login(browser, english, email)
    assert "Reset your password" in forgot.text
    _mail, link = _mail_and_link(mailbox, email, RESET_EN)
    assert "Set a new password" in browser.get(link).text


@pytest.mark.covers("K3")
def test_K3_japanese_stays_the_default(provider, rp, mailbox):
    """Nothing chosen: the sign-in, the forgot-password page, its mail and the link's page
    are Japanese, and no language cookie is set."""
    _user_id, email = provider.new_user(locale="ja")
    browser = Browser(provider.url)
    login = browser.get(rp.authorize_url())
    assert '<html lang="ja">' in login.text
    forgot, sent = _forgot_from_login(browser, login, email)
    assert "パスワードのリセット" in forgot.text and "メールをご確認ください" in sent.text
    _mail, link = _mail_and_link(mailbox, email, RESET_JA)
    assert "新しいパスワードの設定" in browser.get(link).text
    assert "lang" not in browser.session.cookies


@pytest.mark.covers("K3")
def test_K3_a_link_page_follows_the_account_language_when_the_browser_chose_none(
    provider, rp, mailbox
):
    """Another browser (the mail opened on a phone): no remembered choice, so the account's
    stored language decides; a browser that chose Japanese keeps Japanese."""
    _user_id, email = provider.new_user(locale="en")
    browser = Browser(provider.url)
    browser.get(rp.authorize_url(ui_locales="en"))
    _forgot_from_login(browser, browser.last, email)
    _mail, link = _mail_and_link(mailbox, email, RESET_EN)
    assert "Set a new password" in Browser(provider.url).get(link).text
    chose_japanese = Browser(provider.url)
    chose_japanese.get("/?lang=ja")
    assert "新しいパスワードの設定" in chose_japanese.get(link).text


@pytest.mark.covers("M7", "M2")
def test_M7_own_email_change_mails_in_the_page_language_an_admins_in_the_accounts(
    provider, mailbox
):
    contract_id = provider.new_contract(plan="basic", two_factor=False)
    user_id, email = provider.new_user(contract_id, role="contractor", locale="ja")
    browser, _menu = account_sign_in(provider, email, PASSWORD)
    browser.get("/account?lang=en")
    own = new_address()
    _browser, sent = ask_in_menu(provider, email, own, browser=browser)
    assert "Confirmation mail sent" in sent.text
    _mail, link = _mail_and_link(mailbox, own, CHANGE_EN)
    assert "Confirm your new email address" in browser.get(link).text
    # Not asked by the person now (an administrator, the CLI): the account's language.
    by_admin = new_address()
    ask_by_cli_path(provider, user_id, by_admin)
    _mail_and_link(mailbox, by_admin, CHANGE_JA)
