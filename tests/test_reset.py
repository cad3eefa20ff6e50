"""K2, K3, P2, T2, X4: forgot password, the reset mail and the new password."""

from __future__ import annotations

import socket
import threading
import uuid
from datetime import timedelta

import pytest
import time_machine
from werkzeug.serving import make_server

from idp.models import MailLink
from idp.models import SecondFactor
from idp.models import User
from tests.conftest import PASSWORD
from tests.conftest import build_provider
from tests.helpers import Browser

RESET_SUBJECT = "パスワードリセット"
NEW_PASSWORD = "Fresh-Start-2026"


def _request_reset(browser, email):
    page = browser.get("/password/forgot")
    return browser.submit(page, email=email)


def _reset_link(mailbox, email):
    mail = mailbox.wait_for(to=email, subject_contains=RESET_SUBJECT)
    assert mail["Subject"] == "【WORKSDRIVE】パスワードリセット"
    return [u for u in mailbox.links_in(mail) if "/links/" in u][0]


def test_K3_forgot_password_answers_the_same_for_known_and_unknown(provider, user, mailbox):
    _user_id, email = user
    known = _request_reset(Browser(provider.url), email)
    unknown = _request_reset(Browser(provider.url), "no-such-user@example.jp")
    assert known.status_code == unknown.status_code == 200
    assert known.text == unknown.text
    _reset_link(mailbox, email)
    provider.app.extensions["idp.mailer"].wait_idle()
    assert not [m for m in mailbox.messages if m["To"] == "no-such-user@example.jp"]


