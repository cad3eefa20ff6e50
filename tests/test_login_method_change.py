"""M1–M6, D2, X4, X7: changing the login method, in the account menu (the basic contractor)
and through the method-change mail's link (everyone else), driven like a browser.

The upstream is the local Facebook double (the other upstreams share the broker path) and,
for Active Directory, the AD FS double; relying parties hear of the sign-out through their
back-channel logout URI."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
import time_machine
from werkzeug.serving import make_server

from idp.actor import Actor
from idp.errors import DomainError
from idp.models import AuditEvent
from idp.models import UpstreamIdentity
from idp.models import User
from idp.models import utcnow
from idp.users.login_method import MethodChangeError
from idp.users.login_method import change_to_upstream
from idp.users.login_method import send_method_change_link
from tests.conftest import PASSWORD
from tests.conftest import build_provider
from tests.facebook_double import FacebookDouble
from tests.facebook_double import FacebookUser
from tests.facebook_double import app_scoped_id
from tests.facebook_double import run_facebook_double
from tests.field_errors import assert_field_error
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.helpers import link_of
from tests.helpers import redirect_params
from tests.test_account_menu import account_sign_in
from tests.test_backchannel_logout import Receiver
from tests.test_backchannel_logout import validate_logout_token
from tests.test_backchannel_logout import wait_for_deliveries

SUBJECT = "【WORKSDRIVEログイン方法の設定変更】"
AD_SUBJECT = "【WORKSDRIVE】Active Directoryアカウントのログイン用URL・接続ID通知"
NEW_PASSWORD = "Kawa-no-Nagare-2027"
PAGE = "/account/login-method"


# -- fixtures and helpers --------------------------------------------------------------


@pytest.fixture(scope="module")
def facebook() -> Iterator[FacebookDouble]:
    with run_facebook_double() as double:
        yield double


@pytest.fixture(scope="module")
def node(services: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, facebook) -> Any:
    """A provider with Facebook configured (SQLite + SQL store), served over HTTP."""
    app = facebook.add_app()
    brokers = {
        "facebook": {
            "app_id": app.app_id,
            "app_secret": app.secret,
            "graph_version": "v21.0",
            "dialog_base": facebook.url,
            "graph_base": facebook.url,
        }
    }
    provider = build_provider(
        "sqlite+sqlstore", tmp_path_factory.mktemp("method"), services, brokers=brokers
    )
    provider.facebook_app = app
    server = make_server("127.0.0.1", provider.app.config["TEST_PORT"], provider.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield provider
    server.shutdown()
    provider.close()


def fb_issuer(node: Any) -> str:
    return f"facebook:{node.facebook_app.app_id}"


def facebook_user(node: Any, person: FacebookUser, **values: Any) -> tuple[str, str]:
    """A user whose login method is Facebook, bound to ``person``: (id, email)."""
    from idp.users.identities import link_identity

    user_id, email = node.new_user(password=None, method="facebook", **values)
    with node.app.app_context():
        link_identity(
            Actor.cli(),
            user_id,
            "facebook",
            fb_issuer(node),
            app_scoped_id(person, node.facebook_app.app_id),
        )
    return user_id, email


def contractor(node: Any, plan: str = "basic", person: FacebookUser | None = None) -> Any:
    """A contract (2FA off) and its contractor: (contract id, user id, email)."""
    contract_id = node.new_contract(plan=plan, two_factor=False)
    if person is None:
        user_id, email = node.new_user(contract_id, role="contractor")
    else:
        user_id, email = facebook_user(node, person, contract_id=contract_id, role="contractor")
    return contract_id, user_id, email


def dialog(node: Any, facebook: FacebookDouble, browser: Browser, upstream: Any, person) -> Any:
    """Our 303 to Facebook → the dialog signs ``person`` in → back at our callback."""
    assert upstream.status_code == 303, upstream.text[:300]
    assert upstream.headers["Location"].startswith(facebook.url)
    facebook.next_user = person
    answer = browser.session.get(upstream.headers["Location"], allow_redirects=False, timeout=10)
    callback = answer.headers["Location"]
    assert callback.startswith(node.url + "/login/callback/facebook?")
    return browser.get(callback)


def press_facebook(browser: Browser, page: Any) -> Any:
    """The page's Facebook button (a POST form), without following the redirect upstream."""
    form = next(f for f in forms_in(page.text) if f.id == "upstream-facebook")
    return browser.session.post(page.url, data=form.fields, allow_redirects=False, timeout=10)


