"""L10, G3, P2, X4: inviting a user, the registration mail and page, then a normal sign-in."""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
import time_machine

from idp.actor import Actor
from idp.contracts.contract import add_contract
from idp.errors import ProvisioningError
from idp.models import AuditEvent
from idp.models import Invitation
from idp.models import User
from idp.models import utcnow
from idp.users.invitations import invite_user
from idp.users.invitations import resend_invitation
from tests.conftest import PASSWORD
from tests.field_errors import assert_field_error
from tests.field_errors import assert_no_field_error
from tests.field_errors import read
from tests.field_errors import text_of
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.helpers import link_of

SUBJECT = "【WORKSDRIVE】利用者登録のご案内"
NEW_PASSWORD = "Welcome-Aboard-2026"
ADVICE = "ご契約者または管理者に招待の再送を依頼してください"


def _contract_with_contractor(provider) -> tuple[str, str]:
    """A contract (2FA off, so that sign-in ends at the service) and its contractor's email."""
    contract_id = provider.new_contract(two_factor=False)
    _id, owner = provider.new_user(contract_id, role="contractor")
    return contract_id, owner


def _invite(provider, contract_id, name="招待 花子", role="user", actor=None):
    email = f"inv-{uuid.uuid4().hex[:10]}@example.jp"
    with provider.app.app_context():
        invitation = invite_user(actor or Actor.cli(), contract_id, email, name, role)
        return invitation.id, invitation.user_id, email


def _link(mailbox, email) -> str:
    mail = mailbox.wait_for(to=email, subject_contains="利用者登録")
    return [u for u in mailbox.links_in(mail) if "/links/" in u][-1]


def _confirm_page(browser, link, password=NEW_PASSWORD):
    form = browser.get(link)
    assert form.status_code == 200, form.text[:500]
    return browser.submit(form, "password-form", password=password, password_confirmation=password)


def _register(browser, link, password=NEW_PASSWORD):
    confirm = _confirm_page(browser, link, password)
    assert confirm.status_code == 200, confirm.text[:500]
    return browser.submit(confirm, "confirm-form")


def _error_text(page) -> str:
    match = re.search(r'<p class="error" id="error"[^>]*>(.*?)</p>', page.text, re.S)
    return match.group(1).strip() if match else ""


@pytest.mark.covers("L10", "G3", "P2")
def test_L10_invitation_mail_registration_confirmation_completion_then_sign_in(
    provider, rp, mailbox
):
    contract_id, owner = _contract_with_contractor(provider)
    invitation_id, user_id, email = _invite(provider, contract_id)

    mail = mailbox.wait_for(to=email, subject_contains="利用者登録")
    assert mail["Subject"] == SUBJECT
    body = mailbox.text_of(mail)
    assert "招待 花子 様" in body and email in body and owner in body
    assert "14日間" in body
    link = _link(mailbox, email)
    assert link.startswith(provider.url + "/links/")

    browser = Browser(provider.url)
    page = browser.get(link)
    assert page.status_code == 200
    assert 'id="password-rule"' in page.text and "3種類以上" in page.text
    assert email in page.text and owner in page.text
    assert 'id="upstream-advice"' in page.text and "先にログアウト" in page.text
    # P2 refusals keep the link usable.
    for bad, again in [("short1A", "short1A"), ("Password1", "Password1"), (NEW_PASSWORD, "x")]:
        refused = browser.submit(page, "password-form", password=bad, password_confirmation=again)
        assert refused.status_code == 400 and 'id="error"' in refused.text, bad

    confirm = _confirm_page(browser, link)
    assert confirm.status_code == 200
    assert email in confirm.text and 'id="summary-method"' in confirm.text
    assert "パスワード" in confirm.text and "（表示しません）" in confirm.text
    assert NEW_PASSWORD not in confirm.text
    done = browser.submit(confirm, "confirm-form")
    assert done.status_code == 200 and 'id="done"' in done.text
    assert "利用者登録が完了しました" in done.text

    tokens = rp.login_tokens(Browser(provider.url), email, NEW_PASSWORD)
    assert rp.id_token_claims(tokens["id_token"])["sub"]
    with provider.app.app_context():
        invitation = provider.db().session.get(Invitation, invitation_id)
        assert invitation.registered_at is not None
        events = {
            e.event
            for e in provider.db().session.query(AuditEvent).filter_by(user_id=user_id).all()
        }
        assert {"user_invite", "user_register"} <= events


