"""M1, M2, M7, T2, X2, X4, X6, X7: the email change through a link mailed to the new address,
and the "this was not me" link mailed to the old one, driven like a browser and a relying
party."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import uuid
from datetime import timedelta

import pytest
import time_machine

from idp.actor import Actor
from idp.models import MailLink
from idp.models import RememberedBrowser
from idp.models import SecondFactor
from idp.models import UpstreamIdentity
from idp.models import User
from idp.models import utcnow
from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.test_account_menu import account_sign_in
from tests.test_backchannel_logout import Receiver
from tests.test_backchannel_logout import validate_logout_token
from tests.test_backchannel_logout import wait_for_deliveries

CHANGE_SUBJECT = "【WORKSDRIVE】メールアドレス変更登録"
NOT_ME_SUBJECT = "【WORKSDRIVE】アカウント情報変更のお知らせ"
NEW_PASSWORD = "Umi-no-Kujira-2027"
LOCKED = "このアカウントはロックされています"
WRONG = "メールアドレスまたはパスワードが正しくありません"


@pytest.fixture()
def receiver():
    """A relying party's back-channel logout endpoint (tests/test_backchannel_logout.py)."""
    started = Receiver().start()
    yield started
    started.stop()


def new_address() -> str:
    return f"n-{uuid.uuid4().hex[:10]}@example.jp"


def contractor(provider, **values):
    contract_id = provider.new_contract(plan="basic", two_factor=False)
    return provider.new_user(contract_id, role="contractor", **values)


def ask_in_menu(provider, email, new_email, confirmation=None, browser=None):
    browser, _menu = account_sign_in(provider, email, browser=browser)
    page = browser.get("/account/email")
    assert page.status_code == 200, page.text[:300]
    return browser, browser.submit(
        page,
        "email-change-form",
        new_email=new_email,
        new_email_confirmation=new_email if confirmation is None else confirmation,
    )


def mailed_link(mailbox, to, subject=CHANGE_SUBJECT) -> str:
    mail = mailbox.wait_for(to=to, subject_contains=subject.split("】")[1])
    assert mail["Subject"] == subject
    return [u for u in mailbox.links_in(mail) if "/links/" in u][0]


def ask_by_cli_path(provider, user_id, new_email):
    """M2: the admin console's and the CLI's path (``request_email_change``)."""
    from idp.users.email_change import request_email_change

    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        return request_email_change(Actor.cli(), user, new_email).id


def confirm(browser, link, **fields):
    page = browser.get(link)
    assert page.status_code == 200, page.text[:300]
    return browser.submit(page, "email-change-confirm-form", **fields)


def with_password(password=NEW_PASSWORD):
    return {"password": password, "password_confirmation": password}


def user_row(provider, user_id) -> User:
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        provider.db().session.expunge(user)
        return user


def password_sign_in(provider, rp, email, password):
    browser = Browser(provider.url)
    return browser.submit(
        browser.get(rp.authorize_url()), "password-form", email=email, password=password
    )


@pytest.mark.covers("M1", "M7", "P2", "X4")
def test_M7_password_user_changes_the_email_in_the_menu_and_sets_a_password(provider, rp, mailbox):
    user_id, email = contractor(provider)
    new_email = new_address()
    browser, sent = ask_in_menu(provider, email, new_email)
    assert sent.status_code == 200 and 'id="sent"' in sent.text
    assert new_email in sent.text and "14日以内" in sent.text and 'id="no-mail"' in sent.text
    link = mailed_link(mailbox, new_email)
    # Nothing changes until the link is used: the old address still signs in.
    assert user_row(provider, user_id).email == email
    assert "code=" in password_sign_in(provider, rp, email, PASSWORD).headers["Location"]

    opened = Browser(provider.url)
    page = opened.get(link)
    assert page.status_code == 200 and new_email in page.text
    assert 'id="password-rule"' in page.text and "3種類以上" in page.text
    # P2 and the confirmation refuse on the page; the link stays usable.
    for password, again in [("short1A", "short1A"), (NEW_PASSWORD, NEW_PASSWORD + "x")]:
        refused = opened.submit(page, password=password, password_confirmation=again)
        assert refused.status_code == 400 and 'id="error"' in refused.text
    assert user_row(provider, user_id).email == email
    done = opened.submit(page, **with_password())
    assert done.status_code == 200 and 'id="done"' in done.text
    assert new_email in done.text and 'id="account-login"' in done.text

    assert password_sign_in(provider, rp, email, PASSWORD).status_code == 401
    assert password_sign_in(provider, rp, email, NEW_PASSWORD).status_code == 401
    assert password_sign_in(provider, rp, new_email, PASSWORD).status_code == 401
    tokens = rp.login_tokens(Browser(provider.url), new_email, NEW_PASSWORD)
    assert rp.id_token_claims(tokens["id_token"])["sub"] == user_id
    # X6: the old address is told.
    notice = mailbox.wait_for(to=email, subject_contains="アカウント情報変更のお知らせ")
    assert new_email in mailbox.text_of(notice)