def menu_via_facebook(node: Any, facebook: FacebookDouble, person: FacebookUser) -> Browser:
    """The account menu's sign-in with Facebook (U1: the same methods)."""
    browser = Browser(node.url)
    page = browser.get("/account/login")
    upstream = browser.session.get(
        link_of(page, "broker-facebook"), allow_redirects=False, timeout=10
    )
    menu = dialog(node, facebook, browser, upstream, person)
    assert menu.url == f"{node.url}/account", (menu.status_code, menu.text[:300])
    return browser


def facebook_sign_in(node: Any, facebook: FacebookDouble, person: FacebookUser, rp: Any) -> Any:
    """A relying party's sign-in with Facebook: the callback's answer."""
    browser = Browser(node.url)
    page = browser.get(rp.authorize_url())
    upstream = browser.session.get(
        link_of(page, "broker-facebook"), allow_redirects=False, timeout=10
    )
    return dialog(node, facebook, browser, upstream, person), browser


def password_sign_in(provider: Any, email: str, password: str) -> Any:
    rp = provider.new_client()
    browser = Browser(provider.url)
    page = browser.get(rp.authorize_url())
    return browser.submit(page, "password-form", email=email, password=password), rp


def user_row(provider: Any, user_id: str) -> User:
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        provider.db().session.expunge(user)
        return user


def events(provider: Any, user_id: str, event: str) -> list[tuple[str, str | None]]:
    provider.app.extensions["idp.mailer"].wait_idle()
    with provider.app.app_context():
        rows = provider.db().session.query(AuditEvent).filter_by(user_id=user_id, event=event)
        return [(r.outcome, r.reason) for r in rows.order_by(AuditEvent.id)]


def error_items(page: Any) -> str:
    match = re.search(r'<div class="error" id="error" role="alert"><ul>(.*?)</ul>', page.text, re.S)
    return match.group(1) if match else ""


# -- M1, U2: who reaches the page ------------------------------------------------------


@pytest.mark.covers("M1", "U2")
def test_M1_U2_only_the_basic_contractor_reaches_the_login_method_page(node):
    _c, _u, basic = contractor(node)
    browser, _menu = account_sign_in(node, basic)
    page = browser.get(PAGE)
    assert page.status_code == 200 and 'id="current-method"' in page.text
    _c, _u, trial = contractor(node, plan="trial")
    browser, menu = account_sign_in(node, trial)
    assert PAGE not in menu.text
    refused = browser.session.get(node.url + PAGE, allow_redirects=False)
    assert refused.status_code == 403 and 'data-reason="not_permitted"' in refused.text
    contract_id = node.new_contract(two_factor=False)
    for role in ("admin", "user"):
        _id, email = node.new_user(contract_id, role=role)
        browser, menu = account_sign_in(node, email)
        assert PAGE not in menu.text
        refused = browser.session.get(node.url + PAGE, allow_redirects=False)
        assert refused.status_code == 403
        # U2 on the server: a well-formed POST (this browser's CSRF token) is refused too.
        csrf = forms_in(browser.get("/account/password").text)[0].fields["csrf_token"]
        form = {"csrf_token": csrf, "step": "password"}
        posted = browser.session.post(
            node.url + PAGE,
            data={**form, "password": NEW_PASSWORD, "password_confirmation": NEW_PASSWORD},
            allow_redirects=False,
        )
        assert posted.status_code == 403 and 'data-reason="not_permitted"' in posted.text


# -- M3: the current method, and never AD for the contractor ----------------------------


