"""D1, D2, U2, L8, L10: the account menu's Active Directory setting, driven like a browser:
configure AD FS or a directory reached by LDAP (the real slapd of tests/slapd.py), change,
remove; the D1 mail; what the people of the contract then see (an invited user registers
through the directory and signs in with it)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
import time_machine

from idp.actor import Actor
from idp.models import AdConnection
from idp.models import AuditEvent
from idp.models import User
from tests.conftest import PASSWORD
from tests.field_errors import assert_field_error
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.helpers import link_of
from tests.helpers import redirect_params
from tests.test_account_menu import account_sign_in

SUBJECT = "【WORKSDRIVE】Active Directoryアカウントのログイン用URL・接続ID通知"
ISSUER = "https://fs.example.co.jp/adfs"
SECRET = "Adfs-Client-S3cret-" + "x" * 12
CONNECTION_ID = re.compile(r'<code id="connection-id">(adfs-[a-z0-9]{18})</code>')


def contractor(provider, **contract):
    contract_id = provider.new_contract(**contract)
    _user_id, email = provider.new_user(contract_id, role="contractor")
    browser, menu = account_sign_in(provider, email)
    assert menu.url == f"{provider.url}/account", menu.text[:300]
    return contract_id, email, browser, menu


def connection_of(provider, contract_id) -> AdConnection | None:
    with provider.app.app_context():
        found = provider.db().session.query(AdConnection).filter_by(contract_id=contract_id).first()
        if found is not None:
            provider.db().session.expunge(found)
        return found


def opened_secret(provider, connection) -> str:
    with provider.app.app_context():
        return provider.app.extensions["idp.secretbox"].open(connection.secret_sealed)


def audit_events(provider, event, contract_id):
    with provider.app.app_context():
        rows = (
            provider.db()
            .session.query(AuditEvent)
            .filter_by(event=event, contract_id=contract_id)
            .order_by(AuditEvent.id)
        )
        return [(row.outcome, row.reason, row.details) for row in rows]


def adfs_values(**values):
    return {
        "issuer": ISSUER,
        "client_id": "worksdrive",
        "secret": SECRET,
        "resource": "urn:worksdrive:idp",
        **values,
    }


def ldap_values(slapd, **values):
    return {
        "url": slapd.url_ldaps,
        "base_dn": slapd.base_dn,
        "bind_dn": slapd.service_dn,
        "secret": slapd.service_password,
        "ca_pem": slapd.ca_file.read_text(),
        **values,
    }


def configure(browser, kind, values):
    """The setting page's form of ``kind`` → the confirmation page."""
    page = browser.get("/account/ad")
    assert f'id="{kind}-form"' in page.text, page.text[:500]
    return browser.submit(page, f"{kind}-form", **values)


# --- D1: AD FS ----------------------------------------------------------------------------