@pytest.mark.covers("M1", "U2")
def test_M1_menu_refusals_next_to_the_fields_in_japanese_and_english(provider, mailbox):
    _user_id, email = contractor(provider)
    browser, mismatch = ask_in_menu(provider, email, new_address(), confirmation=new_address())
    assert mismatch.status_code == 400 and 'id="error-new_email_confirmation"' in mismatch.text
    assert "一致しません" in mismatch.text
    page = browser.get("/account/email")
    for value, words in [("not an address", "正しいメールアドレス"), (email.upper(), "同じです")]:
        refused = browser.submit(
            page, "email-change-form", new_email=value, new_email_confirmation=value
        )
        assert refused.status_code == 400 and 'id="error-new_email"' in refused.text
        assert words in refused.text
    english = browser.get("/account/email?lang=en")
    assert "Change your email address" in english.text
    refused = browser.submit(
        english, "email-change-form", new_email="nope", new_email_confirmation="nope"
    )
    assert "Enter a valid email address." in refused.text
    provider.app.extensions["idp.mailer"].wait_idle()
    assert not [m for m in mailbox.messages if CHANGE_SUBJECT in str(m["Subject"])]


@pytest.mark.covers("M7", "L2", "G8")
def test_M7_an_address_in_use_is_refused_without_saying_whose(provider, mailbox):
    contract_id = provider.new_contract(plan="basic", two_factor=False)
    _user_id, email = provider.new_user(contract_id, role="contractor")
    _colleague, colleague_email = provider.new_user(contract_id)
    _stranger, stranger_email = provider.new_user()
    browser, menu = account_sign_in(provider, email)
    answers = []
    for taken in (colleague_email, stranger_email, stranger_email.upper()):
        page = browser.get("/account/email")
        refused = browser.submit(
            page, "email-change-form", new_email=taken, new_email_confirmation=taken
        )
        assert refused.status_code == 400
        answers.append(re.search(r'id="error-new_email"[^>]*>(.*?)</ul>', refused.text).group(1))
    assert answers[0] == answers[1] == answers[2]
    assert "使用できません" in answers[0]
    provider.app.extensions["idp.mailer"].wait_idle()
    assert not [m for m in mailbox.messages if CHANGE_SUBJECT in str(m["Subject"])]


@pytest.mark.covers("M7", "X4")
def test_M7_an_address_taken_between_the_request_and_the_link_changes_nothing(
    provider, rp, mailbox
):
    user_id, email = contractor(provider)
    new_email = new_address()
    ask_in_menu(provider, email, new_email)
    link = mailed_link(mailbox, new_email)
    provider.new_user(email=new_email)  # someone else registers the address meanwhile
    browser = Browser(provider.url)
    taken = confirm(browser, link, **with_password())
    assert taken.status_code == 409 and 'id="email-unavailable"' in taken.text
    assert email in taken.text  # "you still sign in with ..."
    assert user_row(provider, user_id).email == email
    assert "code=" in password_sign_in(provider, rp, email, PASSWORD).headers["Location"]
    # The link is not used up: it opens again (and would work once the address is free).
    assert browser.get(link).status_code == 200
    # The domain function checks again on its own (the admin console and API call it too).
    from idp.users.email_change import EmailChangeError
    from idp.users.email_change import complete_email_change

    with provider.app.app_context():
        db = provider.db()
        row = db.session.query(MailLink).filter_by(user_id=user_id, purpose="email_change").one()
        user = db.session.get(User, user_id)
        with pytest.raises(EmailChangeError) as refused:
            complete_email_change(Actor.user(user_id), user, row, NEW_PASSWORD)
        assert refused.value.reason == "email_unavailable"
        assert db.session.get(User, user_id).email == email