@pytest.mark.covers("L10", "L2")
def test_L10_L2_invited_user_cannot_sign_in_before_registering_same_answer_as_wrong_password(
    provider, rp, mailbox
):
    contract_id, _owner = _contract_with_contractor(provider)
    _inv, _user_id, invited = _invite(provider, contract_id)
    _known_id, known = provider.new_user(contract_id)

    def attempt(email, password):
        browser = Browser(provider.url)
        page = browser.get(rp.authorize_url())
        return browser.submit(page, "password-form", email=email, password=password)

    pending = attempt(invited, NEW_PASSWORD)
    empty = attempt(invited, "")
    wrong = attempt(known, "Not-The-Password-1")
    assert pending.status_code == wrong.status_code == 401
    assert _error_text(pending) == _error_text(wrong) != ""
    assert empty.status_code in (400, 401) and "code=" not in empty.url


@pytest.mark.covers("L10", "X4")
def test_L10_X4_registration_link_expires_after_14_days(provider, mailbox):
    contract_id, _owner = _contract_with_contractor(provider)
    _inv, _uid, email = _invite(provider, contract_id)
    link = _link(mailbox, email)
    browser = Browser(provider.url)
    form = browser.get(link)
    with time_machine.travel(utcnow() + timedelta(days=14, seconds=1), tick=False):
        late = browser.get(link)
        posted = browser.submit(
            form, "password-form", password=NEW_PASSWORD, password_confirmation=NEW_PASSWORD
        )
    for page in (late, posted):
        assert page.status_code == 400
        assert "有効期限" in page.text and ADVICE in page.text
    with time_machine.travel(utcnow() + timedelta(days=13, hours=23), tick=False):
        assert browser.get(link).status_code == 200


@pytest.mark.covers("L10", "X4")
def test_L10_X4_registration_link_works_once(provider, rp, mailbox):
    contract_id, _owner = _contract_with_contractor(provider)
    _inv, _uid, email = _invite(provider, contract_id)
    link = _link(mailbox, email)
    browser = Browser(provider.url)
    confirm = _confirm_page(browser, link)
    assert browser.submit(confirm, "confirm-form").status_code == 200
    # The same confirmation again, and a fresh password form: the link is used.
    again = browser.submit(confirm, "confirm-form")
    assert again.status_code == 400 and "すでに使用されています" in again.text
    assert ADVICE in again.text
    reopened = browser.get(link)
    assert reopened.status_code == 400
    # The password chosen first stands.
    assert rp.login_tokens(Browser(provider.url), email, NEW_PASSWORD)["id_token"]


@pytest.mark.covers("L10", "X4")
def test_L10_X4_parallel_confirmations_register_once(provider, rp, mailbox):
    contract_id, _owner = _contract_with_contractor(provider)
    _inv, user_id, email = _invite(provider, contract_id)
    link = _link(mailbox, email)
    browser = Browser(provider.url)
    confirm = _confirm_page(browser, link)
    form = forms_in(confirm.text)[0]
    cookies = browser.session.cookies.get_dict()

    def post(_i):
        return requests.post(link, data=form.fields, cookies=cookies, timeout=30)

    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(post, range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 400, 400, 400], statuses
    assert sum('id="done"' in a.text for a in answers) == 1
    with provider.app.app_context():
        registered = (
            provider.db()
            .session.query(AuditEvent)
            .filter_by(user_id=user_id, event="user_register", outcome="ok")
            .count()
        )
        assert registered == 1
    assert rp.login_tokens(Browser(provider.url), email, NEW_PASSWORD)["id_token"]


@pytest.mark.covers("L10")
def test_L10_a_choice_not_offered_on_a_page_with_only_the_password_is_said_at_the_top(
    provider, mailbox
):
    """Issue 14: with no group of other choices on the page (no upstream, no AD), a refused
    choice is said in the summary only; no field is marked, the password keeps no focus."""
    contract_id, _owner = _contract_with_contractor(provider)
    _inv, _user_id, email = _invite(provider, contract_id)
    link = _link(mailbox, email)
    browser = Browser(provider.url)
    page = browser.get(link)
    assert 'id="method"' not in page.text and 'id="password-form"' in page.text
    csrf = forms_in(page.text)[0].fields["csrf_token"]
    refused = browser.post(link, {"csrf_token": csrf, "step": "upstream", "provider": "google"})
    assert refused.status_code == 400
    assert "ログイン方法を選んでください。" in text_of(refused.text, "error")
    assert_no_field_error(refused.text)
    assert browser.get(link).status_code == 200


@pytest.mark.covers("L10", "X4")
def test_L10_X4_tampered_link_gets_a_clear_page_and_changes_nothing(provider, mailbox):
    contract_id, _owner = _contract_with_contractor(provider)
    _inv, user_id, email = _invite(provider, contract_id)
    link = _link(mailbox, email)
    token = link.rsplit("/", 1)[1]
    flipped = token[:-1] + ("A" if token[-1] != "A" else "B")
    browser = Browser(provider.url)
    for bad in (flipped, token[:-2], token + "x", "x" * 200):
        page = browser.get(f"{provider.url}/links/{bad}")
        assert page.status_code == 400, bad
        assert "このリンクは無効です" in page.text and ADVICE in page.text
    # A confirmation without a password chosen first does not use the link.
    page = browser.get(link)
    skipped = browser.post(
        link, {"csrf_token": forms_in(page.text)[0].fields["csrf_token"], "step": "confirm"}
    )
    assert skipped.status_code == 400 and "先にパスワードを入力してください" in skipped.text
    assert browser.get(link).status_code == 200
    with provider.app.app_context():
        assert provider.db().session.get(User, user_id).password_hash is None