@pytest.mark.covers("D1", "D2", "U2", "G5")
def test_D1_contractor_sets_ad_fs_confirms_and_gets_the_connection_id_by_mail(provider, mailbox):
    contract_id, email, browser, menu = contractor(provider)
    assert 'data-item="ad_setting" href="/account/ad"' in menu.text
    page = browser.get("/account/ad")
    assert 'id="not-configured"' in page.text and "設定されていません" in page.text
    assert 'id="adfs-form"' in page.text and 'id="ldap-form"' in page.text

    confirm = configure(browser, "adfs", adfs_values())
    assert confirm.status_code == 200 and 'id="ad-confirm-form"' in confirm.text
    assert f'<dd id="summary-issuer">{ISSUER}</dd>' in confirm.text
    assert '<dd id="summary-client_id">worksdrive</dd>' in confirm.text
    assert "新しい値を入力済み（表示しません）" in confirm.text
    # The secret is never written into a page, not even in the hidden field of the form.
    assert SECRET not in confirm.text
    assert connection_of(provider, contract_id) is None  # nothing before the confirmation
    assert not [m for m in mailbox.messages if m["To"] == email]

    done = browser.submit(confirm, "ad-confirm-form")
    assert done.status_code == 200 and 'id="done"' in done.text, done.text[:500]
    connection_id = CONNECTION_ID.search(done.text).group(1)
    internet = f"{provider.url}/login/ad/{connection_id}"
    line = f"{provider.url}/line/login/ad/{connection_id}"
    assert f'<code id="internet-url">{internet}</code>' in done.text
    assert f'<code id="line-url">{line}</code>' in done.text
    assert 'id="mail-sent"' in done.text and email in done.text

    # D1: the mail, to the contractor, with the connection ID and both login URLs.
    mail = mailbox.wait_for(to=email, subject_contains="Active Directory")
    assert mail["Subject"] == SUBJECT
    body = mailbox.text_of(mail)
    assert connection_id in body and internet in body and line in body

    connection = connection_of(provider, contract_id)
    assert connection.connection_id == connection_id and connection.kind == "adfs"
    assert connection.settings == {
        "issuer": ISSUER,
        "client_id": "worksdrive",
        "resource": "urn:worksdrive:idp",
    }
    assert opened_secret(provider, connection) == SECRET
    [(outcome, _reason, details)] = audit_events(provider, "ad_connection_add", contract_id)
    assert outcome == "ok" and details["actor"]["kind"] == "user"
    assert details["actor"]["contract_id"] == contract_id and SECRET not in str(details)

    # The page now shows the setting, the secret only as "set".
    shown = browser.get("/account/ad")
    assert 'id="current-setting" data-kind="adfs"' in shown.text
    assert f'<code id="connection-id">{connection_id}</code>' in shown.text
    assert f'<dd id="current-issuer">{ISSUER}</dd>' in shown.text
    assert "設定済み（表示しません）" in shown.text and SECRET not in shown.text
    assert 'id="not-configured"' not in shown.text and 'id="remove-form"' in shown.text


@pytest.mark.covers("D1", "D2")
def test_D1_change_keeps_the_connection_id_and_an_empty_secret_keeps_the_secret(provider, mailbox):
    contract_id, email, browser, _menu = contractor(provider)
    browser.submit(configure(browser, "adfs", adfs_values()), "ad-confirm-form")
    before = connection_of(provider, contract_id)
    # The D1 mail of the first setting leaves off the request thread: wait for it before
    # forgetting it, or it could arrive after the clear and read as a mail of the change.
    mailbox.wait_for(to=email, subject_contains="Active Directory")
    mailbox.clear()

    page = browser.get("/account/ad")
    # The change form is the connection's own kind, filled in with the current values.
    assert 'id="ldap-form"' not in page.text
    form = next(f for f in forms_in(page.text) if f.id == "adfs-form")
    assert form.fields["issuer"] == ISSUER and form.fields["secret"] == ""
    confirm = browser.submit(page, "adfs-form", client_id="worksdrive-2")
    assert '<dd id="summary-secret">変更なし</dd>' in confirm.text
    assert 'id="same-urls"' in confirm.text
    done = browser.submit(confirm, "ad-confirm-form")
    assert done.status_code == 200 and 'id="done"' in done.text
    assert f'<code id="connection-id">{before.connection_id}</code>' in done.text
    after = connection_of(provider, contract_id)
    assert after.connection_id == before.connection_id
    assert after.settings["client_id"] == "worksdrive-2"
    assert opened_secret(provider, after) == SECRET

    # A new secret replaces the old one.
    page = browser.get("/account/ad")
    confirm = browser.submit(page, "adfs-form", secret="Another-S3cret-value")
    browser.submit(confirm, "ad-confirm-form")
    assert opened_secret(provider, connection_of(provider, contract_id)) == "Another-S3cret-value"
    changes = [
        d["changed"] for o, _r, d in audit_events(provider, "ad_connection_change", contract_id)
    ]
    assert changes == [["client_id"], ["secret"]]
    # The connection ID and URLs did not change: no new D1 mail (once every mail job is done,
    # so that a mail still on its way would be seen).
    provider.app.extensions["idp.mailer"].wait_idle()
    assert not [m for m in mailbox.messages if m["To"] == email]


