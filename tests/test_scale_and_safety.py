"""DESIGN.md Scale and Security defaults: stateless nodes, links from the issuer, audit
without secrets, the developer outbox."""

from __future__ import annotations

import threading
import uuid

import pytest
import requests
from werkzeug.serving import make_server

from idp.models import AuditEvent
from tests.conftest import PASSWORD
from tests.conftest import build_provider
from tests.helpers import Browser
from tests.helpers import RelyingParty
from tests.helpers import forms_in
from tests.helpers import redirect_params


@pytest.fixture(scope="module")
def two_nodes(services, tmp_path_factory):
    """Two app nodes sharing one PostgreSQL, one Redis, the keys and the secret."""
    tmp = tmp_path_factory.mktemp("nodes")
    first = build_provider(
        "postgresql+redis",
        tmp / "a",
        services,
        keys_dir=str(tmp / "keys"),
        secret_key="shared-secret",
    )
    shared = {
        "database_url": first.app.config["SQLALCHEMY_DATABASE_URI"],
        "redis_url": first.app.extensions["idp.settings"].redis_url,
        "keys_dir": str(tmp / "keys"),
        "secret_key": "shared-secret",
        "issuer": first.url,
    }
    second = build_provider("postgresql+redis", tmp / "b", services, **shared)
    servers = []
    for node in (first, second):
        server = make_server("127.0.0.1", node.app.config["TEST_PORT"], node.app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield first, second, f"http://127.0.0.1:{second.app.config['TEST_PORT']}"
    for server in servers:
        server.shutdown()
    first.close()
    second.close()


def test_scale_user_moves_between_nodes_mid_login(two_nodes):
    first, _second, second_url = two_nodes
    _user_id, email = first.new_user()
    rp = first.new_client()
    browser = Browser(first.url)
    page = browser.get(rp.authorize_url())
    form = forms_in(page.text)[0]
    # The password POST (which finishes the sign-in for this trusted client: no further step
    # is due) and the token request go to the other node.
    response = browser.session.post(
        f"{second_url}/login",
        data={**form.fields, "email": email, "password": PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert response.status_code == 302, response.text[:300]
    callback = redirect_params(response)
    assert callback["iss"] == first.url
    other = RelyingParty(first.url, rp.client_id, rp.secret, rp.redirect_uri)
    other.metadata = {**rp.metadata, "token_endpoint": f"{second_url}/token"}
    other.code_verifier = rp.code_verifier
    tokens = other.exchange(callback["code"])
    assert tokens["_status"] == 200
    assert rp.userinfo(tokens["access_token"]).json()["email"] == email


def test_links_use_the_issuer_not_the_host_header(provider, user, mailbox):
    _user_id, email = user
    browser = Browser(provider.url)
    page = browser.get("/password/forgot")
    form = forms_in(page.text)[0]
    response = browser.session.post(
        f"{provider.url}/password/forgot",
        data={**form.fields, "email": email},
        headers={"X-Forwarded-Host": "evil.example", "Forwarded": "host=evil.example"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    mail = mailbox.wait_for(to=email, subject_contains="パスワードリセット")
    links = mailbox.links_in(mail)
    assert links and all(link.startswith(provider.url + "/") for link in links)


def test_X3_audit_never_holds_passwords_or_tokens(provider, rp, user):
    user_id, email = user
    wrong = "Wrong-" + uuid.uuid4().hex
    browser = Browser(provider.url)
    browser.submit(browser.get(rp.authorize_url()), "password-form", email=email, password=wrong)
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    with provider.app.app_context():
        rows = provider.db().session.query(AuditEvent).filter_by(user_id=user_id).all()
        dump = repr([(r.event, r.reason, r.details) for r in rows])
    assert {"login", "token_issued"} <= {r.event for r in rows}
    for secret in (wrong, PASSWORD, tokens["access_token"], tokens["refresh_token"]):
        assert secret not in dump


def test_dev_outbox_lists_mails_with_links(services, tmp_path):
    dev = build_provider("sqlite+sqlstore", tmp_path, services, smtp_url="", dev=True)
    _user_id, email = dev.new_user()
    client = dev.app.test_client()
    page = client.get("/password/forgot")
    token = forms_in(page.get_data(as_text=True))[0].fields["csrf_token"]
    assert (
        client.post("/password/forgot", data={"csrf_token": token, "email": email}).status_code
        == 200
    )
    dev.app.extensions["idp.mailer"].wait_idle()
    outbox = client.get("/dev/outbox").get_data(as_text=True)
    assert "パスワードリセット" in outbox and 'class="mail-link"' in outbox
    assert f"{dev.url}/links/" in outbox
    dev.close()
    production = build_provider("sqlite+sqlstore", tmp_path / "p", services)
    assert production.app.test_client().get("/dev/outbox").status_code == 404
    production.close()


def test_the_providers_own_address_says_where_to_go(services, tmp_path, provider):
    """Issue 14: `/` (the first URL the README names) is a page in the user's language that
    leads to the account menu, not a 404; the development links only with IDP_DEV."""
    browser = Browser(provider.url)
    page = browser.get("/")
    assert page.status_code == 200
    assert '<h1 id="home">WORKSDRIVE ログインサービス</h1>' in page.text
    assert 'id="account-menu"' in page.text and 'href="/account"' in page.text
    assert 'id="dev-links"' not in page.text and "/dev/outbox" not in page.text
    english = browser.get("/?lang=en")
    assert '<h1 id="home">WORKSDRIVE sign-in service</h1>' in english.text
    assert "ログイン" not in english.text.split("<main", 1)[1]
    # The menu link leads to the menu's own sign-in.
    assert browser.get("/account").url.startswith(provider.url)
    dev = build_provider("sqlite+sqlstore", tmp_path, services, smtp_url="", dev=True)
    dev_page = dev.app.test_client().get("/").get_data(as_text=True)
    assert 'id="dev-links"' in dev_page and 'href="/dev/outbox"' in dev_page
    dev.close()


def test_health_endpoints(provider):
    assert requests.get(f"{provider.url}/healthz", timeout=10).json() == {"status": "ok"}
    ready = requests.get(f"{provider.url}/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["checks"] == {
        "database": "ok",
        "store": "ok",
        "keys": "ok",
    }


def test_X3_refusals_are_counted_in_metrics(provider, rp, user):
    _user_id, email = user

    def wrong_password_count():
        # Other events share the reason (a wrong current password at the account menu's
        # password change): sum the series of the sign-in's own event only.
        text = requests.get(f"{provider.url}/metrics", timeout=10).text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("idp_audit_events_total{")
            and 'event="login"' in line
            and 'reason="wrong_password"' in line
        )

    before = wrong_password_count()
    browser = Browser(provider.url)
    browser.submit(
        browser.get(rp.authorize_url()), "password-form", email=email, password="Not-The-Password-1"
    )
    assert wrong_password_count() >= before + 1