@pytest.mark.covers("L10", "G3", "X4")
def test_G3_resend_voids_the_older_link(provider, rp, mailbox):
    contract_id, _owner = _contract_with_contractor(provider)
    invitation_id, _uid, email = _invite(provider, contract_id)
    first = _link(mailbox, email)
    mailbox.clear()
    with provider.app.app_context():
        resend_invitation(Actor.cli(), invitation_id)
    second = _link(mailbox, email)
    assert first != second
    assert Browser(provider.url).get(first).status_code == 400
    done = _register(Browser(provider.url), second)
    assert done.status_code == 200 and 'id="done"' in done.text
    with provider.app.app_context(), pytest.raises(ProvisioningError) as refused:
        resend_invitation(Actor.cli(), invitation_id)
    assert refused.value.reason == "already_registered"


@pytest.mark.covers("L10", "G3", "G8", "L2")
def test_G3_G8_an_address_in_use_is_refused_without_saying_whose(provider, mailbox):
    contract_id, _owner = _contract_with_contractor(provider)
    with provider.app.app_context():
        other_contract = add_contract(Actor.cli(), "Secret Other Corp").id
    _other_id, other_email = provider.new_user(other_contract, name="Other Person")
    _same_id, same_email = provider.new_user(contract_id)
    _inv, _uid, pending = _invite(provider, contract_id)
    with provider.app.app_context():
        cases = {}
        for email in (same_email, same_email.upper(), other_email, other_email.upper(), pending):
            with pytest.raises(ProvisioningError) as refused:
                invite_user(Actor.cli(), contract_id, email, "X")
            cases[email] = refused.value
        assert cases[same_email].reason == cases[same_email.upper()].reason == "email_taken"
        assert "already a user of this contract" in str(cases[same_email])
        assert cases[pending].reason == "already_invited"
        other = cases[other_email]
        assert other.reason == cases[other_email.upper()].reason == "email_unavailable"
        for word in (other_contract, "Secret Other Corp", "Other Person", _other_id, "contract"):
            assert word not in str(other), word
        # Nothing was created, no mail was sent for the refusals.
        assert provider.db().session.query(User).filter_by(email=other_email).count() == 1
    assert not [m for m in mailbox.messages if m["To"] in (same_email, other_email)]


@pytest.mark.covers("L10", "G3", "U2", "G8")
def test_G3_G8_role_cannot_be_contractor_and_only_into_ones_own_contract(provider, mailbox):
    contract_id, _owner = _contract_with_contractor(provider)
    other_contract = provider.new_contract()
    with provider.app.app_context():
        with pytest.raises(ProvisioningError) as refused:
            invite_user(Actor.cli(), contract_id, "boss@example.jp", "", "contractor")
        assert refused.value.reason == "role_not_invitable"
        with pytest.raises(ProvisioningError) as refused:
            invite_user(Actor.admin("a1", other_contract), contract_id, "x@example.jp")
        assert refused.value.reason == "other_contract"
        assert provider.db().session.query(User).filter_by(email="boss@example.jp").count() == 0
    _inv, user_id, _email = _invite(provider, contract_id, role="admin")
    with provider.app.app_context():
        assert provider.db().session.get(User, user_id).role == "admin"


@pytest.mark.covers("L10")
def test_L10_english_invitation_mail(provider, mailbox):
    contract_id, owner = _contract_with_contractor(provider)
    email = f"inv-{uuid.uuid4().hex[:10]}@example.jp"
    with provider.app.app_context():
        invite_user(Actor.cli(), contract_id, email, "Hana", locale="en")
    mail = mailbox.wait_for(to=email, subject_contains="Invitation")
    assert mail["Subject"] == "[WORKSDRIVE] Invitation to register"
    body = mailbox.text_of(mail)
    assert "Dear Hana" in body and owner in body and "14 days" in body
    page = Browser(provider.url).get(mailbox.links_in(mail)[0])
    assert page.status_code == 200 and "Register for WORKSDRIVE" in page.text