@pytest.mark.covers("M3", "D1")
def test_M3_page_shows_the_current_method_and_the_contractor_never_gets_ad(node, facebook):
    from idp.contracts.ad import add_ad_connection

    person = FacebookUser("Keiyaku Sha", "keiyaku@example.jp")
    contract_id, user_id, _email = contractor(node, person=person)
    with node.app.app_context():
        settings = {"issuer": "https://fs.example/adfs", "client_id": "wd"}
        add_ad_connection(Actor.cli(), contract_id, "adfs", settings, "s3cret")
    browser = menu_via_facebook(node, facebook, person)
    page = browser.get(PAGE)
    assert 'data-method="facebook"' in page.text and "現在のログイン方法" in page.text
    assert 'id="password-form"' in page.text and 'id="broker-facebook"' in page.text
    assert 'id="broker-ad"' not in page.text and "先にログアウト" in page.text
    csrf = forms_in(page.text)[0].fields["csrf_token"]
    not_offered = "このログイン方法はお使いのアカウントでは選択できません。"
    for data, message in (
        ({"step": "ad"}, not_offered),
        ({"step": "ad_confirm"}, not_offered),
        ({"step": "upstream", "provider": "ad"}, "ログイン方法を選んでください。"),
    ):
        refused = browser.post(PAGE, {"csrf_token": csrf, **data})
        assert refused.status_code == 400 and 'id="error"' in refused.text, data
        # Issue 14: said in the group of choices, whose first button has the focus.
        assert_field_error(refused.text, "method", message)
    # The domain refuses it too, whoever asks (M3 on the server).
    with node.app.app_context():
        user = node.db().session.get(User, user_id)
        with pytest.raises(MethodChangeError) as refused_ad:
            change_to_upstream(Actor.cli(), user, "ad", "https://fs.example/adfs", "alice")
    assert refused_ad.value.reason == "contractor_cannot_use_ad"
    assert user_row(node, user_id).login_method == "facebook"
    assert ("refused", "contractor_cannot_use_ad") in events(node, None, "login_method_change")


# -- M4: to a password, from the menu ---------------------------------------------------


@pytest.mark.covers("M4", "P2", "X7")
def test_M4_facebook_to_password_signs_out_everywhere_then_the_password_signs_in(node, facebook):
    person = FacebookUser("Moto Facebook", "moto-fb@example.jp")
    _contract, user_id, email = contractor(node, person=person)
    receiver = Receiver().start()
    try:
        rp = node.new_client(backchannel_logout_uri=receiver.url)
        signed_in, laptop = facebook_sign_in(node, facebook, person, rp)
        assert rp.exchange(redirect_params(signed_in)["code"])["_status"] == 200
        browser = menu_via_facebook(node, facebook, person)
        page = browser.get(PAGE)
        assert 'id="password-rule"' in page.text and "3種類以上" in page.text
        # P2 refusals, in Japanese and in English; nothing changes.
        short = browser.submit(page, "password-form", password="Ab1", password_confirmation="Ab1")
        assert short.status_code == 400 and "8文字以上" in error_items(short)
        page_en = browser.get(PAGE + "?lang=en")
        mismatch = browser.submit(
            page_en, "password-form", password=NEW_PASSWORD, password_confirmation="x"
        )
        assert mismatch.status_code == 400 and "do not match" in error_items(mismatch)
        weak = browser.submit(
            page_en, "password-form", password="password", password_confirmation="password"
        )
        assert "at least 3 of" in error_items(weak)
        browser.get(PAGE + "?lang=ja")
        confirm = browser.submit(
            browser.get(PAGE),
            "password-form",
            password=NEW_PASSWORD,
            password_confirmation=NEW_PASSWORD,
        )
        assert confirm.status_code == 200 and 'id="summary-password"' in confirm.text
        assert email in confirm.text and NEW_PASSWORD not in confirm.text
        # The old method still works until the change is confirmed.
        assert user_row(node, user_id).login_method == "facebook"
        done = browser.submit(confirm, "confirm-form")
        assert done.status_code == 200 and 'id="done"' in done.text
        assert 'data-method="password"' in done.text and 'id="to-login"' in done.text
        # Signed out everywhere: this browser, the relying party's, and the RP heard it.
        assert browser.get("/account").url.startswith(f"{node.url}/login")
        again = laptop.session.get(rp.authorize_url(), allow_redirects=False, timeout=10)
        assert "code=" not in again.headers.get("Location", "")
        wait_for_deliveries(node)
        (token,) = receiver.tokens()
        assert validate_logout_token(node, token, rp.client_id, set())["sub"] == user_id
    finally:
        receiver.stop()
    # Facebook no longer signs in; the new password does.
    refused, _browser = facebook_sign_in(node, facebook, person, node.new_client())
    assert refused.status_code == 403 and 'data-reason="identity_not_registered"' in refused.text
    landed, rp = password_sign_in(node, email, NEW_PASSWORD)
    claims = rp.id_token_claims(rp.exchange(redirect_params(landed)["code"])["id_token"])
    assert claims["sub"] == user_id and claims["login_method"] == "password"
    with node.app.app_context():
        assert node.db().session.query(UpstreamIdentity).filter_by(user_id=user_id).count() == 0
    assert events(node, user_id, "login_method_change") == [("ok", None)]


