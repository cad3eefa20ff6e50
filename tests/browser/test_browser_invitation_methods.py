"""L10 with each method but the password (that one: test_browser_invitation.py), in real
Chromium: the invited person follows the link of the mail the SMTP sink caught, chooses Google,
Facebook, Microsoft or d account — the local OpenID providers the broker tests use stand in for
them (Google and Microsoft: tests/upstream_doubles.py; Facebook: tests/facebook_double.py; d
account, with its own login page: tests/daccount_double.py) — and comes back to the completion
page; then signs in at the storage frontend through the same button (L7). Active Directory:
the contract's directory reached by LDAP (the session's slapd, tests/slapd.py), with the
connection-ID screen before the directory's form (L8), then the same sign-in from the
frontend's AD button. M5 with the same upstreams: a contractor binds Microsoft in the account
menu's login-method page and signs in to the menu with it, the old password refused; M2: the
console's email change mails a user the method-change link (Google bound there), then the
email-change link to a new address.

The upstreams' provider is a module's own (its brokers are settings the session's provider
has not). Every page visited is saved to ``test-artifacts/screenshots/<test-name>/`` after
checking the page for console errors, script errors and failed requests (``snap``).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from brokers.microsoft import PERSONAL_TENANT_ID
from tests.browser.flows import as_shot
from tests.browser.flows import claim
from tests.browser.flows import click_and_wait
from tests.browser.flows import heading
from tests.browser.flows import invite
from tests.browser.flows import menu_sign_in
from tests.browser.flows import open_item
from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import phone_snap
from tests.browser.flows import served
from tests.browser.flows import served_frontend
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.browser.flows import watched_snap
from tests.browser.test_browser_account_menu import snap as snap  # noqa: F401 (fixture)
from tests.conftest import PASSWORD
from tests.conftest import build_provider
from tests.daccount_double import DAccountDouble
from tests.facebook_double import FacebookUser
from tests.facebook_double import run_facebook_double
from tests.realservices import free_port
from tests.upstream_doubles import Client
from tests.upstream_doubles import running_double

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

DONE_JA = "利用者登録が完了しました。"


@dataclass
class Upstreams:
    provider: Any
    frontend: Any
    google: Any
    microsoft: Any
    facebook: Any
    daccount: Any


def _oidc_client(double: Any, name: str, provider_url: str) -> dict[str, str]:
    client = Client(f"{name}-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex, ())
    client.redirect_uris = (f"{provider_url}/login/callback/{name}",)
    double.clients[client.client_id] = client
    return {"client_id": client.client_id, "client_secret": client.client_secret}


@pytest.fixture(scope="module")
def upstreams(smtp_sink: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstreams]:
    """A provider with Google, Facebook, Microsoft and d account configured (each a local
    double), served with a storage frontend of its own."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        google = stack.enter_context(running_double())
        microsoft = stack.enter_context(running_double(microsoft=True))
        facebook = stack.enter_context(run_facebook_double())
        facebook_app = facebook.add_app()
        daccount_secret = uuid.uuid4().hex
        daccount = DAccountDouble(
            "daccount-walk", daccount_secret, f"{url}/login/callback/daccount"
        )
        stack.callback(daccount.stop)
        brokers = {
            "google": {**_oidc_client(google, "google", url), "issuer": google.issuer},
            "microsoft": {
                **_oidc_client(microsoft, "microsoft", url),
                "authority": microsoft.authority("common"),
            },
            "facebook": {
                "app_id": facebook_app.app_id,
                "app_secret": facebook_app.secret,
                "graph_version": "v21.0",
                "dialog_base": facebook.url,
                "graph_base": facebook.url,
            },
            "daccount": {
                "client_id": "daccount-walk",
                "client_secret": daccount_secret,
                "issuer": daccount.issuer,
            },
        }
        provider = build_provider(
            "sqlite+sqlstore",
            tmp_path_factory.mktemp("browser-upstreams"),
            {"smtp": smtp_sink},
            issuer=url,
            brokers=brokers,
        )
        provider.app.config["TEST_PORT"] = port
        stack.callback(provider.close)
        stack.enter_context(served(provider.app, port))
        frontend = stack.enter_context(served_frontend(provider, "WORKSDRIVE (upstream walks)"))
        yield Upstreams(provider, frontend, google, microsoft, facebook, daccount)


def sign_in_upstream(page: Any, upstreams: Upstreams, name: str, person: str, snap: Any) -> None:
    """At the upstream: the doubles of Google, Microsoft and Facebook sign the person in at
    once (no form); d account shows its login page, where the person types their id."""
    if name == "daccount":
        page.wait_for_url(re.compile("^" + re.escape(upstreams.daccount.url)))
        page.locator("input[name=user]").wait_for()
        snap("daccount-login")
        page.fill("input[name=user]", person)
        with page.expect_navigation():
            page.click("button:not([name])")


