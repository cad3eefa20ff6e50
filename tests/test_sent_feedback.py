"""Issue 14, feedback: every button that sends a mail or an SMS leads to a page that says it
was sent, to which address (masked for a phone), and what to do if nothing arrives."""

from __future__ import annotations

import uuid

import pytest

from tests.helpers import Browser
from tests.test_admin_console import signed_in_admin
from tests.test_two_factor import after_password
from tests.test_two_factor import new_phone
from tests.test_two_factor import two_factor_user


@pytest.mark.covers("G3")
@pytest.mark.parametrize("lang", ["ja", "en"])
def test_G3_an_invitation_sent_names_the_address_and_what_to_do(provider, mailbox, lang):
    browser, _contract_id, _admin_id = signed_in_admin(provider)
    email = f"new-{uuid.uuid4().hex[:8]}@example.jp"
    page = browser.get(f"/admin/invitations?lang={lang}")
    done = browser.submit(page, "invite-form", email=email, name="Hanako", role="user", locale=lang)
    assert 'id="sent-to"' in done.text and email in done.text.split('id="sent-to"')[1][:200]
    help_text = done.text.split('id="sent-help"')[1][:600]
    assert ("迷惑メール" if lang == "ja" else "spam folder") in help_text
    resent = browser.submit(done, "resend-1")
    assert 'data-done="resent"' in resent.text and 'id="sent-to"' in resent.text
    # Only a pending invitation of this contract is named: an id from elsewhere names none.
    other = browser.get("/admin/invitations?done=invited&to=0123456789abcdef")
    assert 'id="sent-help"' in other.text and 'id="sent-to"' not in other.text


@pytest.mark.covers("L4")
def test_L4_the_sms_code_page_names_the_masked_number_and_what_to_do(provider, rp):
    _user_id, email = two_factor_user(provider)
    browser = Browser(provider.url)
    phone, to = new_phone()
    page = browser.submit(after_password(browser, rp, email), "phone-form", phone=phone)
    assert 'id="code-sent"' in page.text and 'id="code-wait"' in page.text
    masked = page.text.split('id="masked-phone">')[1].split("<")[0]
    assert masked and to[-2:] in masked and to[3:9] not in masked
    assert 'id="send-form"' in page.text and "管理者" in page.text.split('id="code-wait"')[1][:400]


@pytest.mark.covers("K3")
def test_K3_forgot_password_sent_says_what_to_do(provider):
    browser = Browser(provider.url)
    sent = browser.submit(browser.get("/password/forgot?lang=en"), email="nobody@example.jp")
    assert "Check your mail" in sent.text and "spam folder" in sent.text
    assert 'id="send-again"' in sent.text