@pytest.mark.covers("L10", "G3")
def test_cli_users_invite_prints_the_invitation_id_and_mails(tmp_path):
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

    def run(*args, check=True):
        result = subprocess.run([*IDP, *args], env=env, capture_output=True, text=True, timeout=60)
        assert not check or result.returncode == 0, result.stderr
        return result

    run("init")
    contract = run("contracts", "add", "Invite Corp").stdout.strip()
    run("users", "add", "--contract", contract, "--email", "owner@invite.example",
        "--password", PASSWORD, "--role", "contractor")  # fmt: skip
    out = run("users", "invite", "--contract", contract, "--email", "new@invite.example",
              "--name", "New Person", "--role", "admin").stdout.strip()  # fmt: skip
    assert re.fullmatch(r"[0-9a-f]{32}", out), out
    contractor = run("users", "invite", "--contract", contract, "--email", "c@invite.example",
                     "--role", "contractor", check=False)  # fmt: skip
    assert contractor.returncode != 0
    taken = run("users", "invite", "--contract", contract, "--email", "NEW@invite.example",
                check=False)  # fmt: skip
    assert taken.returncode != 0 and "already" in taken.stderr
    outbox = sorted((tmp_path / "instance" / "outbox").glob("*.eml"))
    mails = [email_lib.message_from_bytes(p.read_bytes(), policy=policy.default) for p in outbox]
    invites = [m for m in mails if m["To"] == "new@invite.example"]
    assert len(invites) == 1 and invites[0]["Subject"] == SUBJECT
    assert "owner@invite.example" in invites[0].get_body(("plain",)).get_content()


# -- registering through an upstream (Facebook's double; the other upstreams share the path)


@pytest.fixture(scope="module")
def facebook():
    from tests.facebook_double import run_facebook_double

    with run_facebook_double() as double:
        yield double


