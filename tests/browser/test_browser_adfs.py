"""D1, G3, L10, L8, D2, L7, O1 through AD FS in real Chromium (issue 14, "invitation with each
method"): the contractor sets the contract's AD FS in the account menu (its https issuer typed
there), invites a user from the admin console; the user follows the link of the mail the SMTP
sink caught, chooses Active Directory, confirms the connection ID, signs in at the farm's own
sign-in page with a second factor, and comes back to the completion page (and the D2 mail with
the login URLs); then signs in at the storage frontend through "Active Directory" and the
connection ID, passed by the farm's session without a prompt (L8's domain-joined PC), and the
frontend shows the claims: ``amr`` ``fed`` and ``mfa`` from the farm's multipleauthn (O1).
A person who declines at the farm gets our page saying so, and the link stays usable.

The farm is panva's oidc-provider (tests/adfs_double) served over https, as the menu takes
only an https issuer (tests/browser/adfs_https.py). Every page visited, the farm's too, is
saved to ``test-artifacts/screenshots/<test-name>/`` and fails the test on a console error, a
failed request, an axe violation or untranslated text (``watched``).
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.browser.adfs_https import adfs_https as adfs_https  # noqa: F401 (fixture)
from tests.browser.adfs_https import adfs_trusted as adfs_trusted  # noqa: F401 (fixture)
from tests.browser.flows import ACR_2FA
from tests.browser.flows import INVITATION_SUBJECT
from tests.browser.flows import INVITEE_NAME
from tests.browser.flows import as_shot
from tests.browser.flows import back_to_menu
from tests.browser.flows import claim
from tests.browser.flows import click_and_wait
from tests.browser.flows import contractor
from tests.browser.flows import heading
from tests.browser.flows import invite
from tests.browser.flows import menu_sign_in
from tests.browser.flows import on_path
from tests.browser.flows import open_item
from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import phone_snap
from tests.browser.flows import wait_signed_in
from tests.browser.flows import watched_snap
from tests.browser.test_browser_account_menu import snap as snap  # noqa: F401 (fixture)
from tests.browser.test_browser_invitation_methods import DONE_JA
from tests.test_brokers_adfs_daccount import ADFS_CLIENT_ID
from tests.test_brokers_adfs_daccount import ADFS_RESOURCE
from tests.test_brokers_adfs_daccount import ADFS_SECRET

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

AD_MAIL_SUBJECT = "【WORKSDRIVE】Active Directoryアカウントのログイン用URL・接続ID通知"
ADFS_HEADING = "組織アカウントでサインイン"


def invitee_page(context_factory: Any, shot: Any) -> tuple[Any, Any]:
    """The invited person's own browser (watched), which trusts the farm's certificate."""
    member = context_factory(
        viewport={"width": 1280, "height": 900}, ignore_https_errors=True
    ).new_page()
    return member, watched_snap(member, shot)


def to_the_farm(page: Any, issuer: str, snap: Any) -> None:
    """The registration link's page → Active Directory → the connection-ID screen → the farm's
    sign-in page."""
    page.locator("#broker-ad").wait_for()
    snap("registration")
    click_and_wait(page, "#broker-ad")
    page.locator("#ad-confirm-form").wait_for()
    snap("connection-id-screen")
    with page.expect_navigation(url=re.compile("^" + re.escape(issuer) + "/interaction/")):
        page.click("#submit")
    page.locator("#adfs-form").wait_for()
    assert page.get_attribute("html", "lang") == "ja"
    assert heading(page) == ADFS_HEADING


def user_id_of(provider: Any, email: str) -> str:
    from idp.models import User

    with provider.app.app_context():
        return str(provider.db().session.query(User).filter_by(email=email).one().id)


@pytest.mark.covers("D1", "G3", "L10", "L8", "D2", "L7", "O1", "U1")
def test_D1_L10_L8_ad_fs_set_in_the_menu_then_an_invited_user_registers_and_signs_in(
    page, context_factory, browser_provider, frontend, mailbox, shot, snap, adfs_trusted
):
    provider = browser_provider
    issuer = adfs_trusted.double.issuer
    assert issuer.startswith("https://")
    _contract, _boss_id, boss_email = contractor(provider, "basic")

    # D1: the contractor types the farm's issuer and client credentials in the account menu.
    menu_sign_in(page, provider, boss_email, snap)
    open_item(page, provider, "ad_setting", "/account/ad")
    page.fill("#adfs-issuer", issuer)
    page.fill("#adfs-client_id", ADFS_CLIENT_ID)
    page.fill("#adfs-secret", ADFS_SECRET)
    page.fill("#adfs-resource", ADFS_RESOURCE)
    snap("ad-setting")
    click_and_wait(page, "#adfs-submit")
    page.locator("#ad-confirm-form").wait_for()
    snap("ad-setting-confirm")
    click_and_wait(page, "#submit")
    page.locator("#done").wait_for()
    connection_id = page.locator("#connection-id").inner_text().strip()
    snap("ad-setting-done")

    # G3: the contractor invites a user from the console.
    back_to_menu(page, provider)
    click_and_wait(page, "#to-admin-console")
    click_and_wait(page, "#nav-invitations")
    on_path(page, provider, "/admin/invitations")
    email = f"adfs-{uuid.uuid4().hex[:8]}@example.jp"
    page.fill("#email", email)
    page.fill("#name", INVITEE_NAME)
    click_and_wait(page, "#invite")
    assert page.locator("#done").inner_text().startswith("招待を送信しました")
    snap("invited")
    mail = mailbox.wait_for(to=email, subject_contains="利用者登録")
    assert mail["Subject"] == INVITATION_SUBJECT
    (link,) = [u for u in mailbox.links_in(mail) if u.startswith(provider.url + "/links/")]
    user_id = user_id_of(provider, email)

    # L10, L8: the user registers through the farm's sign-in page, with a second factor.
    member, member_snap = invitee_page(context_factory, shot)
    member.goto(link)
    to_the_farm(member, issuer, member_snap)
    assert member.locator("#connection-id").count() == 0  # the farm's page, not ours
    member_snap("adfs-sign-in")
    phone_snap(member, member_snap, "adfs-sign-in")
    member.fill("#account", f"walk-{uuid.uuid4().hex[:8]}")
    member.check("#mfa")
    with member.expect_navigation(url=re.compile("^" + re.escape(provider.url))):
        member.click("#sign-in")
    member.locator("#done").wait_for()
    member_snap("registration-done")
    assert heading(member) == DONE_JA

    # D2: the new AD user is mailed the login URLs and the connection ID.
    ad_mail = mailbox.wait_for(to=email, subject_contains="Active Directory")
    assert ad_mail["Subject"] == AD_MAIL_SUBJECT
    assert connection_id in mailbox.text_of(ad_mail)

    # L7, L8: the frontend's Active Directory button, the connection ID; the farm's session
    # passes the user without its sign-in page (L8: a domain-joined PC).
    farm_pages: list[str] = []

    def at_the_farm(frame: Any) -> None:
        if frame.url.startswith(issuer + "/interaction/"):
            farm_pages.append(frame.url)

    member.on("framenavigated", at_the_farm)
    open_login_from_frontend(member, frontend, provider, as_shot(member_snap))
    click_and_wait(member, "#broker-ad")
    member.locator("#connection-form").wait_for()
    member_snap("login-connection-id")
    member.fill("#connection_id", connection_id)
    member.click("#submit")
    wait_signed_in(member, frontend)
    member_snap("frontend-claims")
    assert farm_pages == []
    assert claim(member, "sub") == user_id
    # O1: the farm's multipleauthn is the second factor of this sign-in.
    assert claim(member, "amr") == ["fed", "mfa"]
    assert claim(member, "acr") == ACR_2FA
    assert claim(member, "login_method") == "ad"


@pytest.mark.covers("L10", "L8")
def test_L10_L8_declined_at_the_farm_then_the_link_still_registers(
    context_factory, browser_provider, mailbox, shot, adfs_trusted
):
    """The person presses "decline" on the farm's page: our page says the sign-in was
    cancelled and that the mail's link chooses again (not "back to sign-in": a registration
    is no sign-in); the link is not used up and registers afterwards."""
    from idp.actor import Actor
    from idp.contracts.ad import add_ad_connection

    provider = browser_provider
    issuer = adfs_trusted.double.issuer
    contract_id = provider.new_contract(two_factor=False)
    provider.new_user(contract_id, role="contractor")
    settings = {"issuer": issuer, "client_id": ADFS_CLIENT_ID, "resource": ADFS_RESOURCE}
    with provider.app.app_context():
        add_ad_connection(Actor.cli(), contract_id, "adfs", settings, ADFS_SECRET)
    _user_id, _email, _owner, link = invite(provider, mailbox, contract_id)

    member, member_snap = invitee_page(context_factory, shot)
    member.goto(link)
    to_the_farm(member, issuer, member_snap)
    member_snap("adfs-sign-in")
    with member.expect_navigation(url=re.compile("^" + re.escape(provider.url))):
        member.click("#deny")
    member_snap("declined")
    assert member.url.startswith(provider.url + "/login/callback/ad")
    assert member.locator("#error").get_attribute("data-reason") == "access_denied"
    assert "キャンセル" in member.locator("#error").inner_text()
    # No "back to sign-in": the registration is no sign-in, and its transaction has no
    # service to finish at (signing in there ended in a bare OAuth error). The mail's link is
    # the way to choose again.
    assert member.locator("#back").count() == 0
    assert "メールのリンクをもう一度開いて" in member.locator("#open-link-again").inner_text()
    assert member.locator("#to-service").is_visible()

    member.goto(link)
    to_the_farm(member, issuer, member_snap)
    member.fill("#account", f"walk-{uuid.uuid4().hex[:8]}")
    with member.expect_navigation(url=re.compile("^" + re.escape(provider.url))):
        member.click("#sign-in")
    member.locator("#done").wait_for()
    member_snap("registration-done")
    assert heading(member) == DONE_JA