@pytest.mark.covers("D1")
@pytest.mark.parametrize(
    ("values", "field", "message", "english"),
    [
        ({"issuer": "http://fs.example.co.jp/adfs"}, "issuer", "https:// で始まる", "https://"),
        ({"issuer": "https://"}, "issuer", "URL で入力してください", "as a URL"),
        ({"issuer": ""}, "issuer", "この項目を入力してください", "Enter this field"),
        ({"client_id": ""}, "client_id", "この項目を入力してください", "Enter this field"),
        ({"secret": ""}, "secret", "この項目を入力してください", "Enter this field"),
        ({"issuer": "https://fs.example/" + "a" * 600}, "issuer", "長すぎます", "too long"),
    ],
)
def test_D1_bad_ad_fs_input_gets_a_message_next_to_the_field(
    provider, values, field, message, english
):
    contract_id, _email, browser, _menu = contractor(provider)
    refused = configure(browser, "adfs", adfs_values(**values))
    assert refused.status_code == 400, refused.text[:300]
    assert f'id="error-{field}"' in refused.text and message in refused.text
    # The form comes back with what was typed, never with the secret.
    assert 'id="adfs-form"' in refused.text and SECRET not in refused.text
    assert connection_of(provider, contract_id) is None
    english_page = browser.get("/account/ad?lang=en")
    refused = browser.submit(english_page, "adfs-form", **adfs_values(**values))
    assert refused.status_code == 400 and english in refused.text


# --- D1: a directory reached by LDAP --------------------------------------------------------


@pytest.mark.covers("D1")
def test_D1_bad_ldap_input_gets_a_message_next_to_the_field(provider, slapd):
    """D1, issue 14: every refusal of the LDAP form is beside the field it is about."""
    contract_id, _email, browser, _menu = contractor(provider)
    host = slapd.url_ldaps.split("://")[1]
    cases = [
        ({"url": f"https://{host}"}, "url", "ldaps://ホスト:636"),
        ({"url": "ldaps://"}, "url", "ldaps://ホスト:636"),
        ({"url": f"ldap://{host}"}, "url", "StartTLS が必要です"),
        ({"start_tls": "1"}, "start_tls", "すでに暗号化されています"),
        (
            {"ca_pem": "-----BEGIN CERTIFICATE-----\nnot a certificate\n"},
            "ca_pem",
            "読み取れません",
        ),
        ({"ca_pem": ""}, "ca_pem", "この項目を入力してください"),
        ({"base_dn": "", "bind_dn": ""}, "bind_dn", "この項目を入力してください"),
    ]
    for values, field, message in cases:
        refused = configure(browser, "ldap", ldap_values(slapd, **values))
        assert refused.status_code == 400, (values, refused.text[:300])
        assert f'id="error-{field}"' in refused.text and message in refused.text, values
        assert slapd.service_password not in refused.text
        # Issue 14: the field is invalid, described by its message, focused if the first.
        assert_field_error(refused.text, f"ldap-{field}", message, first=field != "bind_dn")
    assert connection_of(provider, contract_id) is None