def test_K3_forgot_password_answers_before_the_lookup_and_the_mail(services, tmp_path):
    """The account lookup and the mail run off the request thread, so the answer cannot
    reveal the account by its timing (measured by bench/forgot_timing.py, not here). Here
    the mail server accepts the connection and never greets: a known address is answered
    exactly like an unknown one while its mail is still waiting on that server."""
    tarpit = socket.socket()
    tarpit.bind(("127.0.0.1", 0))
    tarpit.listen(8)
    node = build_provider(
        "sqlite+sqlstore",
        tmp_path,
        services,
        smtp_url=f"smtp://127.0.0.1:{tarpit.getsockname()[1]}",
    )
    server = make_server("127.0.0.1", node.app.config["TEST_PORT"], node.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    held = None
    try:
        _user_id, email = node.new_user()
        known = _request_reset(Browser(node.url), email)
        unknown = _request_reset(Browser(node.url), "no-such-user@example.jp")
        assert known.status_code == unknown.status_code == 200
        assert known.text == unknown.text
        # The mail for the known address has reached the server and is still waiting for
        # its greeting: it was sent after (and apart from) the answer.
        tarpit.settimeout(10)
        held, _address = tarpit.accept()
        held.setblocking(False)
        with pytest.raises(BlockingIOError):
            held.recv(1)  # still open: the client waits for the greeting
    finally:
        if held is not None:
            held.close()
        tarpit.close()
        server.shutdown()
        node.close()


def test_K3_T2_reset_sets_password_unlocks_clears_2fa_and_voids_old_links(
    provider, rp, user, mailbox
):
    user_id, email = user
    with provider.app.app_context():
        db = provider.db()
        u = db.session.get(User, user_id)
        u.locked_at = u.created_at
        u.failed_logins = 10
        u.two_factor_enrolled_at = u.created_at
        db.session.add(SecondFactor(user_id=user_id, kind="totp", data={}))
        db.session.commit()
    browser = Browser(provider.url)
    _request_reset(browser, email)
    first = _reset_link(mailbox, email)
    mailbox.clear()
    _request_reset(browser, email)
    second = _reset_link(mailbox, email)
    assert first != second

    form = browser.get(second)
    assert form.status_code == 200
    assert 'id="password-rule"' in form.text and "3種類以上" in form.text
    # P2 refusals keep the link usable.
    for bad, confirmation in [
        ("short1A", "short1A"),
        ("alllowercase", "alllowercase"),
        ("Password1", "Password1"),
        (NEW_PASSWORD, NEW_PASSWORD + "x"),
    ]:
        again = browser.submit(form, password=bad, password_confirmation=confirmation)
        assert again.status_code == 400 and 'id="error"' in again.text, bad
    done = browser.submit(form, password=NEW_PASSWORD, password_confirmation=NEW_PASSWORD)
    assert done.status_code == 200 and 'id="done"' in done.text
    # The link works once: the same valid form (its CSRF token included) is refused as used.
    again = browser.submit(
        form, password="Second-Try-2026", password_confirmation="Second-Try-2026"
    )
    assert again.status_code == 400 and "このリンクはすでに使用されています" in again.text

    with provider.app.app_context():
        db = provider.db()
        u = db.session.get(User, user_id)
        assert u.locked_at is None and u.failed_logins == 0
        assert u.two_factor_enrolled_at is None
        assert db.session.query(SecondFactor).filter_by(user_id=user_id).count() == 0
    # The older link (sent before the change) and the used one are void.
    assert browser.get(first).status_code == 400
    assert browser.get(second).status_code == 400
    # Old password no longer works; new one does.
    page = browser.submit(
        browser.get(rp.authorize_url()), "password-form", email=email, password=PASSWORD
    )
    assert page.status_code == 401
    tokens = rp.login_tokens(Browser(provider.url), email, NEW_PASSWORD)
    assert tokens["id_token"]


def test_K3_reset_ends_existing_sessions_and_tokens(provider, rp, user, mailbox):
    _user_id, email = user
    browser = Browser(provider.url)
    tokens = rp.login_tokens(browser, email, PASSWORD)
    _request_reset(Browser(provider.url), email)
    link = _reset_link(mailbox, email)
    other = Browser(provider.url)
    other.submit(other.get(link), password=NEW_PASSWORD, password_confirmation=NEW_PASSWORD)
    assert rp.introspect(tokens["access_token"]) == {"active": False}
    assert rp.refresh(tokens["refresh_token"])["error"] == "invalid_grant"
    # The old browser's session no longer answers prompt=none.
    response = browser.get(rp.authorize_url(prompt="none"))
    assert "error=login_required" in response.headers["Location"]


def test_K2_expired_link_refused_then_reset_unlocks(provider, user, mailbox):
    user_id, email = user
    browser = Browser(provider.url)
    _request_reset(browser, email)
    link = _reset_link(mailbox, email)
    with time_machine.travel(timedelta(days=14, seconds=5), tick=True):
        expired = browser.get(link)
    assert expired.status_code == 400 and "有効期限" in expired.text
    with time_machine.travel(timedelta(days=13, hours=23), tick=True):
        assert browser.get(link).status_code == 200


@pytest.mark.parametrize("method", ["google"])
def test_K3_no_reset_mail_for_non_password_users(provider, mailbox, method):
    with provider.app.app_context():
        db = provider.db()
        contract = provider.new_contract()
        address = f"fed-{uuid.uuid4().hex[:8]}@example.jp"
        user = User(contract_id=contract, email=address, email_key=address, login_method=method)
        db.session.add(user)
        db.session.commit()
        email = user.email
    response = _request_reset(Browser(provider.url), email)
    assert response.status_code == 200
    provider.app.extensions["idp.mailer"].wait_idle()
    assert not [m for m in mailbox.messages if m["To"] == email]


def test_X4_links_stored_hashed(provider, user, mailbox):
    user_id, email = user
    _request_reset(Browser(provider.url), email)
    link = _reset_link(mailbox, email)
    token = link.rsplit("/", 1)[1]
    with provider.app.app_context():
        rows = provider.db().session.query(MailLink).filter_by(user_id=user_id).all()
        assert rows and all(token not in (r.token_hash or "") for r in rows)
