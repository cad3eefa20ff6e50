"""L7, M5, O2: brokered login through the provider as a browser and an RP see it, with the
local Facebook Graph double as the upstream (the other upstreams share the same path)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from idp.actor import Actor
from idp.errors import ProvisioningError
from idp.models import AuditEvent
from idp.users.identities import link_identity
from tests.conftest import build_provider
from tests.facebook_double import FacebookDouble
from tests.facebook_double import FacebookUser
from tests.facebook_double import app_scoped_id
from tests.facebook_double import run_facebook_double
from tests.field_errors import read
from tests.helpers import Browser
from tests.helpers import link_of
from tests.helpers import redirect_params

VERSION = "v21.0"


@pytest.fixture(scope="module")
def facebook() -> Iterator[FacebookDouble]:
    with run_facebook_double() as double:
        yield double


@pytest.fixture(scope="module")
def node(
    services: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, facebook: FacebookDouble
) -> Iterator[Any]:
    app = facebook.add_app()
    brokers = {
        "facebook": {
            "app_id": app.app_id,
            "app_secret": app.secret,
            "graph_version": VERSION,
            "dialog_base": facebook.url,
            "graph_base": facebook.url,
        }
    }
    provider = build_provider(
        "sqlite+sqlstore", tmp_path_factory.mktemp("brokered"), services, brokers=brokers
    )
    provider.facebook_app = app
    server = make_server("127.0.0.1", provider.app.config["TEST_PORT"], provider.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield provider
    server.shutdown()
    provider.close()


def facebook_user(node: Any, person: FacebookUser, **values: Any) -> str:
    """A WORKSDRIVE user whose login method is Facebook, bound to ``person``'s app-scoped id."""
    user_id, _email = node.new_user(password=None, method="facebook", **values)
    with node.app.app_context():
        link_identity(
            Actor.cli(),
            user_id,
            "facebook",
            f"facebook:{node.facebook_app.app_id}",
            app_scoped_id(person, node.facebook_app.app_id),
        )
    return user_id


def through_facebook(
    node: Any,
    facebook: FacebookDouble,
    person: FacebookUser | None,
    browser: Browser,
    rp: Any,
    deny: bool = False,
    **params: Any,
) -> Any:
    """Authorize → login page → Facebook button → the dialog → back at our callback."""
    page = browser.get(rp.authorize_url(**params))
    upstream = browser.session.get(
        link_of(page, "broker-facebook"), allow_redirects=False, timeout=10
    )
    assert upstream.status_code == 303, upstream.text[:300]
    assert upstream.headers["Location"].startswith(facebook.url)
    facebook.next_user = person
    facebook.deny = deny
    dialog = browser.session.get(upstream.headers["Location"], allow_redirects=False, timeout=10)
    assert dialog.status_code in (302, 303), dialog.text[:300]
    callback = dialog.headers["Location"]
    assert callback.startswith(node.url + "/login/callback/facebook?")
    return browser.get(callback), callback


def test_L7_registered_facebook_identity_signs_in_with_federated_amr(node, facebook):
    person = FacebookUser("Hanako Yamada", "hanako@example.jp")
    user_id = facebook_user(node, person)
    rp = node.new_client()
    response, _callback = through_facebook(node, facebook, person, Browser(node.url), rp)
    tokens = rp.exchange(redirect_params(response)["code"])
    claims = rp.id_token_claims(tokens["id_token"])
    assert claims["sub"] == user_id
    assert claims["amr"] == ["fed"]
    assert claims["login_method"] == "facebook"
    assert claims["acr"] == "urn:worksdrive:acr:1fa"


def test_L7_unregistered_identity_gets_a_clear_page_and_no_sign_in(node, facebook):
    rp = node.new_client()
    stranger = FacebookUser("Stranger", "nobody@example.jp")
    page, _callback = through_facebook(node, facebook, stranger, Browser(node.url), rp)
    assert page.status_code == 403
    assert 'data-reason="identity_not_registered"' in page.text and "招待" in page.text
    with node.app.app_context():
        reasons = [e.reason for e in node.db().session.query(AuditEvent).all()]
    assert "identity_not_registered" in reasons