def set_person(upstreams: Upstreams, name: str) -> str:
    """The person the upstream will sign in next: the same one for every test of ``name``
    would be refused as already registered, so a new one each time."""
    tag = uuid.uuid4().hex[:8]
    email = f"{name}-{tag}@example.com"
    if name == "google":
        upstreams.google.add_user(f"g-{tag}", email=email, email_verified=True, name="Walk")
        upstreams.google.next_user = f"g-{tag}"
    elif name == "microsoft":
        oid = str(uuid.uuid4())
        upstreams.microsoft.add_user(
            oid, tenant=PERSONAL_TENANT_ID, email=email, preferred_username=email, name="Walk"
        )
        upstreams.microsoft.next_user = oid
    elif name == "facebook":
        upstreams.facebook.next_user = FacebookUser("Walk Facebook", email)
    return f"walk-{tag}"


@pytest.mark.covers("L10", "L7")
@pytest.mark.parametrize("name", ["google", "facebook", "microsoft", "daccount"])
def test_L10_L7_registration_with_an_upstream_then_sign_in_with_it(
    page, upstreams, mailbox, snap, name
):
    provider = upstreams.provider
    user_id, email, _owner, link = invite(provider, mailbox)
    person = set_person(upstreams, name)

    page.goto(link)
    page.locator(f"#broker-{name}").wait_for()
    snap("registration")
    assert heading(page) == "WORKSDRIVE 利用者登録"
    buttons = page.locator("[id^=broker-]")
    shown = [buttons.nth(i).get_attribute("id") for i in range(buttons.count())]
    assert shown == ["broker-google", "broker-facebook", "broker-microsoft", "broker-daccount"]
    assert "先にログアウト" in page.locator("#upstream-advice").inner_text()
    page.click(f"#broker-{name}")
    sign_in_upstream(page, upstreams, name, person, snap)
    page.locator("#done").wait_for()
    snap("registration-done")
    assert heading(page) == DONE_JA
    assert page.url.startswith(provider.url)

    # L7: the frontend's sign-in page, the same upstream's button, signed in as the user.
    # (The doubles sign in the same person again: ``next_user`` is kept.)
    open_login_from_frontend(page, upstreams.frontend, provider, as_shot(snap))
    snap("frontend-login")
    page.click(f"#broker-{name}")
    sign_in_upstream(page, upstreams, name, person, snap)
    wait_signed_in(page, upstreams.frontend)
    snap("frontend-claims")
    assert claim(page, "sub") == user_id
    assert claim(page, "email") == email
    assert claim(page, "amr")[0] == "fed"


@pytest.mark.covers("L10", "L8")
def test_L10_L8_registration_with_the_directory_then_sign_in_by_connection_id(
    page, browser_provider, frontend, mailbox, slapd, snap
):
    from tests.test_invitations import ldap_contract

    provider = browser_provider
    contract_id, connection_id = ldap_contract(provider, slapd)
    user_id, email, _owner, link = invite(provider, mailbox, contract_id)
    alice = slapd.users["alice"]

    # L10: Active Directory is offered (the contract has it); first the connection-ID screen.
    page.goto(link)
    page.locator("#broker-ad").wait_for()
    snap("registration")
    click_and_wait(page, "#broker-ad")
    page.locator("#ad-confirm-form").wait_for()
    snap("connection-id-screen")
    phone_snap(page, snap, "connection-id-screen")
    assert page.locator("#connection-id").inner_text().strip() == connection_id
    assert page.locator("#summary-email").inner_text().strip() == email
    click_and_wait(page, "#submit")
    page.locator("#ldap-form").wait_for()
    snap("directory-form")
    phone_snap(page, snap, "directory-form")
    assert "WORKSDRIVE には保存しません" in page.locator("main").inner_text()

    # A wrong directory password: the form again with the message.
    page.fill("#login", alice.upn)
    page.fill("#password", "Not-Her-Password-1")
    click_and_wait(page, "#submit")
    snap("directory-wrong-password")
    assert "ユーザー名またはパスワードが正しくない" in page.locator("#error").inner_text()
    page.fill("#login", alice.upn)
    page.fill("#password", alice.password)
    click_and_wait(page, "#submit")
    page.locator("#done").wait_for()
    snap("registration-done")
    assert heading(page) == DONE_JA

    # L8: the frontend's AD button asks for the connection ID, then the directory's form.
    open_login_from_frontend(page, frontend, provider, as_shot(snap))
    click_and_wait(page, "#broker-ad")
    page.locator("#connection-form").wait_for()
    snap("login-connection-id")
    page.fill("#connection_id", connection_id)
    click_and_wait(page, "#submit")
    page.locator("#ldap-form").wait_for()
    snap("login-directory-form")
    page.fill("#login", alice.upn)
    page.fill("#password", alice.password)
    click_and_wait(page, "#submit")
    wait_signed_in(page, frontend)
    snap("frontend-claims")
    assert claim(page, "sub") == user_id
    assert claim(page, "amr")[0] == "fed"