@pytest.mark.covers("M2", "M7", "X4")
def test_M7_an_upstream_user_opens_and_confirms(provider, mailbox):
    user_id, email = provider.new_user(password=None, method="google")
    new_email = new_address()
    ask_by_cli_path(provider, user_id, new_email)
    link = mailed_link(mailbox, new_email)
    browser = Browser(provider.url)
    page = browser.get(link)
    assert page.status_code == 200 and new_email in page.text
    assert 'name="password"' not in page.text
    assert user_row(provider, user_id).email == email  # opening changes nothing (X4)
    done = browser.submit(page, "email-change-confirm-form")
    assert done.status_code == 200 and 'id="done"' in done.text
    row = user_row(provider, user_id)
    assert row.email == new_email and row.login_method == "google"


@pytest.mark.covers("M7", "X4")
def test_X4_expired_reused_tampered_and_parallel_links(provider, mailbox):
    user_id, _email = provider.new_user(password=None, method="google")
    new_email = new_address()
    ask_by_cli_path(provider, user_id, new_email)
    link = mailed_link(mailbox, new_email)
    browser = Browser(provider.url)
    with time_machine.travel(timedelta(days=14, seconds=5), tick=True):
        expired = browser.get(link)
    assert expired.status_code == 400 and "有効期限" in expired.text
    tampered = browser.get(link[:-2] + ("AA" if not link.endswith("AA") else "BB"))
    assert tampered.status_code == 400 and 'data-error="link_invalid"' in tampered.text

    page = browser.get(link)
    (form,) = [f for f in forms_in(page.text) if f.id == "email-change-confirm-form"]
    results: list[int] = []

    # The CSRF token is bound to the browser's session cookie: each thread posts with it.
    cookies = browser.session.cookies

    def use_with_cookies() -> None:
        other = Browser(provider.url)
        other.session.cookies.update(cookies)
        results.append(
            other.session.post(link, data=form.fields, allow_redirects=False).status_code
        )

    threads = [threading.Thread(target=use_with_cookies) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 400, 400, 400]
    reused = browser.submit(page, "email-change-confirm-form")
    assert reused.status_code == 400 and "すでに使用されています" in reused.text
    assert user_row(provider, user_id).email == new_email


@pytest.mark.covers("M7", "X4")
def test_X4_a_later_change_voids_the_email_change_link(provider, mailbox):
    user_id, email = contractor(provider)
    first, second = new_address(), new_address()
    ask_by_cli_path(provider, user_id, first)
    ask_by_cli_path(provider, user_id, second)
    first_link = mailed_link(mailbox, first)
    second_link = mailed_link(mailbox, second)
    done = confirm(Browser(provider.url), second_link, **with_password())
    assert done.status_code == 200
    void = Browser(provider.url).get(first_link)
    assert void.status_code == 400 and 'data-error="link_invalid"' in void.text
    assert user_row(provider, user_id).email == second


@pytest.mark.covers("M7", "X4")
def test_X4_two_email_change_links_used_at_once_change_the_address_once(provider, mailbox):
    user_id, _email = provider.new_user(password=None, method="google")
    addresses = [new_address() for _ in range(4)]
    for address in addresses:
        ask_by_cli_path(provider, user_id, address)
    pages = []
    for address in addresses:
        browser = Browser(provider.url)
        link = mailed_link(mailbox, address)
        pages.append((browser, link, browser.get(link)))
    results: list[int] = []

    def use(browser, link, page) -> None:
        (form,) = [f for f in forms_in(page.text) if f.id == "email-change-confirm-form"]
        results.append(browser.session.post(link, data=form.fields).status_code)

    threads = [threading.Thread(target=use, args=opened) for opened in pages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 400, 400, 400]
    assert user_row(provider, user_id).email in addresses
    with provider.app.app_context():
        notices = provider.db().session.query(MailLink).filter_by(user_id=user_id, purpose="not_me")
        assert notices.count() == 1