def test_L7_same_email_at_another_upstream_never_signs_in_by_email(node, facebook):
    """A user registered with Google and an email; a Facebook account with that same email
    is not them."""
    _user_id, email = node.new_user(password=None, method="google")
    twin = FacebookUser("Twin", email)
    rp = node.new_client()
    page, _callback = through_facebook(node, facebook, twin, Browser(node.url), rp)
    assert page.status_code == 403 and 'data-reason="identity_not_registered"' in page.text


def test_L7_replayed_and_forged_callbacks_are_refused(node, facebook):
    person = FacebookUser("Replay", "replay@example.jp")
    facebook_user(node, person)
    rp = node.new_client()
    browser = Browser(node.url)
    response, callback = through_facebook(node, facebook, person, browser, rp)
    assert "code" in redirect_params(response)
    replay = browser.get(callback)
    assert replay.status_code == 400 and 'data-reason="bad_state"' in replay.text
    forged = browser.get(callback.replace("state=", "state=x"))
    assert forged.status_code == 400 and 'data-reason="bad_state"' in forged.text


def test_L7_denied_upstream_ends_on_a_page_with_a_way_back(node, facebook):
    rp = node.new_client()
    page, _callback = through_facebook(
        node, facebook, FacebookUser("N", "n@example.jp"), Browser(node.url), rp, deny=True
    )
    assert page.status_code == 400 and 'data-reason="access_denied"' in page.text
    assert 'id="back"' in page.text


def test_L7_an_identity_whose_user_changed_method_no_longer_signs_in(node, facebook):
    from idp.models import User

    person = FacebookUser("Mover", "mover@example.jp")
    user_id = facebook_user(node, person)
    with node.app.app_context():
        user = node.db().session.get(User, user_id)
        user.login_method = "google"
        node.db().session.commit()
    page, _ = through_facebook(node, facebook, person, Browser(node.url), node.new_client())
    assert page.status_code == 403 and 'data-reason="not_current_method"' in page.text


def test_M5_a_different_facebook_identity_cannot_be_bound_directly(node):
    person = FacebookUser("First", "first@example.jp")
    user_id = facebook_user(node, person)
    with node.app.app_context(), pytest.raises(ProvisioningError, match="M5"):
        link_identity(
            Actor.cli(),
            user_id,
            "facebook",
            f"facebook:{node.facebook_app.app_id}",
            app_scoped_id(FacebookUser("Second"), node.facebook_app.app_id),
        )


def test_L7_prompt_login_asks_facebook_to_reauthenticate(node, facebook):
    rp = node.new_client()
    browser = Browser(node.url)
    page = browser.get(rp.authorize_url(prompt="login"))
    upstream = browser.session.get(
        link_of(page, "broker-facebook"), allow_redirects=False, timeout=10
    )
    assert "auth_type=reauthenticate" in upstream.headers["Location"]


def test_L7_unconfigured_upstream_says_not_available(provider, rp):
    browser = Browser(provider.url)
    page = browser.get(rp.authorize_url())
    response = browser.get(link_of(page, "broker-google"))
    assert response.status_code == 200 and 'id="not-available"' in response.text


def _ldap_contract(node: Any, slapd: Any) -> tuple[str, str, str]:
    """A contract with a direct LDAP connection to the test slapd; (contract, connection id,
    the directory's issuer)."""
    from brokers.ldap import LdapDirectory
    from idp.contracts.ad import add_ad_connection

    contract_id = node.new_contract()
    settings = {
        "url": slapd.url_ldaps,
        "base_dn": slapd.base_dn,
        "bind_dn": slapd.service_dn,
        "ca_pem": slapd.ca_file.read_text(),
    }
    with node.app.app_context():
        connection = add_ad_connection(
            Actor.cli(), contract_id, "ldap", settings, slapd.service_password
        )
        connection_id = connection.connection_id
    issuer = LdapDirectory(
        url=slapd.url_ldaps,
        base_dn=slapd.base_dn,
        bind_dn=slapd.service_dn,
        bind_password=slapd.service_password,
        ca_certs_file=str(slapd.ca_file),
    ).issuer
    return contract_id, connection_id, issuer


def _ad_form(node: Any, rp: Any, browser: Browser, connection_id: str) -> Any:
    page = browser.get(rp.authorize_url())
    ask = browser.get(link_of(page, "broker-ad"))
    assert 'id="connection-form"' in ask.text
    form = browser.submit(ask, "connection-form", connection_id=connection_id.upper())
    assert 'id="ldap-form"' in form.text, form.text[:300]
    return form