@pytest.fixture(scope="module")
def fb_node(services, tmp_path_factory, facebook):
    import threading

    from werkzeug.serving import make_server

    from tests.conftest import build_provider

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
    node = build_provider(
        "sqlite+sqlstore", tmp_path_factory.mktemp("invite-fb"), services, brokers=brokers
    )
    server = make_server("127.0.0.1", node.app.config["TEST_PORT"], node.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield node
    server.shutdown()
    node.close()


def _through_facebook(node, facebook, browser, page, person):
    """The registration page's Facebook button → the dialog → back at our callback."""
    form = next(f for f in forms_in(page.text) if f.id == "upstream-facebook")
    upstream = browser.session.post(page.url, data=form.fields, allow_redirects=False, timeout=10)
    assert upstream.status_code == 303, upstream.text[:300]
    assert upstream.headers["Location"].startswith(facebook.url)
    facebook.next_user = person
    dialog = browser.session.get(upstream.headers["Location"], allow_redirects=False, timeout=10)
    callback = dialog.headers["Location"]
    assert callback.startswith(node.url + "/login/callback/facebook?")
    return browser.get(callback)


@pytest.mark.covers("L10", "L7")
def test_L10_L7_registering_with_an_upstream_binds_it_through_the_broker_flow(
    fb_node, facebook, mailbox
):
    from tests.facebook_double import FacebookUser
    from tests.helpers import redirect_params

    contract_id, _owner = _contract_with_contractor(fb_node)
    _inv, user_id, email = _invite(fb_node, contract_id)
    link = _link(mailbox, email)
    browser = Browser(fb_node.url)
    page = browser.get(link)
    assert 'id="broker-facebook"' in page.text and "broker-google" not in page.text
    assert "先にログアウト" in page.text
    # A choice the page does not offer (a form kept from before the setting changed): said in
    # the group of choices, whose first button has the focus (issue 14); the link still works.
    forged = {**next(f for f in forms_in(page.text) if f.id == "upstream-facebook").fields}
    refused = browser.post(link, {**forged, "provider": "google"})
    assert refused.status_code == 400
    assert_field_error(refused.text, "method", "ログイン方法を選んでください。")
    assert "autofocus" in re.search(r'<button [^>]*id="broker-facebook"[^>]*>', refused.text)[0]
    assert browser.get(link).status_code == 200
    person = FacebookUser("Hanako Invited", "hanako-fb@example.jp")
    done = _through_facebook(fb_node, facebook, browser, page, person)
    assert done.status_code == 200 and 'id="done"' in done.text
    assert "hanako-fb@example.jp" in done.text
    # The link is used; the invited user now signs in with Facebook like anyone bound to it.
    assert browser.get(link).status_code == 400
    rp = fb_node.new_client()
    signin = Browser(fb_node.url)
    login = signin.get(rp.authorize_url())
    upstream = signin.session.get(
        link_of(login, "broker-facebook"), allow_redirects=False, timeout=10
    )
    facebook.next_user = person
    dialog = signin.session.get(upstream.headers["Location"], allow_redirects=False, timeout=10)
    tokens = rp.exchange(redirect_params(signin.get(dialog.headers["Location"]))["code"])
    claims = rp.id_token_claims(tokens["id_token"])
    assert claims["sub"] == user_id and claims["login_method"] == "facebook"


@pytest.mark.covers("L10", "L7")
def test_L10_an_upstream_account_already_registered_is_refused_and_the_link_stays_usable(
    fb_node, facebook, mailbox
):
    from tests.facebook_double import FacebookUser

    contract_id, _owner = _contract_with_contractor(fb_node)
    person = FacebookUser("Taken Person", "taken-fb@example.jp")
    _i1, _u1, first = _invite(fb_node, contract_id)
    browser = Browser(fb_node.url)
    done = _through_facebook(fb_node, facebook, browser, browser.get(_link(mailbox, first)), person)
    assert done.status_code == 200
    _i2, user_id, second = _invite(fb_node, contract_id)
    link = _link(mailbox, second)
    other = Browser(fb_node.url)
    taken = _through_facebook(fb_node, facebook, other, other.get(link), person)
    assert taken.status_code == 409 and 'data-reason="identity_taken"' in taken.text
    assert "ログアウト" in taken.text
    with fb_node.app.app_context():
        assert fb_node.db().session.get(User, user_id).password_hash is None
    # Signed out upstream and back with the right account: the same link still works.
    right = FacebookUser("Right Person", "right-fb@example.jp")
    done = _through_facebook(fb_node, facebook, other, other.get(link), right)
    assert done.status_code == 200 and 'id="done"' in done.text


@pytest.mark.covers("L10", "K3", "L2")
def test_L10_K3_an_invited_user_gets_no_reset_mail_before_registering(provider, mailbox):
    contract_id, _owner = _contract_with_contractor(provider)
    _inv, user_id, email = _invite(provider, contract_id)
    _link(mailbox, email)
    browser = Browser(provider.url)
    pending = browser.submit(browser.get("/password/forgot"), email=email)
    unknown = browser.submit(browser.get("/password/forgot"), email="nobody-x@example.jp")
    assert pending.status_code == unknown.status_code == 200 and pending.text == unknown.text
    provider.app.extensions["idp.mailer"].wait_idle()
    assert not [m for m in mailbox.messages if "パスワードリセット" in str(m["Subject"])]
    with provider.app.app_context():
        reasons = [
            e.reason
            for e in provider.db()
            .session.query(AuditEvent)
            .filter_by(user_id=user_id, event="reset_requested")
            .all()
        ]
    assert reasons == ["not_registered"]


@pytest.fixture(scope="module")
def adfs(fb_node, tmp_path_factory):
    from tests.test_brokers_adfs_daccount import start_adfs_double

    double = start_adfs_double(
        tmp_path_factory.mktemp("adfs-invite"), redirect_uri=f"{fb_node.url}/login/callback/ad"
    )
    yield double
    double.stop()


@pytest.mark.covers("L10", "L8", "D1", "D2")
def test_L10_L8_active_directory_is_offered_with_its_connection_id_screen_then_ad_fs(
    fb_node, adfs, mailbox
):
    from urllib.parse import urljoin

    from idp.contracts.ad import add_ad_connection
    from idp.models import UpstreamIdentity
    from tests.test_brokers_adfs_daccount import ADFS_CLIENT_ID
    from tests.test_brokers_adfs_daccount import ADFS_SECRET

    # A contract without AD: no AD button.
    plain_contract, _owner = _contract_with_contractor(fb_node)
    _i, _u, plain = _invite(fb_node, plain_contract)
    assert 'id="broker-ad"' not in Browser(fb_node.url).get(_link(mailbox, plain)).text

    contract_id, _owner = _contract_with_contractor(fb_node)
    settings = {
        "issuer": adfs.issuer,
        "client_id": ADFS_CLIENT_ID,
        "resource": "urn:worksdrive:idp",
        "allow_http": True,
    }
    with fb_node.app.app_context():
        connection_id = add_ad_connection(
            Actor.cli(), contract_id, "adfs", settings, ADFS_SECRET
        ).connection_id
    _inv, user_id, email = _invite(fb_node, contract_id)
    link = _link(mailbox, email)
    browser = Browser(fb_node.url)
    page = browser.get(link)
    assert 'id="broker-ad"' in page.text
    screen = browser.submit(page, "upstream-ad")
    assert screen.status_code == 200
    assert (
        f'<code id="connection-id">{connection_id}</code>' in screen.text and email in screen.text
    )
    response = browser.session.post(
        link,
        data=next(f for f in forms_in(screen.text) if f.id == "ad-confirm-form").fields,
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 303 and response.headers["Location"].startswith(adfs.issuer[:20])
    url = response.headers["Location"]
    for _ in range(12):
        response = browser.session.get(url, allow_redirects=False, timeout=10)
        if response.status_code == 200 and "/adfs/interaction/" in url:
            response = browser.session.post(
                url, data={"account": "alice"}, allow_redirects=False, timeout=10
            )
        assert response.status_code in (302, 303), (url, response.status_code)
        url = urljoin(url, response.headers["Location"])
        if url.startswith(f"{fb_node.url}/login/callback/ad"):
            break
    done = browser.get(url)
    assert done.status_code == 200 and 'id="done"' in done.text
    with fb_node.app.app_context():
        user = fb_node.db().session.get(User, user_id)
        assert user.login_method == "ad" and user.password_hash is None
        bound = fb_node.db().session.query(UpstreamIdentity).filter_by(user_id=user_id).one()
        assert bound.provider == "ad" and bound.issuer == adfs.issuer
    # D2: the new AD user gets the login URLs and the connection ID too.
    mail = mailbox.wait_for(to=email, subject_contains="Active Directory")
    assert mail["Subject"] == "【WORKSDRIVE】Active Directoryアカウントのログイン用URL・接続ID通知"
    body = mailbox.text_of(mail)
    assert f"接続ID: {connection_id}" in body and f"/login/ad/{connection_id}" in body


# -- registering through a directory reached by LDAP (the real slapd of tests/slapd.py) ------


def ldap_contract(provider, slapd) -> tuple[str, str]:
    """A contract (with its contractor) whose AD is a direct LDAP bind to the test slapd;
    (contract id, connection ID)."""
    from idp.contracts.ad import add_ad_connection

    contract_id, _owner = _contract_with_contractor(provider)
    settings = {
        "url": slapd.url_ldaps,
        "base_dn": slapd.base_dn,
        "bind_dn": slapd.service_dn,
        "ca_pem": slapd.ca_file.read_text(),
    }
    with provider.app.app_context():
        connection = add_ad_connection(
            Actor.cli(), contract_id, "ldap", settings, slapd.service_password
        )
        return contract_id, connection.connection_id


def _directory_form(browser, link, connection_id=None):
    """Registration page → Active Directory → the connection-ID screen → the directory form."""
    page = browser.get(link)
    assert 'id="broker-ad"' in page.text, page.text[:500]
    screen = browser.submit(page, "upstream-ad")
    assert screen.status_code == 200 and '<code id="connection-id">' in screen.text
    if connection_id:
        assert f'<code id="connection-id">{connection_id}</code>' in screen.text
    form = browser.submit(screen, "ad-confirm-form")
    assert form.status_code == 200 and 'id="ldap-form"' in form.text, form.text[:500]
    return form


def register_with_directory(provider, mailbox, contract_id, slapd, login, password=None):
    """Invite a user into ``contract_id`` (an LDAP connection) and register them with the
    directory account ``login``; (user id, the page the registration answered)."""
    _inv, user_id, email = _invite(provider, contract_id)
    browser = Browser(provider.url)
    form = _directory_form(browser, _link(mailbox, email))
    person = slapd.users[login]
    done = browser.submit(form, "ldap-form", login=person.upn, password=password or person.password)
    return user_id, done


@pytest.mark.covers("L10", "L8", "X4")
def test_L10_L8_a_directory_reached_by_ldap_registers_after_its_password_is_checked(
    provider, rp, mailbox, slapd
):
    from idp.models import UpstreamIdentity

    contract_id, connection_id = ldap_contract(provider, slapd)
    grace = slapd.users["grace"]
    _inv, user_id, email = _invite(provider, contract_id)
    link = _link(mailbox, email)
    browser = Browser(provider.url)
    form = _directory_form(browser, link, connection_id)
    assert email in form.text and "WORKSDRIVE には保存しません" in form.text

    # A wrong directory password: the form again with the message, the link still unused.
    wrong = browser.submit(form, "ldap-form", login=grace.upn, password="Not-Her-Password1")
    assert wrong.status_code == 401 and 'id="error"' in wrong.text
    assert "ユーザー名またはパスワードが正しくない" in wrong.text and 'id="ldap-form"' in wrong.text
    # Issue 14: as at the sign-in, the message describes both fields (it does not say which
    # was wrong); the user name is kept and the password, to type again, has the focus.
    for field in ("login", "password"):
        tag = re.search(rf'<input id="{field}"[^>]*>', wrong.text)[0]
        assert 'aria-describedby="error"' in tag, tag
    assert f'value="{grace.upn}"' in wrong.text
    assert read(wrong.text).focused == ["password"]
    # A disabled directory account says so.
    bob = slapd.users["bob"]
    disabled = browser.submit(form, "ldap-form", login=bob.upn, password=bob.password)
    assert disabled.status_code == 401 and "無効" in disabled.text
    assert Browser(provider.url).get(link).status_code == 200
    with provider.app.app_context():
        assert provider.db().session.get(User, user_id).login_method == "password"

    done = browser.submit(form, "ldap-form", login=grace.upn, password=grace.password)
    assert done.status_code == 200 and 'id="done"' in done.text, done.text[:500]
    assert grace.mail in done.text  # the registered directory account
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        assert user.login_method == "ad" and user.password_hash is None
        bound = provider.db().session.query(UpstreamIdentity).filter_by(user_id=user_id).one()
        assert bound.provider == "ad" and bound.subject == str(grace.object_guid)
        events = provider.db().session.query(AuditEvent).filter_by(user_id=user_id).all()
        assert ("user_register", "refused", "ldap_invalid_credentials") in {
            (e.event, e.outcome, e.reason) for e in events
        }
    # D2: the user is mailed the connection ID and the login URLs.
    mail = mailbox.wait_for(to=email, subject_contains="Active Directory")
    assert mail["Subject"] == "【WORKSDRIVE】Active Directoryアカウントのログイン用URL・接続ID通知"
    body = mailbox.text_of(mail)
    assert connection_id in body and f"{provider.url}/login/ad/{connection_id}" in body
    assert f"{provider.url}/line/login/ad/{connection_id}" in body
    # The link is used: once only (X4).
    used = Browser(provider.url).get(link)
    assert used.status_code == 400 and "すでに使用されています" in used.text

    # Another invited user cannot register the same directory account: the link stays usable.
    _inv, _other_id, other_email = _invite(provider, contract_id)
    other_link = _link(mailbox, other_email)
    other_browser = Browser(provider.url)
    other_form = _directory_form(other_browser, other_link)
    taken = other_browser.submit(other_form, "ldap-form", login=grace.upn, password=grace.password)
    assert taken.status_code == 409 and 'data-reason="identity_taken"' in taken.text
    assert Browser(provider.url).get(other_link).status_code == 200


@pytest.mark.covers("L10", "L8")
def test_L10_L8_wrong_directory_passwords_are_limited_as_at_the_login(provider, mailbox, slapd):
    """The login's counter of wrong passwords per directory account (below the directory's
    own lockout). The account typed is not in the directory, so that the directory's
    lockout (ppolicy, shared by the whole session) never answers first."""
    contract_id, _connection_id = ldap_contract(provider, slapd)
    account = f"ghost-{uuid.uuid4().hex[:8]}"
    _inv, user_id, email = _invite(provider, contract_id)
    link = _link(mailbox, email)
    browser = Browser(provider.url)
    form = _directory_form(browser, link)
    maximum = provider.app.extensions["idp.settings"].ldap_failures_per_hour
    for attempt in range(maximum):
        wrong = browser.submit(
            form, "ldap-form", login=f"{account}@example.co.jp", password=f"Wrong-{attempt}-Pw"
        )
        assert wrong.status_code == 401, attempt
    # Past the limit the directory is not asked again, for the account however it is typed.
    for typed in (f"{account}@example.co.jp", account.upper(), f"EXAMPLE\\{account}"):
        refused = browser.submit(form, "ldap-form", login=typed, password="Any-Pa55-word")
        assert refused.status_code == 429, typed
        assert 'data-reason="ldap_too_many_failures"' in refused.text
        assert refused.headers["Retry-After"]
    # Another account is not limited by it; the link is still unused.
    other = browser.submit(form, "ldap-form", login="someone-else", password="Any-Pa55-word")
    assert other.status_code == 401
    assert Browser(provider.url).get(link).status_code == 200
    with provider.app.app_context():
        assert provider.db().session.get(User, user_id).login_method == "password"


@pytest.mark.covers("L10", "L8")
def test_L10_an_unreachable_directory_says_so_and_leaves_the_link_unused(provider, mailbox):
    from idp.contracts.ad import add_ad_connection

    contract_id, _owner = _contract_with_contractor(provider)
    # Nothing listens there.
    settings = {"url": "ldaps://127.0.0.1:1", "base_dn": "dc=example", "bind_dn": "cn=svc"}
    with provider.app.app_context():
        add_ad_connection(Actor.cli(), contract_id, "ldap", settings, "service-password")
    _inv, user_id, email = _invite(provider, contract_id)
    link = _link(mailbox, email)
    browser = Browser(provider.url)
    form = _directory_form(browser, link)
    failed = browser.submit(form, "ldap-form", login="someone", password="Their-Pa55-word")
    assert failed.status_code == 502 and "ディレクトリに接続できませんでした" in failed.text
    assert 'id="ldap-form"' in failed.text
    assert Browser(provider.url).get(link).status_code == 200
    with provider.app.app_context():
        assert provider.db().session.get(User, user_id).login_method == "password"


# -- G3: revoking, and the command line -----------------------------------------------------


@pytest.mark.covers("G3", "X4", "L10")
def test_G3_revoked_invitation_link_says_no_longer_valid_and_the_address_can_be_invited_again(
    provider, rp, mailbox
):
    from idp.users.invitations import revoke_invitation

    contract_id, _owner = _contract_with_contractor(provider)
    invitation_id, user_id, email = _invite(provider, contract_id)
    link = _link(mailbox, email)
    mailbox.clear()
    with provider.app.app_context():
        revoke_invitation(Actor.admin("a1", contract_id), invitation_id)
    page = Browser(provider.url).get(link)
    assert page.status_code == 400
    assert "このリンクは無効です" in page.text and "招待が取り消された" in page.text
    assert ADVICE in page.text  # how to ask for a new one
    with provider.app.app_context():
        assert provider.db().session.get(User, user_id) is None
        assert provider.db().session.get(Invitation, invitation_id) is None
        [event] = (
            provider.db()
            .session.query(AuditEvent)
            .filter_by(event="invitation_revoke", user_id=user_id)
        )
        assert event.outcome == "ok" and event.details["actor"]["kind"] == "admin"
        assert event.details["invitation"] == invitation_id
    # The address can be invited again, and the new link registers.
    with provider.app.app_context():
        again = invite_user(Actor.cli(), contract_id, email, "再招待").id
    done = _register(Browser(provider.url), _link(mailbox, email))
    assert done.status_code == 200 and 'id="done"' in done.text
    assert Browser(provider.url).get(link).status_code == 400  # the old link stays void
    assert rp.login_tokens(Browser(provider.url), email, NEW_PASSWORD)["id_token"]
    with provider.app.app_context():
        assert provider.db().session.get(Invitation, again).registered_at is not None


@pytest.mark.covers("G3", "G8")
def test_G3_G8_a_registered_or_foreign_invitation_cannot_be_revoked(provider, mailbox):
    from idp.errors import NotFoundError
    from idp.users.invitations import revoke_invitation

    contract_id, _owner = _contract_with_contractor(provider)
    invitation_id, user_id, email = _invite(provider, contract_id)
    with provider.app.app_context(), pytest.raises(NotFoundError):
        revoke_invitation(Actor.admin("a1", provider.new_contract()), invitation_id)
    _register(Browser(provider.url), _link(mailbox, email))
    with provider.app.app_context():
        with pytest.raises(ProvisioningError) as refused:
            revoke_invitation(Actor.cli(), invitation_id)
        assert refused.value.reason == "already_registered"
        assert provider.db().session.get(User, user_id) is not None


def _cli_runner(tmp_path):
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

    def run(*args, check=True):
        result = subprocess.run([*IDP, *args], env=env, capture_output=True, text=True, timeout=60)
        assert not check or result.returncode == 0, result.stderr
        return result

    return run


def _outbox_links(tmp_path, to):
    import email as email_lib
    from email import policy

    links = []
    for path in sorted((tmp_path / "instance" / "outbox").glob("*.eml")):
        mail = email_lib.message_from_bytes(path.read_bytes(), policy=policy.default)
        if mail["To"] == to:
            body = mail.get_body(("plain",)).get_content()
            links += re.findall(r"http://127\.0\.0\.1:9/links/[A-Za-z0-9_-]+", body)
    return links


@pytest.mark.covers("G3")
def test_cli_G3_invitations_list_resend_and_revoke(tmp_path):
    run = _cli_runner(tmp_path)
    run("init")
    contract = run("contracts", "add", "Invite Corp").stdout.strip()
    run("users", "add", "--contract", contract, "--email", "owner@invite.example",
        "--password", PASSWORD, "--role", "contractor")  # fmt: skip
    first = run("users", "invite", "--contract", contract, "--email", "a@invite.example",
                "--name", "A").stdout.strip()  # fmt: skip
    second = run("users", "invite", "--contract", contract, "--email", "b@invite.example",
                 "--role", "admin").stdout.strip()  # fmt: skip

    listed = run("users", "invitations", "--contract", contract).stdout.splitlines()
    rows = [line.split("\t") for line in listed]
    assert [(r[0], r[1]) for r in rows] == [
        (first, "a@invite.example"),
        (second, "b@invite.example"),
    ]
    for row in rows:
        assert row[2].startswith("cli:")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\+00:00)?", row[3]), row
    unknown = run("users", "invitations", "--contract", "no-such-contract", check=False)
    assert unknown.returncode != 0 and "no contract" in unknown.stderr

    # Resend: a second mail with a new link (the older one is void: test_G3_resend_voids_…).
    assert run("users", "resend-invitation", first).stdout.strip() == f"resent {first}"
    links = _outbox_links(tmp_path, "a@invite.example")
    assert len(links) == 2 and links[0] != links[1]

    # Revoke: gone from the list; the address can be invited again.
    assert run("users", "revoke-invitation", second).stdout.strip() == f"revoked {second}"
    listed = run("users", "invitations", "--contract", contract).stdout
    assert second not in listed and "b@invite.example" not in listed and first in listed
    again = run("users", "revoke-invitation", second, check=False)
    assert again.returncode != 0 and "no invitation" in again.stderr
    assert run("users", "invite", "--contract", contract, "--email", "b@invite.example").stdout