@pytest.mark.covers("D1", "L8", "L10", "D2")
def test_D1_L10_ldap_directory_set_in_the_menu_then_an_invited_user_registers_and_signs_in(
    provider, slapd, mailbox
):
    from tests.test_invitations import register_with_directory

    contract_id, email, browser, _menu = contractor(provider)
    confirm = configure(browser, "ldap", ldap_values(slapd))
    assert confirm.status_code == 200, confirm.text[:500]
    assert f'<dd id="summary-url">{slapd.url_ldaps}</dd>' in confirm.text
    assert slapd.service_password not in confirm.text
    done = browser.submit(confirm, "ad-confirm-form")
    assert 'id="done" data-kind="ldap"' in done.text
    connection_id = CONNECTION_ID.search(done.text).group(1)
    assert connection_id in mailbox.text_of(mailbox.wait_for(to=email, subject_contains="Active"))
    connection = connection_of(provider, contract_id)
    assert opened_secret(provider, connection) == slapd.service_password
    assert connection.settings["ca_pem"] == slapd.ca_file.read_text()

    # L10: the invited user registers with their directory account ...
    user_id, registered = register_with_directory(provider, mailbox, contract_id, slapd, "ivy")
    assert registered.status_code == 200 and 'id="done"' in registered.text
    # ... and signs in with it (L8), by the connection ID.
    claims = sign_in_with_directory(provider, connection_id, slapd.users["ivy"])
    assert claims["sub"] == user_id and claims["login_method"] == "ad"

    # D1: the directory moves to another URL (StartTLS on the plain port): the identity the
    # user registered stays bound and they sign in as before.
    page = browser.get("/account/ad")
    changed = browser.submit(
        page,
        "ldap-form",
        url=slapd.url_ldap,
        start_tls="1",
        ca_pem=slapd.ca_file.read_text(),
    )
    assert changed.status_code == 200 and 'id="ad-confirm-form"' in changed.text, changed.text[:500]
    assert 'id="done"' in browser.submit(changed, "ad-confirm-form").text
    assert connection_of(provider, contract_id).settings["url"] == slapd.url_ldap
    claims = sign_in_with_directory(provider, connection_id, slapd.users["ivy"])
    assert claims["sub"] == user_id


def sign_in_with_directory(provider, connection_id, person):
    rp = provider.new_client()
    browser = Browser(provider.url)
    page = browser.get(rp.authorize_url())
    ask = browser.get(link_of(page, "broker-ad"))
    form = browser.submit(ask, "connection-form", connection_id=connection_id)
    assert 'id="ldap-form"' in form.text, form.text[:300]
    done = browser.submit(form, "ldap-form", login=person.upn, password=person.password)
    return rp.id_token_claims(rp.exchange(redirect_params(done)["code"])["id_token"])


# --- D2: removing ---------------------------------------------------------------------------


@pytest.mark.covers("D2", "D1")
def test_D2_removing_is_refused_while_users_sign_in_with_ad_and_then_works(provider, mailbox):
    contract_id, _email, browser, _menu = contractor(provider)
    browser.submit(configure(browser, "adfs", adfs_values()), "ad-confirm-form")
    connection_id = connection_of(provider, contract_id).connection_id
    provider.new_user(contract_id, password=None, method="ad")
    provider.new_user(contract_id, password=None, method="ad")

    page = browser.get("/account/ad")
    asked = browser.submit(page, "remove-form")
    assert asked.status_code == 200
    assert 'data-users="2"' in asked.text and "利用者2名が Active Directory" in asked.text
    assert 'id="ad-remove-form"' not in asked.text
    # A POST that removes anyway is refused the same way, and nothing is removed.
    token = forms_in(page.text)[0].fields["csrf_token"]
    refused = browser.post("/account/ad", {"csrf_token": token, "step": "remove"})
    assert refused.status_code == 409 and 'data-users="2"' in refused.text
    assert connection_of(provider, contract_id).connection_id == connection_id
    with provider.app.app_context():
        refusals = (
            provider.db()
            .session.query(AuditEvent)
            .filter_by(event="ad_connection_remove", outcome="refused", reason="ad_in_use")
        )
        assert [r for r in refusals if r.details["actor"]["contract_id"] == contract_id]

    # Once nobody signs in with AD, the confirmation offers the removal.
    with provider.app.app_context():
        for user in provider.db().session.query(User).filter_by(contract_id=contract_id):
            if user.login_method == "ad":
                provider.db().session.delete(user)
        provider.db().session.commit()
    asked = browser.submit(browser.get("/account/ad"), "remove-form")
    assert 'id="remove-warning"' in asked.text and "直ちに使えなくなります" in asked.text
    removed = browser.submit(asked, "ad-remove-form")
    assert removed.status_code == 200 and 'id="removed"' in removed.text
    assert connection_of(provider, contract_id) is None
    # The refusal above is in the contract's log too (refused domain events carry it: G6).
    assert [(o, r) for o, r, _d in audit_events(provider, "ad_connection_remove", contract_id)] == [
        ("refused", "ad_in_use"),
        ("ok", None),
    ]
    # Its login URL no longer finds it: the sign-in asks for a connection ID again.
    rp = provider.new_client()
    login = Browser(provider.url)
    page = login.get(rp.authorize_url())
    ask = login.get(link_of(page, "broker-ad"))
    again = login.submit(ask, "connection-form", connection_id=connection_id)
    assert again.status_code == 400 and 'id="error"' in again.text