def test_L8_ldap_directory_sign_in_by_connection_id(node, slapd):
    contract_id, connection_id, issuer = _ldap_contract(node, slapd)
    grace = slapd.users["grace"]
    user_id, _email = node.new_user(contract_id, password=None, method="ad")
    with node.app.app_context():
        link_identity(Actor.cli(), user_id, "ad", issuer, str(grace.object_guid))
    rp = node.new_client()
    browser = Browser(node.url)
    form = _ad_form(node, rp, browser, connection_id)
    wrong = browser.submit(form, "ldap-form", login=grace.upn, password="Not-Her-Password1")
    assert wrong.status_code == 401 and 'id="error"' in wrong.text
    # Issue 14: the message describes both fields (it does not say which was wrong); the
    # user name is kept and the password, to type again, has the focus.
    for field in ("login", "password"):
        tag = re.search(rf'<input id="{field}"[^>]*>', wrong.text)[0]
        assert 'aria-describedby="error"' in tag, tag
    assert f'value="{grace.upn}"' in wrong.text
    assert read(wrong.text).focused == ["password"]
    done = browser.submit(form, "ldap-form", login=grace.upn, password=grace.password)
    claims = rp.id_token_claims(rp.exchange(redirect_params(done)["code"])["id_token"])
    assert claims["sub"] == user_id and claims["amr"] == ["fed"]
    assert claims["login_method"] == "ad"


def test_L8_ldap_disabled_account_gets_a_clear_message(node, slapd):
    _contract_id, connection_id, _issuer = _ldap_contract(node, slapd)
    bob = slapd.users["bob"]
    browser = Browser(node.url)
    form = _ad_form(node, node.new_client(), browser, connection_id)
    refused = browser.submit(form, "ldap-form", login=bob.upn, password=bob.password)
    assert refused.status_code == 401 and "無効" in refused.text


def test_L8_unknown_connection_id_is_asked_again(node):
    browser = Browser(node.url)
    rp = node.new_client()
    page = browser.get(rp.authorize_url())
    ask = browser.get(link_of(page, "broker-ad"))
    again = browser.submit(ask, "connection-form", connection_id="adfs-" + "0" * 18)
    assert again.status_code == 400 and 'id="error"' in again.text
    malformed = browser.submit(ask, "connection-form", connection_id="<script>")
    assert malformed.status_code == 400


def test_L8_identity_of_another_contracts_directory_is_refused(node, slapd):
    """A user bound to this directory's identity but in another contract cannot sign in
    through this contract's connection ID."""
    _contract_id, connection_id, issuer = _ldap_contract(node, slapd)
    alice = slapd.users["alice"]
    other_user, _ = node.new_user(node.new_contract(), password=None, method="ad")
    with node.app.app_context():
        from brokers.ldap import LdapDirectory

        directory = LdapDirectory(
            url=slapd.url_ldaps,
            base_dn=slapd.base_dn,
            bind_dn=slapd.service_dn,
            bind_password=slapd.service_password,
            ca_certs_file=str(slapd.ca_file),
        )
        subject = directory.authenticate(alice.upn, alice.password).subject
        link_identity(Actor.cli(), other_user, "ad", issuer, subject)
    browser = Browser(node.url)
    form = _ad_form(node, node.new_client(), browser, connection_id)
    refused = browser.submit(form, "ldap-form", login=alice.upn, password=alice.password)
    assert refused.status_code == 403 and 'data-reason="other_contract"' in refused.text