@pytest.mark.covers("M4", "P2")
def test_M4_P2_the_domain_hashes_only_a_password_that_meets_the_rule(node):
    from idp.users.login_method import hash_new_password

    user_id, email = node.new_user(password=None, method="google")
    with node.app.app_context():
        user = node.db().session.get(User, user_id)
        for bad in ("Ab1-", "alllowercase", email, "Password1"):
            with pytest.raises(MethodChangeError) as refused:
                hash_new_password(user, bad)
            assert refused.value.reason == "weak_password", bad
        assert hash_new_password(user, NEW_PASSWORD).startswith("$argon2id$")


@pytest.mark.covers("M4")
def test_M4_the_confirmation_cannot_be_skipped_or_replayed(node, facebook):
    person = FacebookUser("Skip Per", "skip@example.jp")
    _contract, user_id, _email = contractor(node, person=person)
    browser = menu_via_facebook(node, facebook, person)
    page = browser.get(PAGE)
    csrf = forms_in(page.text)[0].fields["csrf_token"]
    skipped = browser.post(PAGE, {"csrf_token": csrf, "step": "confirm"})
    assert skipped.status_code == 400 and "先にパスワードを入力してください" in skipped.text
    # Issue 14: said under the password, which has the focus (not in the group of choices).
    assert_field_error(skipped.text, "password", "先にパスワードを入力してください")
    confirm = browser.submit(
        page, "password-form", password=NEW_PASSWORD, password_confirmation=NEW_PASSWORD
    )
    form = next(f for f in forms_in(confirm.text) if f.id == "confirm-form")
    cookies = browser.session.cookies.get_dict()

    def post(_i: int) -> Any:
        return requests.post(node.url + PAGE, data=form.fields, cookies=cookies, timeout=30)

    with ThreadPoolExecutor(max_workers=3) as pool:
        answers = list(pool.map(post, range(3)))
    assert sum('id="done"' in a.text for a in answers) == 1, [a.status_code for a in answers]
    assert events(node, user_id, "login_method_change") == [("ok", None)]


# -- M5: to an upstream ----------------------------------------------------------------


@pytest.mark.covers("M5", "L7")
def test_M5_password_to_facebook_the_old_method_works_until_bound(node, facebook):
    _contract, user_id, email = contractor(node)
    browser, _menu = account_sign_in(node, email)
    page = browser.get(PAGE)
    assert 'data-method="password"' in page.text and 'id="password-form"' not in page.text
    assert 'id="password-change-hint"' in page.text
    upstream = press_facebook(browser, page)
    # On the way to Facebook: nothing changed, the password still signs in.
    landed, _rp = password_sign_in(node, email, PASSWORD)
    assert "code" in redirect_params(landed)
    person = FacebookUser("Atarashii Hito", "atarashii@example.jp")
    done = dialog(node, facebook, browser, upstream, person)
    assert done.status_code == 200 and 'data-method="facebook"' in done.text
    assert "atarashii@example.jp" in done.text
    refused, _rp = password_sign_in(node, email, PASSWORD)
    assert refused.status_code == 401
    answer, _browser = facebook_sign_in(node, facebook, person, rp := node.new_client())
    claims = rp.id_token_claims(rp.exchange(redirect_params(answer)["code"])["id_token"])
    assert claims["sub"] == user_id and claims["login_method"] == "facebook"
    assert user_row(node, user_id).password_hash is None


@pytest.mark.covers("M5")
def test_M5_declined_at_the_upstream_leads_back_to_the_login_method_page(node, facebook):
    """A change from the menu is no sign-in: its failure page offers the login-method page
    again, not "back to sign-in" (that transaction has no service to finish at: signing in
    there ended in a bare OAuth error)."""
    _contract, user_id, email = contractor(node)
    browser, _menu = account_sign_in(node, email)
    upstream = press_facebook(browser, browser.get(PAGE))
    facebook.deny = True
    try:
        declined = dialog(node, facebook, browser, upstream, FacebookUser("Iie", "iie@example.jp"))
    finally:
        facebook.deny = False
    assert declined.status_code == 400 and 'data-reason="access_denied"' in declined.text
    assert 'id="back"' not in declined.text
    assert f'id="choose-again" class="button" href="{PAGE}"' in declined.text
    assert browser.get(PAGE).status_code == 200  # still signed in to the menu
    assert user_row(node, user_id).login_method == "password"


