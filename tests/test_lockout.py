"""K1, K2, L2, X3, X4: lockout after 10 wrong passwords, the unlock mail and link."""

from __future__ import annotations

import threading

from idp.models import AuditEvent
from idp.models import User
from tests.conftest import PASSWORD
from tests.helpers import Browser

LOCK_SUBJECT = "アカウントロック"


def _login_page(rp, browser):
    page = browser.get(rp.authorize_url())
    assert page.status_code == 200
    return page


def _wrong(rp, browser, email, password="Wrong-Password-1"):
    return browser.submit(_login_page(rp, browser), "password-form", email=email, password=password)


def _user(provider, user_id) -> User:
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        provider.db().session.expunge(user)
        return user


def _reasons(provider, user_id) -> list[str]:
    with provider.app.app_context():
        rows = provider.db().session.query(AuditEvent).filter_by(user_id=user_id).all()
        return [r.reason for r in rows if r.outcome == "refused"]


def test_K1_tenth_wrong_password_locks_and_mails_unlock_link(provider, rp, user, mailbox):
    user_id, email = user
    browser = Browser(provider.url)
    for attempt in range(1, 10):
        page = _wrong(rp, browser, email)
        assert page.status_code == 401
        assert "正しくありません" in page.text, attempt
    assert _user(provider, user_id).locked_at is None
    page = _wrong(rp, browser, email)
    assert "ロックされています" in page.text
    assert _user(provider, user_id).locked_at is not None

    # A locked account cannot sign in even with the right password.
    page = _wrong(rp, browser, email, PASSWORD)
    assert page.status_code == 401 and "ロックされています" in page.text
    assert _reasons(provider, user_id).count("wrong_password") == 10
    assert "locked" in _reasons(provider, user_id)

    mail = mailbox.wait_for(to=email, subject_contains=LOCK_SUBJECT)
    assert mail["Subject"] == "【WORKSDRIVE】アカウントロック"
    assert "no-reply" in mail["From"]
    text = mailbox.text_of(mail)
    assert "14日間" in text
    (link,) = [u for u in mailbox.links_in(mail) if "/links/" in u]
    assert link.startswith(provider.url + "/links/")

    # Opening the link (GET, as a mail scanner would) changes nothing (X4).
    confirm = browser.get(link)
    assert confirm.status_code == 200
    browser.get(link)
    assert _user(provider, user_id).locked_at is not None

    done = browser.submit(confirm)
    assert done.status_code == 200 and 'id="done"' in done.text
    assert _user(provider, user_id).locked_at is None
    assert _user(provider, user_id).failed_logins == 0

    # The link works once: the same form again (a valid CSRF token, so that only the
    # single-use rule can refuse it) says the link was used.
    again = browser.submit(confirm)
    assert again.status_code == 400 and 'data-error="link_invalid"' in again.text
    assert "このリンクはすでに使用されています" in again.text
    assert _user(provider, user_id).locked_at is None
    reused = Browser(provider.url).get(link)
    assert reused.status_code == 400 and "使用されています" in reused.text

    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    assert rp.id_token_claims(tokens["id_token"])["sub"] == user_id


def test_K1_success_resets_the_count(provider, rp, user):
    user_id, email = user
    browser = Browser(provider.url)
    for _ in range(9):
        _wrong(rp, browser, email)
    rp.login_tokens(Browser(provider.url), email, PASSWORD)
    for _ in range(9):
        _wrong(rp, browser, email)
    assert _user(provider, user_id).locked_at is None
    assert _user(provider, user_id).failed_logins == 9


def test_K1_twenty_parallel_wrong_passwords_check_at_most_ten_and_lock(provider, rp, user, mailbox):
    user_id, email = user
    pages = []
    for _ in range(20):
        browser = Browser(provider.url)
        pages.append((browser, _login_page(rp, browser)))
    results: list[int] = []
    barrier = threading.Barrier(20)

    def attempt(browser, page):
        barrier.wait()
        response = browser.submit(page, "password-form", email=email, password="Wrong-Pass-9x")
        results.append(response.status_code)

    threads = [threading.Thread(target=attempt, args=pair) for pair in pages]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [401] * 20
    locked = _user(provider, user_id)
    assert locked.locked_at is not None
    assert locked.failed_logins == 10
    reasons = _reasons(provider, user_id)
    assert reasons.count("wrong_password") == 10
    assert reasons.count("locked") == 10
    mailbox.wait_for(to=email, subject_contains=LOCK_SUBJECT)
    # Exactly one lock mail.
    assert len([m for m in mailbox.messages if m["To"] == email]) == 1


def test_L2_unknown_email_gets_the_same_answers_including_the_lock_message(provider, rp):
    browser = Browser(provider.url)
    email = "nobody-here@example.jp"
    pages = [_wrong(rp, browser, email) for _ in range(10)]
    assert all(p.status_code == 401 for p in pages)
    assert "正しくありません" in pages[0].text
    assert "ロックされています" in pages[-1].text


def test_K1_unlock_link_voided_by_later_password_reset(provider, rp, user, mailbox):
    user_id, email = user
    browser = Browser(provider.url)
    for _ in range(10):
        _wrong(rp, browser, email)
    lock_mail = mailbox.wait_for(to=email, subject_contains=LOCK_SUBJECT)
    unlock_link = [u for u in mailbox.links_in(lock_mail) if "/links/" in u][0]
    page = browser.get("/password/forgot")
    browser.submit(page, email=email)
    reset_mail = mailbox.wait_for(to=email, subject_contains="パスワードリセット")
    reset_link = [u for u in mailbox.links_in(reset_mail) if "/links/" in u][0]
    form = browser.get(reset_link)
    done = browser.submit(
        form, password="Brand-New-Pass-7", password_confirmation="Brand-New-Pass-7"
    )
    assert done.status_code == 200
    void = browser.get(unlock_link)
    assert void.status_code == 400 and 'data-error="link_invalid"' in void.text


def test_K1_lock_stops_new_sign_ins_but_not_earlier_sessions(provider, rp, user):
    """A lock caused by someone guessing must not sign the real user out."""
    _user_id, email = user
    mine = Browser(provider.url)
    tokens = rp.login_tokens(mine, email, PASSWORD)
    attacker = Browser(provider.url)
    for _ in range(10):
        _wrong(rp, attacker, email)
    silent = mine.session.get(rp.authorize_url(prompt="none"), allow_redirects=False, timeout=10)
    assert "code=" in silent.headers["Location"]
    assert rp.refresh(tokens["refresh_token"])["_status"] == 200
    assert _wrong(rp, Browser(provider.url), email, PASSWORD).status_code == 401


def test_K1_a_password_change_clears_the_attempt_it_reserved(provider):
    """The change's check of the current password reserves an attempt (K1) like a sign-in;
    a right one leaves no failure counted (red when the reservation's count is not the
    loaded user's: setting the count back to 0 is then no change, and the 1 stays)."""
    from idp.actor import Actor
    from idp.sso import start_session
    from idp.users.password_change import change_password

    user_id, _email = provider.new_user(provider.new_contract(two_factor=False))
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        keep = start_session(user, ["pwd"], "urn:worksdrive:acr:1fa", {"kind": "internet"})
        change_password(
            Actor.user(user.id, user.contract_id), user, PASSWORD, "Aft3r-Change!2026", keep
        )
    assert _user(provider, user_id).failed_logins == 0
