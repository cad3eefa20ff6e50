"""O1: the demo storage frontend (idp/demo/) as a relying party, over HTTP without a browser:
sign in, refresh (OIDC Core 12.2 checks on the refreshed ID token), and its error pages."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from werkzeug.serving import make_server

from idp.actor import Actor
from idp.contracts.lines import add_line
from idp.demo.frontend import create_frontend_app
from idp.line.gateway import sign_line_headers
from tests.conftest import PASSWORD
from tests.conftest import build_provider
from tests.helpers import forms_in
from tests.realservices import free_port

TIMEOUT = 10
LINE_SECRET = b"line-gateway-secret-for-the-frontend-test"


@pytest.fixture()
def frontend(provider: Any) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    rp = provider.new_client(redirect_uri=url + "/callback")
    app = create_frontend_app(provider.url, rp.client_id, rp.secret, url)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join(5)
    server.server_close()


def _follow(session: requests.Session, response: requests.Response) -> requests.Response:
    while response.is_redirect:
        target = urljoin(response.url, response.headers["Location"])
        response = session.get(target, allow_redirects=False, timeout=TIMEOUT)
    return response


def _sign_in(session: requests.Session, frontend: str, email: str) -> requests.Response:
    login = _follow(session, session.get(frontend + "/login", allow_redirects=False))
    (form,) = [f for f in forms_in(login.text) if f.id == "password-form"]
    posted = session.post(
        urljoin(login.url, form.action),
        data={**form.fields, "email": email, "password": PASSWORD},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    return _follow(session, posted)


@pytest.mark.covers("O1")
def test_O1_demo_frontend_signs_in_and_refreshes(provider, frontend):
    user_id, email = provider.new_user()
    with requests.Session() as session:
        home = _sign_in(session, frontend, email)
        assert home.url == frontend + "/"
        assert f'id="user-email">{email}<' in home.text
        assert 'id="refresh-token-status" data-value="true"' in home.text
        sub = re.search(r'<tr data-claim="sub">.*?class="value"[^>]*>([^<]*)<', home.text)
        assert sub and sub.group(1) == f"&#34;{user_id}&#34;"
        exp = re.search(r'<tr data-claim="exp">.*?class="note">([^<]*)<', home.text)
        assert exp and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", exp.group(1))
        refreshed = _follow(
            session, session.post(frontend + "/refresh", allow_redirects=False, timeout=TIMEOUT)
        )
        assert 'id="refresh-result" class="ok" data-ok="true"' in refreshed.text
        assert 'id="refresh-rotated" data-value="true">はい<' in refreshed.text


@pytest.mark.covers("O1")
def test_O1_demo_frontend_refuses_a_cross_site_post_and_a_foreign_iss(provider, frontend):
    with requests.Session() as session:
        forged = session.post(
            frontend + "/refresh", headers={"Origin": "https://evil.example"}, timeout=TIMEOUT
        )
        assert forged.status_code == 403 and 'id="error">csrf_rejected<' in forged.text
        mixed_up = session.get(
            frontend + "/callback", params={"iss": "https://evil.example", "code": "x"}
        )
        assert mixed_up.status_code == 400 and 'id="error">issuer_mismatch<' in mixed_up.text


@pytest.fixture(scope="module")
def line_node(smtp_sink: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A provider that trusts a line gateway's signed headers (L9)."""
    provider = build_provider(
        "sqlite+sqlstore",
        tmp_path_factory.mktemp("frontend-line"),
        {"smtp": smtp_sink},
        line_gateway_secret=LINE_SECRET.decode(),
    )
    server = make_server("127.0.0.1", provider.app.config["TEST_PORT"], provider.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield provider
    server.shutdown()
    thread.join(5)
    server.server_close()
    provider.close()


@pytest.mark.covers("O1", "L9", "X5")
def test_X5_demo_frontend_says_the_sign_in_came_through_line_authentication(line_node):
    """The frontend reads line_auth/line_area (and amr ``line``) from the ID token and says
    so in the user's language (issue 14)."""
    contract_id = line_node.new_contract()
    with line_node.app.app_context():
        add_line(Actor.cli(), contract_id, "CAF0123456789")
    _user_id, email = line_node.new_user(contract_id)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    rp = line_node.new_client(redirect_uri=url + "/callback")
    app = create_frontend_app(line_node.url, rp.client_id, rp.secret, url)
    server = make_server("127.0.0.1", port, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with requests.Session() as session:
            login = _follow(session, session.get(url + "/login?ui_locales=en", timeout=TIMEOUT))
            (form,) = [f for f in forms_in(login.text) if f.id == "password-form"]
            # As the line gateway forwards it: the line login URL with signed line headers.
            headers = sign_line_headers(
                LINE_SECRET, "CAF0123456789", "east", "POST", "/line/login", time.time()
            )
            posted = session.post(
                line_node.url + "/line/login",
                data={**form.fields, "email": email, "password": PASSWORD},
                headers=headers,
                allow_redirects=False,
                timeout=TIMEOUT,
            )
            home = _follow(session, posted)
    finally:
        server.shutdown()
        server.server_close()
    assert home.url == url + "/"
    assert 'id="line-auth" data-value="true"' in home.text
    assert "Yes: this sign-in came through line authentication. Area: East Japan." in home.text
    assert 'data-amr="line"><code>line</code>: Line authentication' in home.text


@pytest.mark.covers("O1")
def test_O1_demo_frontend_answers_an_unknown_address_with_its_own_page(frontend):
    missing = requests.get(frontend + "/no-such-page?lang=en", timeout=TIMEOUT)
    assert missing.status_code == 404 and 'id="error">http_404<' in missing.text
    assert 'id="home" href="' + frontend + '/"' in missing.text
    wrong_method = requests.get(frontend + "/refresh", timeout=TIMEOUT)
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"]
    assert 'id="error">http_405<' in wrong_method.text