# --- the confirmation carries what was confirmed, for this contract only ----------------------


@pytest.mark.covers("D2", "G8")
def test_D2_G8_a_confirmation_applies_only_to_its_own_contract_and_state(provider):
    contract_a, _a, browser_a, _ = contractor(provider)
    contract_b, _b, browser_b, _ = contractor(provider)
    confirm = configure(browser_a, "adfs", adfs_values())
    pending = next(f for f in forms_in(confirm.text) if f.id == "ad-confirm-form").fields["pending"]
    token_b = forms_in(browser_b.get("/account/ad").text)[0].fields["csrf_token"]
    for forged in (pending, pending[:-4] + "AAAA", "not-sealed"):
        refused = browser_b.post(
            "/account/ad", {"csrf_token": token_b, "step": "apply", "pending": forged}
        )
        assert refused.status_code == 409 and 'id="error-form"' in refused.text, forged[:20]
    assert connection_of(provider, contract_b) is None
    # Contractor A's own confirmation still applies; confirming it twice does not.
    assert 'id="done"' in browser_a.submit(confirm, "ad-confirm-form").text
    again = browser_a.submit(confirm, "ad-confirm-form")
    assert again.status_code == 409 and "変更されました" in again.text
    assert connection_of(provider, contract_a) is not None


# --- U2, D2: nobody but the contractor ------------------------------------------------------


@pytest.mark.covers("U2", "D2")
@pytest.mark.parametrize("role", ["admin", "user"])
def test_U2_D2_admin_and_user_get_403_and_change_nothing(provider, role):
    contract_id = provider.new_contract()
    provider.new_user(contract_id, role="contractor")
    _user_id, email = provider.new_user(contract_id, role=role)
    browser, _menu = account_sign_in(provider, email)
    token = browser.get("/account/password").text.split('name="csrf_token" value="')[1]
    token = token.split('"')[0]
    page = browser.session.get(provider.url + "/account/ad", allow_redirects=False)
    assert page.status_code == 403 and 'data-reason="not_permitted"' in page.text
    for data in (
        {"step": "confirm", "kind": "adfs", **adfs_values()},
        {"step": "remove"},
    ):
        posted = browser.post("/account/ad", {**data, "csrf_token": token})
        assert posted.status_code == 403 and 'data-reason="not_permitted"' in posted.text
    assert connection_of(provider, contract_id) is None
    assert audit_events(provider, "ad_connection_add", contract_id) == []


@pytest.mark.covers("U1", "D2")
def test_U1_the_ad_setting_asks_for_a_fresh_sign_in(provider):
    contract_id = provider.new_contract()
    _user_id, email = provider.new_user(contract_id, role="contractor")
    start = datetime.now(UTC).replace(microsecond=0)
    with time_machine.travel(start, tick=False):
        browser, _menu = account_sign_in(provider, email)
    with time_machine.travel(start + timedelta(minutes=5, seconds=1), tick=False):
        asked = browser.get("/account/ad")
        assert 'id="password-form"' in asked.text and email in asked.text
        back = browser.submit(asked, "password-form", email=email, password=PASSWORD)
        assert back.url == f"{provider.url}/account/ad" and 'id="adfs-form"' in back.text


@pytest.mark.covers("D1", "G8")
def test_D1_G8_the_domain_refuses_another_contracts_actor(provider):
    from idp.contracts.ad import add_ad_connection
    from idp.errors import NotFoundError

    contract_id = provider.new_contract()
    other = provider.new_contract()
    settings = {"issuer": ISSUER, "client_id": "worksdrive"}
    with provider.app.app_context(), pytest.raises(NotFoundError):
        add_ad_connection(
            Actor.user(uuid.uuid4().hex, other), contract_id, "adfs", settings, SECRET
        )
    assert connection_of(provider, contract_id) is None
