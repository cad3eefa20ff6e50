"""O1: the demo storage frontend (idp/demo/) as a relying party, over HTTP without a browser:
sign in, refresh (OIDC Core 12.2 checks on the refreshed ID token), and its error pages."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from werkzeug.serving import make_server

from idp.demo.frontend import create_frontend_app
from tests.conftest import PASSWORD
from tests.helpers import forms_in
from tests.realservices import free_port

TIMEOUT = 10


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
        sub = re.search(r'<tr data-claim="sub">.*?class="value">([^<]*)<', home.text)
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