@pytest.mark.covers("M7", "T2", "X2", "X7")
def test_M7_resets_2fa_forgets_browsers_and_signs_out_everywhere(provider, rp, mailbox, receiver):
    user_id, email = contractor(provider)
    bcl_rp = provider.new_client(backchannel_logout_uri=receiver.url)
    tokens = bcl_rp.login_tokens(Browser(provider.url), email, PASSWORD)
    with provider.app.app_context():
        db = provider.db()
        user = db.session.get(User, user_id)
        user.two_factor_enrolled_at = utcnow()
        db.session.add(SecondFactor(user_id=user_id, kind="totp", data={}))
        db.session.add(RememberedBrowser(user_id=user_id, token_hash="x" * 64))
        db.session.commit()
    new_email = new_address()
    ask_by_cli_path(provider, user_id, new_email)
    confirm(Browser(provider.url), mailed_link(mailbox, new_email), **with_password())
    wait_for_deliveries(provider)
    (token,) = receiver.tokens()
    assert validate_logout_token(provider, token, bcl_rp.client_id, set())["sub"] == user_id
    assert bcl_rp.refresh(tokens["refresh_token"])["error"] == "invalid_grant"
    assert bcl_rp.introspect(tokens["access_token"]) == {"active": False}
    with provider.app.app_context():
        db = provider.db()
        assert db.session.get(User, user_id).two_factor_enrolled_at is None
        assert db.session.query(SecondFactor).filter_by(user_id=user_id).count() == 0
        browsers = db.session.query(RememberedBrowser).filter_by(user_id=user_id).all()
        assert browsers and all(b.revoked_at is not None for b in browsers)