@pytest.mark.covers("M5", "L7", "G8")
def test_M5_an_identity_bound_to_another_account_is_refused_without_naming_it(node, facebook):
    taken = FacebookUser("Tanin San", "tanin@example.jp")
    other_id, other_email = facebook_user(node, taken, name="他人 太郎")
    _contract, user_id, email = contractor(node)
    browser, _menu = account_sign_in(node, email)
    page = browser.get(PAGE)
    refused = dialog(node, facebook, browser, press_facebook(browser, page), taken)
    assert refused.status_code == 409 and 'data-reason="identity_taken"' in refused.text
    assert "ログアウト" in refused.text and 'id="nothing-changed"' in refused.text
    for secret in (other_id, other_email, "他人 太郎"):
        assert secret not in refused.text
    row = user_row(node, user_id)
    assert row.login_method == "password" and row.password_hash
    landed, _rp = password_sign_in(node, email, PASSWORD)
    assert "code" in redirect_params(landed)


@pytest.mark.covers("M5")
def test_M5_facebook_cannot_switch_directly_to_another_facebook_account(node, facebook):
    first = FacebookUser("Ichi Ban", "ichi@example.jp")
    second = FacebookUser("Ni Ban", "ni@example.jp")
    _contract, user_id, email = contractor(node, person=first)
    browser = menu_via_facebook(node, facebook, first)
    page = browser.get(PAGE)
    refused = dialog(node, facebook, browser, press_facebook(browser, page), second)
    assert refused.status_code == 409 and 'data-reason="facebook_rebind"' in refused.text
    with node.app.app_context():
        (bound,) = node.db().session.query(UpstreamIdentity).filter_by(user_id=user_id).all()
        assert bound.subject == app_scoped_id(first, node.facebook_app.app_id)
    # Through another method first (a password), then the other Facebook account binds.
    confirm = browser.submit(
        browser.get(PAGE),
        "password-form",
        password=NEW_PASSWORD,
        password_confirmation=NEW_PASSWORD,
    )
    browser.submit(confirm, "confirm-form")
    browser, _menu = account_sign_in(node, email, NEW_PASSWORD)
    done = dialog(node, facebook, browser, press_facebook(browser, browser.get(PAGE)), second)
    assert done.status_code == 200 and 'data-method="facebook"' in done.text
    with node.app.app_context():
        (bound,) = node.db().session.query(UpstreamIdentity).filter_by(user_id=user_id).all()
        assert bound.subject == app_scoped_id(second, node.facebook_app.app_id)


# -- M2, M6: the method-change link ------------------------------------------------------


def _link(mailbox: Any, email: str) -> str:
    mail = mailbox.wait_for(to=email, subject_contains="ログイン方法の設定変更")
    return [u for u in mailbox.links_in(mail) if "/links/" in u][-1]


def _send(provider: Any, user_id: str, actor: Actor | None = None) -> str:
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        return send_method_change_link(actor or Actor.cli(), user)


def _confirmation(browser: Browser, link: str, password: str = NEW_PASSWORD) -> Any:
    page = browser.get(link)
    assert page.status_code == 200, page.text[:300]
    return browser.submit(page, "password-form", password=password, password_confirmation=password)