@pytest.mark.covers("M1", "M3", "M5", "L7", "U1")
def test_M5_contractor_changes_to_microsoft_in_the_menu_then_signs_in_with_it(
    page, upstreams, snap
):
    """The contractor of a basic contract binds a Microsoft account in the account menu; the
    done page says they were signed out everywhere; "Sign in again" leads to the menu's sign-in,
    where Microsoft's button opens the menu; the old password no longer signs in."""
    provider = upstreams.provider
    contract_id = provider.new_contract(plan="basic", two_factor=False)
    user_id, email = provider.new_user(contract_id, role="contractor")
    set_person(upstreams, "microsoft")

    menu_sign_in(page, provider, email, snap)
    open_item(page, provider, "login_method", "/account/login-method")
    page.locator("#broker-microsoft").wait_for()
    snap("login-method")
    assert page.locator("#current-method").get_attribute("data-method") == "password"
    assert page.locator("#broker-ad").count() == 0  # M3: never AD for the contractor
    with page.expect_navigation(url=re.compile(re.escape(provider.url))):
        page.click("#broker-microsoft")
    page.locator("#done").wait_for()
    snap("login-method-done")
    assert page.locator("#new-method").get_attribute("data-method") == "microsoft"
    assert page.locator("#signed-out").is_visible()

    click_and_wait(page, "#to-login")
    page.locator("#broker-microsoft").wait_for()
    snap("menu-sign-in-again")
    # The password is no longer a way in ...
    submit_password(page, email, PASSWORD)
    snap("old-password-refused")
    assert "メールアドレスまたはパスワードが正しくありません" in page.locator("#error").inner_text()
    # ... Microsoft is.
    with page.expect_navigation(url=re.compile(re.escape(provider.url) + "/account")):
        page.click("#broker-microsoft")
    page.locator("#menu-items").wait_for()
    snap("menu-through-microsoft")
    assert page.locator("#signed-in-as").inner_text().strip() == email
    with provider.app.app_context():
        from idp.models import User

        assert provider.db().session.get(User, user_id).login_method == "microsoft"


@pytest.mark.covers("M2", "M6", "M7", "G4", "L7")
def test_M2_the_console_mails_a_method_link_then_an_email_link_and_the_user_follows_both(
    page, context_factory, upstreams, mailbox, shot, snap
):
    """The contractor, in the console's "email change" of a user: sent with the address
    unchanged, the user is mailed the method-change link (M6), follows it and binds Google;
    sent with a new address, the link goes to that address (M7), the user confirms; then the
    user signs in at the frontend with Google under the new address."""
    provider = upstreams.provider
    contract_id = provider.new_contract(plan="basic", two_factor=False)
    _boss, boss_email = provider.new_user(contract_id, role="contractor")
    user_id, email = provider.new_user(contract_id, name="変更 次郎")
    new_email = f"m2-{uuid.uuid4().hex[:8]}@example.jp"

    menu_sign_in(page, provider, boss_email, snap)
    page.goto(f"{provider.url}/admin/users/{user_id}")
    click_and_wait(page, "#email-change")
    page.locator("#email-change-form").wait_for()
    snap("console-email-change")
    assert page.input_value("#email") == email
    click_and_wait(page, "#submit")
    assert page.locator("#done").get_attribute("data-done") == "link_sent"
    snap("console-method-link-sent")

    # M6: the user's mail, the link page, Google chosen there.
    member = context_factory(viewport={"width": 1280, "height": 900}).new_page()
    member_snap = watched_snap(member, shot)
    set_person(upstreams, "google")
    mail = mailbox.wait_for(to=email, subject_contains="ログイン方法の設定変更")
    (link,) = [u for u in mailbox.links_in(mail) if u.startswith(provider.url + "/links/")]
    member.goto(link)
    member.locator("#broker-google").wait_for()
    member_snap("method-link")
    assert member.locator("#current-method").get_attribute("data-method") == "password"
    with member.expect_navigation(url=re.compile(re.escape(provider.url))):
        member.click("#broker-google")
    member.locator("#done").wait_for()
    member_snap("method-link-done")

    # M7 from the console: the new address gets the link; the user confirms it.
    click_and_wait(page, "#email-change")
    page.fill("#email", new_email)
    click_and_wait(page, "#submit")
    assert page.locator("#done").get_attribute("data-done") == "email_link_sent"
    snap("console-email-link-sent")
    mail = mailbox.wait_for(to=new_email, subject_contains="メールアドレス変更登録")
    (link,) = [u for u in mailbox.links_in(mail) if u.startswith(provider.url + "/links/")]
    member.goto(link)
    member.locator("#new-email").wait_for()
    member_snap("email-link")
    assert member.locator("#new-email").inner_text().strip() == new_email
    click_and_wait(member, "#submit")
    member.locator("#done").wait_for()
    member_snap("email-link-done")

    # Signed in at the frontend with Google, under the new address.
    open_login_from_frontend(member, upstreams.frontend, provider, as_shot(member_snap))
    member.click("#broker-google")
    wait_signed_in(member, upstreams.frontend)
    member_snap("frontend-claims")
    assert claim(member, "sub") == user_id
    assert claim(member, "email") == new_email