@pytest.mark.covers("M2")
def test_M2_cli_mails_the_link_and_prints_its_id_not_the_token(provider, mailbox, tmp_path):
    """``idp users email-link`` with the provider's own settings (its database and mail)."""
    user_id, email = provider.new_user()
    new_email = new_address()
    settings = provider.app.extensions["idp.settings"]
    env = {
        **os.environ,
        "IDP_ISSUER": settings.issuer,
        "IDP_INSTANCE_DIR": settings.instance_dir,
        "IDP_KEYS_DIR": settings.keys_dir,
        "IDP_SECRET_KEY": settings.secret_key,
        "IDP_ENCRYPTION_KEY": settings.encryption_key,
        "IDP_SMTP_URL": settings.smtp_url,
        "IDP_DATABASE_URL": settings.database_url,
        "IDP_REDIS_URL": settings.redis_url,
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "idp.cli",
            "users",
            "email-link",
            "--email",
            email,
            "--new-email",
            new_email,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    link_id = result.stdout.strip()
    link = mailed_link(mailbox, new_email)
    assert link.rsplit("/", 1)[1] not in result.stdout + result.stderr
    with provider.app.app_context():
        row = provider.db().session.get(MailLink, link_id)
        assert row.user_id == user_id and row.purpose == "email_change"
    taken = subprocess.run(
        [
            sys.executable,
            "-m",
            "idp.cli",
            "users",
            "email-link",
            "--email",
            email,
            "--new-email",
            email,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert taken.returncode == 1 and "Error:" in taken.stderr


@pytest.mark.covers("M2", "L10")
def test_M2_an_invited_user_who_has_not_registered_gets_no_email_change(provider, mailbox):
    from idp.errors import DomainError
    from idp.users.email_change import request_email_change
    from idp.users.invitations import invite_user

    contract_id = provider.new_contract()
    with provider.app.app_context():
        invitation = invite_user(Actor.cli(), contract_id, new_address())
        user = provider.db().session.get(User, invitation.user_id)
        with pytest.raises(DomainError) as refused:
            request_email_change(Actor.cli(), user, new_address())
        assert refused.value.reason == "not_registered"
        links = provider.db().session.query(MailLink).filter_by(purpose="email_change")
        assert links.filter_by(user_id=user.id).count() == 0


# X6: "this was not me"


def change_email(provider, mailbox, user_id, new_email, password=NEW_PASSWORD):
    ask_by_cli_path(provider, user_id, new_email)
    confirm(Browser(provider.url), mailed_link(mailbox, new_email), **with_password(password))


@pytest.mark.covers("X6", "X7", "X2", "K3")
def test_X6_not_me_reverts_signs_out_everywhere_and_locks_until_a_reset(
    provider, rp, mailbox, receiver
):
    user_id, email = contractor(provider)
    new_email = new_address()
    change_email(provider, mailbox, user_id, new_email)
    bcl_rp = provider.new_client(backchannel_logout_uri=receiver.url)
    tokens = bcl_rp.login_tokens(Browser(provider.url), new_email, NEW_PASSWORD)
    with provider.app.app_context():
        db = provider.db()
        db.session.add(RememberedBrowser(user_id=user_id, token_hash="y" * 64))
        # A factor enrolled after the change, perhaps by the other party.
        db.session.add(SecondFactor(user_id=user_id, kind="sms", data={}))
        db.session.commit()

    link = mailed_link(mailbox, email, NOT_ME_SUBJECT)
    browser = Browser(provider.url)
    page = browser.get(link)
    assert page.status_code == 200 and email in page.text and new_email in page.text
    assert user_row(provider, user_id).email == new_email  # opening changes nothing
    mailbox.clear()
    done = browser.submit(page, "not-me-form")
    assert done.status_code == 200 and 'id="done"' in done.text and 'id="reset-sent"' in done.text

    row = user_row(provider, user_id)
    assert row.email == email and row.locked_at is not None
    wait_for_deliveries(provider)
    (token,) = receiver.tokens()
    assert validate_logout_token(provider, token, bcl_rp.client_id, set())["sub"] == user_id
    assert bcl_rp.refresh(tokens["refresh_token"])["error"] == "invalid_grant"
    with provider.app.app_context():
        browsers = provider.db().session.query(RememberedBrowser).filter_by(user_id=user_id)
        assert all(b.revoked_at is not None for b in browsers)
        assert provider.db().session.query(SecondFactor).filter_by(user_id=user_id).count() == 0
    # Locked: neither the other party's password nor the original one signs in.
    for address, password in [(email, NEW_PASSWORD), (email, PASSWORD), (new_email, NEW_PASSWORD)]:
        refused = password_sign_in(provider, rp, address, password)
        assert refused.status_code == 401
    assert LOCKED in password_sign_in(provider, rp, email, PASSWORD).text
    # The password the other party set is gone, not only locked away: after an admin's
    # unlock (G4) it still does not sign in.
    from idp.users.lockout import unlock_account

    with provider.app.app_context():
        unlock_account(Actor.cli(), provider.db().session.get(User, user_id))
    unlocked = password_sign_in(provider, rp, email, NEW_PASSWORD)
    assert unlocked.status_code == 401 and WRONG in unlocked.text
    # The reset link went to the restored address; it unlocks.
    reset = mailed_link(mailbox, email, "【WORKSDRIVE】パスワードリセット")
    assert "取り消し" in mailbox.text_of(mailbox.wait_for(to=email, subject_contains="リセット"))
    other = Browser(provider.url)
    other.submit(
        other.get(reset), password="Yama-no-Saru-2028", password_confirmation="Yama-no-Saru-2028"
    )
    assert user_row(provider, user_id).locked_at is None
    assert rp.login_tokens(Browser(provider.url), email, "Yama-no-Saru-2028")["id_token"]


@pytest.mark.covers("X6")
def test_X6_when_the_old_address_was_taken_meanwhile_it_says_so_and_still_locks(provider, mailbox):
    user_id, email = contractor(provider)
    new_email = new_address()
    change_email(provider, mailbox, user_id, new_email)
    link = mailed_link(mailbox, email, NOT_ME_SUBJECT)
    # The old address is free after the change: another account takes it.
    provider.new_user(email=email)
    mailbox.clear()
    browser = Browser(provider.url)
    done = browser.submit(browser.get(link), "not-me-form")
    assert done.status_code == 200 and 'id="email-taken"' in done.text
    assert 'id="ask-admin"' in done.text and 'id="reset-sent"' not in done.text
    row = user_row(provider, user_id)
    assert row.email == new_email and row.locked_at is not None
    provider.app.extensions["idp.mailer"].wait_idle()
    assert not [m for m in mailbox.messages if "リセット" in str(m["Subject"])]


@pytest.mark.covers("X6", "X4")
def test_X6_the_not_me_link_is_void_once_the_account_changed_again(provider, mailbox):
    user_id, email = contractor(provider)
    second, third = new_address(), new_address()
    change_email(provider, mailbox, user_id, second)
    first_notice = mailed_link(mailbox, email, NOT_ME_SUBJECT)
    # Valid right after the change (the link carries the post-change state) ...
    assert Browser(provider.url).get(first_notice).status_code == 200
    change_email(provider, mailbox, user_id, third)
    # ... and void once the account changed again; the newer notice works.
    void = Browser(provider.url).get(first_notice)
    assert void.status_code == 400 and 'data-error="link_invalid"' in void.text
    second_notice = mailed_link(mailbox, second, NOT_ME_SUBJECT)
    assert Browser(provider.url).get(second_notice).status_code == 200
    with time_machine.travel(timedelta(days=14, seconds=5), tick=True):
        assert Browser(provider.url).get(second_notice).status_code == 400


@pytest.mark.covers("X6", "X4", "K3")
def test_X6_whoever_made_the_change_cannot_void_the_link_by_resetting_the_password(
    provider, rp, mailbox
):
    user_id, email = contractor(provider)
    new_email = new_address()
    change_email(provider, mailbox, user_id, new_email)
    link = mailed_link(mailbox, email, NOT_ME_SUBJECT)
    # The other party resets the password of the changed address (K3, which voids the
    # account's other links) ...
    browser = Browser(provider.url)
    browser.submit(browser.get("/password/forgot"), email=new_email)
    reset = mailed_link(mailbox, new_email, "【WORKSDRIVE】パスワードリセット")
    browser.submit(
        browser.get(reset), password="Kumo-no-Ue-2029", password_confirmation="Kumo-no-Ue-2029"
    )
    assert rp.login_tokens(Browser(provider.url), new_email, "Kumo-no-Ue-2029")["id_token"]
    # ... and the "this was not me" link still works.
    owner = Browser(provider.url)
    done = owner.submit(owner.get(link), "not-me-form")
    assert done.status_code == 200 and 'id="done"' in done.text
    row = user_row(provider, user_id)
    assert row.email == email and row.locked_at is not None
    assert password_sign_in(provider, rp, email, "Kumo-no-Ue-2029").status_code == 401


@pytest.mark.covers("X6", "K3")
def test_X6_a_method_change_reverts_to_the_upstream_locked_until_a_reset(provider, rp, mailbox):
    """The interface the login-method change (M4–M6) calls: the method and identities go
    back, the identity bound by the change goes; a locked upstream account is refused at the
    gate, and its reset link sets a password that becomes the method."""
    from idp.login.gate import check_policies
    from idp.users.not_me import IdentityChange
    from idp.users.not_me import identity_snapshot
    from idp.users.not_me import tell_old_address

    user_id, email = provider.new_user(password=None, method="google")
    old_subject = uuid.uuid4().hex
    with provider.app.app_context():
        db = provider.db()
        db.session.add(
            UpstreamIdentity(
                user_id=user_id,
                provider="google",
                issuer="https://accounts.google.com",
                subject=old_subject,
            )
        )
        db.session.commit()
        user = db.session.get(User, user_id)
        before = identity_snapshot(user)
        # What a method change to Microsoft does (helper A's function), then its notice.
        db.session.query(UpstreamIdentity).filter_by(user_id=user_id).delete()
        db.session.add(
            UpstreamIdentity(
                user_id=user_id,
                provider="microsoft",
                issuer="https://login.microsoftonline.com",
                subject=uuid.uuid4().hex,
            )
        )
        user.login_method = "microsoft"
        user.state_version += 1
        db.session.commit()
        tell_old_address(
            Actor.user(user_id),
            user,
            kind=IdentityChange.LOGIN_METHOD,
            old_email=email,
            old_method="google",
            old_identities=before,
        )
    notice = mailbox.wait_for(to=email, subject_contains="アカウント情報変更のお知らせ")
    assert "Google" in mailbox.text_of(notice) and "Microsoft" in mailbox.text_of(notice)
    link = [u for u in mailbox.links_in(notice) if "/links/" in u][0]
    mailbox.clear()
    browser = Browser(provider.url)
    page = browser.get(link)
    assert 'id="before">Google' in page.text and 'id="after">Microsoft' in page.text
    done = browser.submit(page, "not-me-form")
    assert 'id="reset-sent"' in done.text
    with provider.app.app_context():
        db = provider.db()
        user = db.session.get(User, user_id)
        assert user.login_method == "google" and user.locked_at is not None
        identities = db.session.query(UpstreamIdentity).filter_by(user_id=user_id).all()
        assert [(i.provider, i.subject) for i in identities] == [("google", old_subject)]
        # The lock refuses the upstream's sign-in too (gate, for every route and target).
        assert check_policies(user, "frontend").reason == "locked"
    reset = mailed_link(mailbox, email, "【WORKSDRIVE】パスワードリセット")
    other = Browser(provider.url)
    other.submit(other.get(reset), password=NEW_PASSWORD, password_confirmation=NEW_PASSWORD)
    row = user_row(provider, user_id)
    assert row.locked_at is None and row.login_method == "password"
    assert rp.login_tokens(Browser(provider.url), email, NEW_PASSWORD)["id_token"]


@pytest.mark.covers("X6", "M4")
def test_X6_a_login_method_change_in_the_menu_tells_the_address_and_reverts(provider, mailbox):
    """The login-method change (M4, idp/users/login_method.py) calls the X6 notice: a Google
    contractor who switched to a password gets the link, which restores Google and its
    identity, clears the password and locks the account."""
    contract_id = provider.new_contract(plan="basic", two_factor=False)
    user_id, email = provider.new_user(contract_id, role="contractor")
    browser, _menu = account_sign_in(provider, email)
    subject = uuid.uuid4().hex
    with provider.app.app_context():
        db = provider.db()
        # Now a Google user (the session stays valid: the method alone changed).
        db.session.get(User, user_id).login_method = "google"
        db.session.add(
            UpstreamIdentity(
                user_id=user_id,
                provider="google",
                issuer="https://accounts.google.com",
                subject=subject,
            )
        )
        db.session.commit()
    page = browser.get("/account/login-method")
    confirm_page = browser.submit(
        page, "password-form", password=NEW_PASSWORD, password_confirmation=NEW_PASSWORD
    )
    done = browser.submit(confirm_page, "confirm-form")
    assert done.status_code == 200 and 'id="done"' in done.text
    assert user_row(provider, user_id).login_method == "password"

    notice = mailbox.wait_for(to=email, subject_contains="アカウント情報変更のお知らせ")
    assert "ログイン方法が変更されました" in mailbox.text_of(notice)
    link = [u for u in mailbox.links_in(notice) if "/links/" in u][0]
    owner = Browser(provider.url)
    reverted = owner.submit(owner.get(link), "not-me-form")
    assert reverted.status_code == 200 and 'id="reset-sent"' in reverted.text
    row = user_row(provider, user_id)
    assert row.login_method == "google" and row.locked_at is not None
    assert row.password_hash is None
    with provider.app.app_context():
        identities = provider.db().session.query(UpstreamIdentity).filter_by(user_id=user_id)
        assert [(i.provider, i.subject) for i in identities] == [("google", subject)]


@pytest.mark.covers("M7", "M1")
def test_M7_a_sixth_email_change_request_in_an_hour_is_answered_429_and_mails_nothing(
    provider, mailbox
):
    """Five requests an hour per account, counted whether they mail or are refused (an
    address in use): the sixth gets the "too many" page with Retry-After and a way back to
    the menu, and no mail; an hour later the account may ask again."""
    _user_id, email = contractor(provider)
    _other, taken = provider.new_user()
    from tests.clock import moved_clock

    with moved_clock(provider.app.extensions["idp.store"]) as clock:
        browser, _menu = account_sign_in(provider, email)
        sent = [new_address() for _ in range(4)]
        for address in [*sent, taken]:
            page = browser.get("/account/email")
            answer = browser.submit(
                page, "email-change-form", new_email=address, new_email_confirmation=address
            )
            assert answer.status_code in (200, 400)
        for address in sent:
            mailed_link(mailbox, address)
        sixth = new_address()
        page = browser.get("/account/email")
        refused = browser.submit(
            page, "email-change-form", new_email=sixth, new_email_confirmation=sixth
        )
        assert refused.status_code == 429
        assert 0 < int(refused.headers["Retry-After"]) <= 3600
        assert "メールアドレス変更のメールが何度も依頼されました" in refused.text
        assert 'href="/account"' in refused.text
        provider.app.extensions["idp.mailer"].wait_idle()
        assert not [m for m in mailbox.messages if sixth in str(m["To"])]

        clock.advance(3601)
        browser, _menu = account_sign_in(provider, email)
        page = browser.get("/account/email")
        again = browser.submit(
            page, "email-change-form", new_email=sixth, new_email_confirmation=sixth
        )
        assert again.status_code == 200, again.text[:300]
        mailed_link(mailbox, sixth)