@pytest.mark.covers("M2", "M6", "M4", "X4")
def test_M6_the_mail_and_its_link_change_a_users_method_to_a_password(provider, mailbox):
    contract_id = provider.new_contract(two_factor=False)
    user_id, email = provider.new_user(
        contract_id, password=None, method="google", name="利用 次郎"
    )
    link_id = _send(provider, user_id, Actor.admin(uuid.uuid4().hex, contract_id))
    assert re.fullmatch(r"[0-9a-f]{32}", link_id)
    mail = mailbox.wait_for(to=email, subject_contains="ログイン方法の設定変更")
    assert mail["Subject"] == SUBJECT
    body = mailbox.text_of(mail)
    assert "利用 次郎 様" in body and "14日間" in body and "取り消され" in body
    link = _link(mailbox, email)
    assert link.startswith(provider.url + "/links/")
    browser = Browser(provider.url)
    page = browser.get(link)
    assert page.status_code == 200 and 'data-method="google"' in page.text
    assert 'id="password-rule"' in page.text and 'id="broker-ad"' not in page.text
    # GET changed nothing; P2 refusals leave the link usable.
    bad = browser.submit(page, "password-form", password="short", password_confirmation="short")
    assert bad.status_code == 400 and "8文字以上" in error_items(bad)
    confirm = _confirmation(browser, link)
    assert confirm.status_code == 200 and NEW_PASSWORD not in confirm.text
    assert "（表示しません）" in confirm.text and email in confirm.text
    done = browser.submit(confirm, "confirm-form")
    assert done.status_code == 200 and 'id="done"' in done.text
    assert 'data-method="password"' in done.text
    landed, rp = password_sign_in(provider, email, NEW_PASSWORD)
    claims = rp.id_token_claims(rp.exchange(redirect_params(landed)["code"])["id_token"])
    assert claims["sub"] == user_id and claims["login_method"] == "password"
    # Single use.
    again = browser.submit(confirm, "confirm-form")
    assert again.status_code == 400 and "すでに使用されています" in again.text
    assert events(provider, user_id, "method_change_link") == [("ok", None)]
    assert events(provider, user_id, "login_method_change") == [("ok", None)]


@pytest.mark.covers("M6", "X4")
def test_M6_after_14_days_the_link_has_expired_and_nothing_changed(provider, mailbox):
    user_id, email = provider.new_user(password=None, method="google")
    _send(provider, user_id)
    link = _link(mailbox, email)
    browser = Browser(provider.url)
    confirm = _confirmation(browser, link)
    with time_machine.travel(utcnow() + timedelta(days=14, seconds=1), tick=False):
        late = browser.get(link)
        posted = browser.submit(confirm, "confirm-form")
    for page in (late, posted):
        assert page.status_code == 400 and "有効期限" in page.text
        assert 'id="method-link-advice"' in page.text and "変更されていません" in page.text
    row = user_row(provider, user_id)
    assert row.login_method == "google" and row.password_hash is None
    with time_machine.travel(utcnow() + timedelta(days=13, hours=23), tick=False):
        assert browser.get(link).status_code == 200


@pytest.mark.covers("M6", "X4")
def test_M6_tampered_link_and_a_skipped_confirmation_change_nothing(provider, mailbox):
    user_id, email = provider.new_user(password=None, method="google")
    _send(provider, user_id)
    link = _link(mailbox, email)
    token = link.rsplit("/", 1)[1]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    browser = Browser(provider.url)
    for bad in (flipped, token[:-2], token + "x"):
        page = browser.get(f"{provider.url}/links/{bad}")
        assert page.status_code == 400 and "このリンクは無効です" in page.text
    page = browser.get(link)
    csrf = forms_in(page.text)[0].fields["csrf_token"]
    skipped = browser.post(link, {"csrf_token": csrf, "step": "confirm"})
    assert skipped.status_code == 400 and "先にパスワードを入力してください" in skipped.text
    assert_field_error(skipped.text, "password", "先にパスワードを入力してください")
    assert browser.get(link).status_code == 200
    assert user_row(provider, user_id).login_method == "google"


@pytest.mark.covers("M6", "X4")
def test_M6_parallel_confirmations_change_the_method_once(provider, mailbox):
    user_id, email = provider.new_user(password=None, method="google")
    _send(provider, user_id)
    link = _link(mailbox, email)
    browser = Browser(provider.url)
    confirm = _confirmation(browser, link)
    form = next(f for f in forms_in(confirm.text) if f.id == "confirm-form")
    cookies = browser.session.cookies.get_dict()

    def post(_i: int) -> Any:
        return requests.post(link, data=form.fields, cookies=cookies, timeout=30)

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(post, range(4)))
    assert sorted(a.status_code for a in answers) == [200, 400, 400, 400]
    assert sum('id="done"' in a.text for a in answers) == 1
    assert events(provider, user_id, "login_method_change") == [("ok", None)]