@pytest.fixture(scope="module")
def adfs(node: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tests.test_brokers_adfs_daccount import start_adfs_double

    double = start_adfs_double(
        tmp_path_factory.mktemp("adfs-e2e"), redirect_uri=f"{node.url}/login/callback/ad"
    )
    yield double
    double.stop()


def _through_adfs(
    node: Any,
    browser: Browser,
    rp: Any,
    connection_id: str,
    account: str | None = "alice",
    mfa: bool = False,
    **params: Any,
) -> tuple:
    """Authorize → AD button → connection ID → AD FS (its sign-in page when it asks) → back."""
    from urllib.parse import urljoin

    page = browser.get(rp.authorize_url(**params))
    ask = browser.get(link_of(page, "broker-ad"))
    response = browser.session.post(
        f"{node.url}/login/ad",
        data={**ask_form(ask), "connection_id": connection_id},
        allow_redirects=False,
        timeout=10,
    )
    url = urljoin(node.url, response.headers["Location"])
    prompted = False
    for _ in range(12):
        response = browser.session.get(url, allow_redirects=False, timeout=10)
        if response.status_code == 200 and "/adfs/interaction/" in url:
            prompted = True
            form = {"account": account}
            if mfa:
                form["mfa"] = "1"
            response = browser.session.post(url, data=form, allow_redirects=False, timeout=10)
        assert response.status_code in (302, 303), (url, response.status_code, response.text[:200])
        url = urljoin(url, response.headers["Location"])
        if url.startswith(f"{node.url}/login/callback/ad"):
            return browser.get(url), prompted
    raise AssertionError("never came back from AD FS")


def ask_form(page: Any) -> dict[str, str]:
    from tests.helpers import forms_in

    return next(f for f in forms_in(page.text) if f.id == "connection-form").fields


def _adfs_contract(node: Any, adfs: Any) -> str:
    from idp.contracts.ad import add_ad_connection
    from tests.test_brokers_adfs_daccount import ADFS_CLIENT_ID
    from tests.test_brokers_adfs_daccount import ADFS_SECRET

    contract_id = node.new_contract()
    with node.app.app_context():
        return add_ad_connection(
            Actor.cli(),
            contract_id,
            "adfs",
            {
                "issuer": adfs.issuer,
                "client_id": ADFS_CLIENT_ID,
                "resource": "urn:worksdrive:idp",
                "allow_http": True,
            },
            ADFS_SECRET,
        ).connection_id


def _adfs_subject(node: Any, adfs: Any, account: str) -> str:
    """The pairwise subject AD FS gives our client for ``account`` (as a bound identity
    would have recorded it at registration)."""
    from idp.login.active_directory import adfs_broker_for
    from tests.test_brokers_adfs_daccount import adfs_visit

    connection_id = _adfs_contract(node, adfs)
    with node.app.app_context():
        broker = adfs_broker_for(connection_id)
        url, kept = broker.start(UpstreamRequestFor(node))
        import requests

        trip = adfs_visit(
            requests.Session(), url, account=account, redirect_uri=f"{node.url}/login/callback/ad"
        )
        return broker.finish(trip.callback, kept).subject


def UpstreamRequestFor(node: Any) -> Any:  # noqa: N802
    from brokers.base import UpstreamRequest

    return UpstreamRequest(redirect_uri=f"{node.url}/login/callback/ad")


def test_L8_adfs_by_connection_id_then_sso_without_prompt(node, adfs):
    connection_id = _adfs_contract(node, adfs)
    contract_id = _contract_of(node, connection_id)
    user_id, _ = node.new_user(contract_id, password=None, method="ad")
    with node.app.app_context():
        link_identity(Actor.cli(), user_id, "ad", adfs.issuer, _adfs_subject(node, adfs, "alice"))
    rp = node.new_client()
    browser = Browser(node.url)
    done, prompted = _through_adfs(node, browser, rp, connection_id, mfa=True)
    assert prompted
    claims = rp.id_token_claims(rp.exchange(redirect_params(done)["code"])["id_token"])
    assert claims["sub"] == user_id and claims["login_method"] == "ad"
    assert claims["amr"] == ["fed", "mfa"] and claims["acr"] == "urn:worksdrive:acr:2fa"
    # Signed in at AD FS already (a domain-joined PC): no AD FS prompt the second time.
    other_rp = node.new_client()
    browser.session.cookies.set("idp_sso", None)  # our session ends; AD FS's stays
    again, prompted = _through_adfs(node, browser, other_rp, connection_id)
    assert not prompted and "code" in redirect_params(again)
    # prompt=login from the relying party makes AD FS ask again.
    forced, prompted = _through_adfs(node, browser, rp, connection_id, prompt="login")
    assert prompted and "code" in redirect_params(forced)


def _contract_of(node: Any, connection_id: str) -> str:
    from idp.models import AdConnection

    with node.app.app_context():
        return node.db().session.get(AdConnection, connection_id).contract_id