@pytest.mark.covers("M6", "X4", "K3")
def test_M6_X4_a_later_password_change_voids_the_link(provider, mailbox):
    from idp.users.reset import set_new_password

    user_id, email = provider.new_user()
    _send(provider, user_id)
    link = _link(mailbox, email)
    browser = Browser(provider.url)
    assert browser.get(link).status_code == 200
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        set_new_password(Actor.cli(), user, "Atarashii-Pass-2027")
    void = browser.get(link)
    assert void.status_code == 400 and "このリンクは無効です" in void.text


@pytest.mark.covers("M1", "M2", "G8", "L10")
def test_M2_who_may_be_sent_a_link(provider, mailbox):
    from idp.users.invitations import invite_user

    trial = provider.new_contract(plan="trial")
    trial_boss, _e = provider.new_user(trial, role="contractor")
    basic = provider.new_contract()
    basic_boss, boss_email = provider.new_user(basic, role="contractor")
    member, _e = provider.new_user(basic)
    with provider.app.app_context():
        session = provider.db().session
        invited = invite_user(Actor.cli(), basic, f"inv-{uuid.uuid4().hex[:8]}@example.jp")
        cases = {
            "trial contractor (M1)": (Actor.cli(), trial_boss, "not_permitted"),
            "another contract's admin (G8)": (Actor.admin("a1", trial), member, "not_found"),
            "an invited user (L10)": (Actor.cli(), invited.user_id, "not_registered"),
        }
        for name, (actor, target, reason) in cases.items():
            with pytest.raises(DomainError) as refused:
                send_method_change_link(actor, session.get(User, target))
            assert refused.value.reason == reason, name
    # The basic contractor may get one (M1 allows the change; e.g. locked out upstream).
    _send(provider, basic_boss)
    page = Browser(provider.url).get(_link(mailbox, boss_email))
    assert page.status_code == 200 and 'data-method="password"' in page.text
    assert ("refused", "not_permitted") in events(provider, None, "method_change_link")


@pytest.mark.covers("M6")
def test_M6_english_mail(provider, mailbox):
    user_id, email = provider.new_user(password=None, method="google", locale="en", name="Jo")
    _send(provider, user_id)
    mail = mailbox.wait_for(to=email, subject_contains="login method")
    assert mail["Subject"] == "[WORKSDRIVE] Change your login method"
    body = mailbox.text_of(mail)
    assert "Dear Jo" in body and "14 days" in body and "cancelled" in body
    page = Browser(provider.url).get(mailbox.links_in(mail)[0])
    assert page.status_code == 200 and "Change your login method" in page.text


@pytest.mark.covers("M6", "M5", "L7")
def test_M6_M5_link_binds_facebook_and_a_taken_identity_keeps_the_link(node, facebook, mailbox):
    taken = FacebookUser("Senyu Sha", "senyu@example.jp")
    facebook_user(node, taken)
    contract_id = node.new_contract(two_factor=False)
    user_id, email = node.new_user(contract_id)
    _send(node, user_id)
    link = _link(mailbox, email)
    browser = Browser(node.url)
    refused = dialog(node, facebook, browser, press_facebook(browser, browser.get(link)), taken)
    assert refused.status_code == 409 and 'data-reason="identity_taken"' in refused.text
    assert "senyu@example.jp" in refused.text  # the upstream account the person chose
    person = FacebookUser("Jibun Desu", "jibun@example.jp")
    done = dialog(node, facebook, browser, press_facebook(browser, browser.get(link)), person)
    assert done.status_code == 200 and 'data-method="facebook"' in done.text
    assert browser.get(link).status_code == 400
    assert user_row(node, user_id).login_method == "facebook"


# -- M3, D2: to Active Directory by link ---------------------------------------------------


@pytest.fixture(scope="module")
def adfs(node: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.test_brokers_adfs_daccount import start_adfs_double

    double = start_adfs_double(
        tmp_path_factory.mktemp("adfs-method"), redirect_uri=f"{node.url}/login/callback/ad"
    )
    yield double
    double.stop()


@pytest.mark.covers("M3", "D2", "L8")
def test_M3_D2_a_user_changes_to_ad_by_link_and_is_mailed_the_login_urls(node, adfs, mailbox):
    from idp.contracts.ad import add_ad_connection
    from tests.test_brokers_adfs_daccount import ADFS_CLIENT_ID
    from tests.test_brokers_adfs_daccount import ADFS_SECRET

    contract_id = node.new_contract(two_factor=False)
    _boss, boss_email = node.new_user(contract_id, role="contractor")
    settings = {
        "issuer": adfs.issuer,
        "client_id": ADFS_CLIENT_ID,
        "resource": "urn:worksdrive:idp",
        "allow_http": True,
    }
    with node.app.app_context():
        connection_id = add_ad_connection(
            Actor.cli(), contract_id, "adfs", settings, ADFS_SECRET
        ).connection_id
    # The contractor's own link never offers AD (M3).
    boss_id = user_row_by_email(node, boss_email)
    _send(node, boss_id)
    assert 'id="broker-ad"' not in Browser(node.url).get(_link(mailbox, boss_email)).text
    user_id, email = node.new_user(contract_id, name="AD 利用者")
    _send(node, user_id)
    link = _link(mailbox, email)
    browser = Browser(node.url)
    page = browser.get(link)
    assert 'id="broker-ad"' in page.text
    screen = browser.submit(page, "upstream-ad")
    assert f'<code id="connection-id">{connection_id}</code>' in screen.text
    form = next(f for f in forms_in(screen.text) if f.id == "ad-confirm-form")
    response = browser.session.post(link, data=form.fields, allow_redirects=False, timeout=10)
    assert response.status_code == 303
    url = response.headers["Location"]
    for _ in range(12):
        response = browser.session.get(url, allow_redirects=False, timeout=10)
        if response.status_code == 200 and "/adfs/interaction/" in url:
            response = browser.session.post(
                url, data={"account": "alice"}, allow_redirects=False, timeout=10
            )
        assert response.status_code in (302, 303), (url, response.status_code)
        url = urljoin(url, response.headers["Location"])
        if url.startswith(f"{node.url}/login/callback/ad"):
            break
    done = browser.get(url)
    assert done.status_code == 200 and 'data-method="ad"' in done.text
    row = user_row(node, user_id)
    assert row.login_method == "ad" and row.password_hash is None
    mail = mailbox.wait_for(to=email, subject_contains="Active Directory")
    assert mail["Subject"] == AD_SUBJECT
    body = mailbox.text_of(mail)
    assert "AD 利用者 様" in body and f"接続ID: {connection_id}" in body
    assert f"{node.url}/login/ad/{connection_id}" in body
    assert f"{node.url}/line/login/ad/{connection_id}" in body


def user_row_by_email(provider: Any, email: str) -> str:
    from idp.users.find import find_user_by_email

    with provider.app.app_context():
        user = find_user_by_email(email)
        assert user is not None
        return user.id


# -- CLI --------------------------------------------------------------------------------


@pytest.mark.covers("M2", "M6")
def test_M2_cli_users_method_link_mails_and_prints_the_link_id(tmp_path):
    import email as email_lib
    from email import policy

    from tests.test_cli import IDP

    env = {
        **os.environ,
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_SECRET_KEY": "cli-test-secret",
        "IDP_ENCRYPTION_KEY": "x2rqoV0T3sD5cQ0nJ6W9lJ2xQe0y2v9cN3m0tWqZ8kE=",
        "IDP_ISSUER": "http://127.0.0.1:9",
        "IDP_ARGON2_MEMORY_KIB": "1024",
        "IDP_ARGON2_TIME_COST": "1",
    }

    def run(*args: str, check: bool = True) -> Any:
        result = subprocess.run([*IDP, *args], env=env, capture_output=True, text=True, timeout=60)
        assert not check or result.returncode == 0, result.stderr
        return result

    run("init")
    contract = run("contracts", "add", "Method Corp").stdout.strip()
    run("users", "add", "--contract", contract, "--email", "g@method.example", "--method", "google")
    out = run("users", "method-link", "--email", "G@method.example").stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{32}", out), out
    assert "/links/" not in out
    unknown = run("users", "method-link", "--email", "nobody@method.example", check=False)
    assert unknown.returncode != 0 and "no user" in unknown.stderr.lower()
    outbox = sorted((tmp_path / "instance" / "outbox").glob("*.eml"))
    mails = [email_lib.message_from_bytes(p.read_bytes(), policy=policy.default) for p in outbox]
    (mail,) = [m for m in mails if m["To"] == "g@method.example"]
    assert mail["Subject"] == SUBJECT
    assert "http://127.0.0.1:9/links/" in mail.get_body(("plain",)).get_content()
