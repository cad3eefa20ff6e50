"""X7, O1: OpenID Connect Back-Channel Logout 1.0 as a relying party sees it.

Each relying party here is a small HTTP server that receives the POSTed ``logout_token`` and
validates it as §2.6 says (signature against the provider's JWKS, ``iss``, ``aud``, ``iat``,
``exp``, the ``events`` member, ``sub``/``sid``, no ``nonce``, a ``jti`` not seen before,
``typ: logout+jwt``), on logout, on sign out everywhere and on password reset; a client that is
down gets its token once it is back (the clock moved past the backoff, no sleep); a client
without a ``backchannel_logout_uri``, or where the user never signed in, gets nothing."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey
from sqlalchemy import select
from werkzeug.serving import make_server
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

from idp import extensions
from idp.actor import Actor
from idp.backchannel.delivery import deliver_due
from idp.backchannel.logout_token import logout_token_claims
from idp.demo.frontend import create_frontend_app
from idp.errors import ProvisioningError
from idp.factory import create_app
from idp.models import AuditEvent
from idp.models import BackchannelLogout
from idp.models import Client
from idp.models import User
from idp.models import db
from idp.sso import SsoSession
from idp.sso import sign_out_everywhere
from idp.sso import sign_out_other_sessions
from idp.users.reset import set_new_password
from tests.clock import moved_clock
from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.helpers import RelyingParty
from tests.helpers import redirect_params
from tests.realservices import free_port
from tests.test_demo_frontend import _sign_in

EVENT = "http://schemas.openid.net/event/backchannel-logout"
ACTOR = Actor.system("backchannel-test")
TIMEOUT = 10
CLI_SETTINGS = ("IDP_INSTANCE_DIR", "IDP_KEYS_DIR", "IDP_SECRET_KEY", "IDP_ENCRYPTION_KEY")


class Receiver:
    """A relying party's ``backchannel_logout_uri``: records each POST and answers
    ``status`` (200 unless a test says otherwise)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/backchannel-logout"
        self.status = 200
        self.posts: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._lock:
            self.posts.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "mimetype": request.mimetype,
                    "form": request.form.to_dict(flat=False),
                }
            )
        response = Response("", status=self.status, headers={"Cache-Control": "no-store"})
        return response(environ, start_response)

    def start(self) -> Receiver:
        self._server = make_server("127.0.0.1", self.port, self, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(5)
            self._server = None

    def tokens(self) -> list[str]:
        """The logout tokens received, after checking each request's form (§2.5)."""
        with self._lock:
            posts = list(self.posts)
        for post in posts:
            assert post["method"] == "POST" and post["path"] == "/backchannel-logout"
            assert post["mimetype"] == "application/x-www-form-urlencoded"
            assert list(post["form"]) == ["logout_token"] and len(post["form"]["logout_token"]) == 1
        return [post["form"]["logout_token"][0] for post in posts]


@pytest.fixture()
def receivers() -> Iterator[Any]:
    started: list[Receiver] = []

    def make(port: int | None = None, start: bool = True) -> Receiver:
        receiver = Receiver(port)
        started.append(receiver)
        return receiver.start() if start else receiver

    yield make
    for receiver in started:
        receiver.stop()


def validate_logout_token(
    provider: Any, token: str, client_id: str, seen_jti: set[str], alg: str = "RS256"
) -> dict[str, Any]:
    """OIDC Back-Channel Logout 1.0 §2.6, as a relying party does it."""
    meta = requests.get(f"{provider.url}/.well-known/openid-configuration", timeout=TIMEOUT).json()
    jwks = KeySet.import_key_set(requests.get(meta["jwks_uri"], timeout=TIMEOUT).json())
    # 2. the signature, with the algorithm of the client's ID tokens
    decoded = jwt.decode(token, jwks, algorithms=[alg])
    # §2.4 / §4.1: explicitly typed, so that it cannot pass for an ID token
    assert decoded.header["typ"] == "logout+jwt"
    claims = dict(decoded.claims)
    # 3. iss, aud, iat (and exp) as for an ID token
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": provider.url},
        aud={"essential": True, "value": client_id},
        iat={"essential": True},
        exp={"essential": True},
        jti={"essential": True},
    ).validate(claims)
    assert 0 < claims["exp"] - claims["iat"] <= 120, "a short exp (§2.4: two minutes or less)"
    # 4. a sub or a sid (or both)
    assert "sub" in claims or "sid" in claims
    # 5. the events member
    assert claims["events"] == {EVENT: {}}
    # 6. no nonce
    assert "nonce" not in claims
    # 7. a jti not seen before
    assert claims["jti"] not in seen_jti
    seen_jti.add(claims["jti"])
    return claims


def wait_for_deliveries(provider: Any) -> None:
    extensions.backchannel.of(provider.app).wait_idle()


def sso_tokens(browser: Browser, rp: RelyingParty) -> dict[str, Any]:
    """Sign in to another client with the browser's SSO session (no login page)."""
    callback = redirect_params(
        browser.session.get(rp.authorize_url(), allow_redirects=False, timeout=TIMEOUT)
    )
    tokens = rp.exchange(callback["code"])
    assert tokens["_status"] == 200, tokens
    return tokens


def queued(provider: Any, subject: str) -> list[BackchannelLogout]:
    with provider.app.app_context():
        return list(db.session.scalars(select(BackchannelLogout).filter_by(subject=subject)).all())


def audit_details(provider: Any, user_id: str, event: str) -> list[dict[str, Any]]:
    with provider.app.app_context():
        rows = provider.db().session.query(AuditEvent).filter_by(event=event, user_id=user_id)
        return [dict(r.details or {}, outcome=r.outcome, reason=r.reason) for r in rows]


@pytest.mark.covers("X7", "O1")
def test_X7_discovery_says_back_channel_logout_with_sid(provider):
    meta = requests.get(f"{provider.url}/.well-known/openid-configuration", timeout=TIMEOUT).json()
    assert meta["backchannel_logout_supported"] is True
    assert meta["backchannel_logout_session_supported"] is True


@pytest.mark.covers("X7", "O1")
def test_X7_logout_tells_the_clients_of_that_session_only(provider, user, receivers):
    """RP-initiated logout in one browser: each client of that session gets one token with
    its ``sid``; the same user's session in another browser, and its client, are left alone."""
    user_id, email = user
    first, second, elsewhere = receivers(), receivers(), receivers()
    rp1 = provider.new_client(backchannel_logout_uri=first.url)
    rp2 = provider.new_client(backchannel_logout_uri=second.url, id_token_alg="ES256")
    rp3 = provider.new_client(backchannel_logout_uri=elsewhere.url)
    laptop = Browser(provider.url)
    tokens1 = rp1.login_tokens(laptop, email, PASSWORD)
    tokens2 = sso_tokens(laptop, rp2)
    phone = Browser(provider.url)
    tokens3 = rp3.login_tokens(phone, email, PASSWORD)
    sid = rp1.id_token_claims(tokens1["id_token"])["sid"]
    assert rp2.id_token_claims(tokens2["id_token"])["sid"] == sid
    assert rp3.id_token_claims(tokens3["id_token"])["sid"] != sid

    response = laptop.session.get(
        rp1.metadata["end_session_endpoint"],
        params={"id_token_hint": tokens1["id_token"]},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert response.status_code == 200 and 'id="logged-out"' in response.text
    wait_for_deliveries(provider)

    seen: set[str] = set()
    for receiver, rp, alg in ((first, rp1, "RS256"), (second, rp2, "ES256")):
        (token,) = receiver.tokens()
        claims = validate_logout_token(provider, token, rp.client_id, seen, alg)
        assert claims["sub"] == user_id and claims["sid"] == sid
    assert elsewhere.tokens() == []
    assert queued(provider, user_id) == []


@pytest.mark.covers("X7", "O1", "U1")
def test_X7_sign_out_everywhere_tells_each_client_of_the_user_once(provider, user, receivers):
    """Every session ends: one token with ``sub`` alone per client (every session there), one
    per session for a client that requires ``sid``; a client without a URI, and a client
    where only someone else signed in, get nothing."""
    user_id, email = user
    plain, per_session, bystanders = receivers(), receivers(), receivers()
    rp_plain = provider.new_client(backchannel_logout_uri=plain.url)
    rp_sessions = provider.new_client(
        backchannel_logout_uri=per_session.url, backchannel_logout_session_required=True
    )
    rp_no_uri = provider.new_client()
    rp_other = provider.new_client(backchannel_logout_uri=bystanders.url)
    sids = set()
    for _browser in range(2):
        browser = Browser(provider.url)
        tokens = rp_plain.login_tokens(browser, email, PASSWORD)
        sids.add(rp_plain.id_token_claims(tokens["id_token"])["sid"])
        sso_tokens(browser, rp_sessions)
        sso_tokens(browser, rp_no_uri)
    _other_id, other_email = provider.new_user()
    rp_other.login_tokens(Browser(provider.url), other_email, PASSWORD)

    with provider.app.app_context():
        sign_out_everywhere(ACTOR, provider.db().session.get(User, user_id))
    wait_for_deliveries(provider)

    seen: set[str] = set()
    (token,) = plain.tokens()
    claims = validate_logout_token(provider, token, rp_plain.client_id, seen)
    assert claims["sub"] == user_id and "sid" not in claims
    got = [
        validate_logout_token(provider, t, rp_sessions.client_id, seen)
        for t in per_session.tokens()
    ]
    assert sorted(c["sid"] for c in got) == sorted(sids) and {c["sub"] for c in got} == {user_id}
    assert bystanders.tokens() == []
    (queued_event,) = audit_details(provider, user_id, "backchannel_logout")
    assert queued_event["clients"] == sorted([rp_plain.client_id, rp_sessions.client_id])
    assert rp_no_uri.client_id not in queued_event["clients"]
    sent = audit_details(provider, user_id, "backchannel_logout_sent")
    assert [e["outcome"] for e in sent] == ["ok"] * 3


@pytest.mark.covers("X7", "P1")
def test_X7_signing_out_the_other_sessions_tells_their_clients_only(provider, user, receivers):
    """A password change keeps this browser signed in and ends the others: each client hears
    of every other session by its ``sid``, never of the kept one."""
    user_id, email = user
    receiver = receivers()
    rp = provider.new_client(backchannel_logout_uri=receiver.url)
    kept, other = (
        rp.id_token_claims(rp.login_tokens(Browser(provider.url), email, PASSWORD)["id_token"])
        for _browser in range(2)
    )
    with provider.app.app_context():
        keep = SsoSession(
            sid=kept["sid"],
            user_id=user_id,
            auth_time=kept["auth_time"],
            amr=kept["amr"],
            acr=kept["acr"],
            route={},
            state_version=1,
        )
        sign_out_other_sessions(ACTOR, provider.db().session.get(User, user_id), keep, "test")
    wait_for_deliveries(provider)
    (token,) = receiver.tokens()
    claims = validate_logout_token(provider, token, rp.client_id, set())
    assert claims["sid"] == other["sid"] != kept["sid"] and claims["sub"] == user_id


@pytest.mark.covers("X7", "K3")
def test_X7_password_reset_tells_the_clients(provider, user, receivers):
    user_id, email = user
    receiver = receivers()
    rp = provider.new_client(backchannel_logout_uri=receiver.url)
    rp.login_tokens(Browser(provider.url), email, PASSWORD)
    with provider.app.app_context():
        set_new_password(ACTOR, provider.db().session.get(User, user_id), "Neues-Passwort-2026")
    wait_for_deliveries(provider)
    (token,) = receiver.tokens()
    assert validate_logout_token(provider, token, rp.client_id, set())["sub"] == user_id


@pytest.mark.covers("X7")
def test_X7_a_client_that_is_down_gets_the_token_once_it_is_back(provider, user, receivers, caplog):
    user_id, email = user
    receiver = receivers(start=False)  # down: nothing listens on its port
    rp = provider.new_client(backchannel_logout_uri=receiver.url)
    rp.login_tokens(Browser(provider.url), email, PASSWORD)
    store = extensions.store.of(provider.app)
    with caplog.at_level(logging.INFO), moved_clock(store) as clock:
        with provider.app.app_context():
            sign_out_everywhere(ACTOR, provider.db().session.get(User, user_id))
        wait_for_deliveries(provider)
        (row,) = queued(provider, user_id)
        assert row.attempts == 1 and row.last_error == "ConnectionError"

        receiver.start()
        with provider.app.app_context():
            deliver_due()  # not due yet: the backoff holds
        assert receiver.tokens() == []

        clock.advance(31)
        with provider.app.app_context():
            deliver_due()
        (token,) = receiver.tokens()
        validate_logout_token(provider, token, rp.client_id, set())
    assert queued(provider, user_id) == []
    # Never logged: neither the token nor any signed JWT.
    assert not [r for r in caplog.records if "eyJ" in r.getMessage() or token in r.getMessage()]
    assert any("failed (attempt 1" in r.getMessage() for r in caplog.records)


@pytest.mark.covers("X7")
def test_X7_a_client_that_refuses_the_token_is_not_asked_again(provider, user, receivers):
    user_id, email = user
    receiver = receivers()
    receiver.status = 400  # §2.8: the RP found the token invalid
    rp = provider.new_client(backchannel_logout_uri=receiver.url)
    rp.login_tokens(Browser(provider.url), email, PASSWORD)
    with provider.app.app_context():
        sign_out_everywhere(ACTOR, provider.db().session.get(User, user_id))
    wait_for_deliveries(provider)
    assert len(receiver.tokens()) == 1
    assert queued(provider, user_id) == []
    (event,) = audit_details(provider, user_id, "backchannel_logout_sent")
    assert (event["outcome"], event["reason"], event["error"]) == (
        "refused",
        "rp_refused",
        "HTTP 400",
    )


@pytest.mark.covers("X7")
def test_X7_registration_checks_the_uri(provider):
    with pytest.raises(ProvisioningError, match="absolute"):
        provider.new_client(backchannel_logout_uri="https://rp.example/logout#frag")
    with pytest.raises(ProvisioningError, match="needs a back-channel logout URI"):
        provider.new_client(backchannel_logout_session_required=True)


@pytest.mark.covers("X7")
def test_X7_cli_registers_the_uri_and_delivers(tmp_path):
    env = {
        **os.environ,
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_SECRET_KEY": "cli-test-secret",
        "IDP_ENCRYPTION_KEY": "x2rqoV0T3sD5cQ0nJ6W9lJ2xQe0y2v9cN3m0tWqZ8kE=",
        "IDP_ISSUER": "http://127.0.0.1:9",
    }

    def idp(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "idp.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    idp("init")
    added = idp(
        "clients",
        "add",
        "--name",
        "Storage",
        "--redirect-uri",
        "https://rp.example/cb",
        "--client-id",
        "storage",
        "--backchannel-logout-uri",
        "https://rp.example/backchannel",
        "--backchannel-logout-session-required",
    )
    assert "client_id=storage" in added
    assert idp("backchannel", "deliver").strip() == "delivered=0 pending=0 dropped=0"
    app = create_app({k[4:].lower(): v for k, v in env.items() if k in CLI_SETTINGS})
    with app.app_context():
        client = db.session.get(Client, "storage")
        assert client.backchannel_logout_uri == "https://rp.example/backchannel"
        assert client.backchannel_logout_session_required is True
        db.engine.dispose()


# The demo storage frontend (idp/demo) as the relying party that is told.


@pytest.fixture()
def demo_frontend(provider: Any) -> Iterator[tuple[str, str]]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    rp = provider.new_client(
        redirect_uri=url + "/callback", backchannel_logout_uri=url + "/backchannel-logout"
    )
    app = create_frontend_app(provider.url, rp.client_id, rp.secret, url)
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url, rp.client_id
    server.shutdown()
    thread.join(5)
    server.server_close()


def signed_in_home(session: requests.Session, frontend: str) -> str:
    return session.get(frontend + "/", timeout=TIMEOUT).text


def forged_token(
    provider: Any, client_id: str, subject: str, session: str | None, **change: Any
) -> str:
    """A logout token signed with the provider's own key, then altered as ``change`` says:
    claims to set (``None`` removes one), ``typ`` for the header, ``key`` to sign with."""
    with provider.app.app_context():
        client = provider.db().session.get(Client, client_id)
        claims = logout_token_claims(client, subject, session)
        key = change.pop("key", None) or extensions.keys().signing_key("RS256")
    header = {"alg": "RS256", "kid": key.kid, "typ": change.pop("typ", "logout+jwt")}
    for name, value in change.items():
        if value is None:
            claims.pop(name, None)
        else:
            claims[name] = value
    return jwt.encode(header, claims, KeySet([key]), algorithms=["RS256"])


@pytest.mark.covers("X7", "O1")
def test_X7_demo_frontend_ends_its_session_when_told(provider, demo_frontend):
    frontend, client_id = demo_frontend
    user_id, email = provider.new_user()
    with requests.Session() as session:
        home = _sign_in(session, frontend, email)
        assert f'id="user-email">{email}<' in home.text
        with provider.app.app_context():
            sign_out_everywhere(ACTOR, provider.db().session.get(User, user_id))
        wait_for_deliveries(provider)
        assert 'id="user-email"' not in signed_in_home(session, frontend)
    (event,) = audit_details(provider, user_id, "backchannel_logout_sent")
    assert event["outcome"] == "ok"


FOREIGN_KEY = RSAKey.generate_key(2048, parameters={"kid": "foreign"}, private=True)

INVALID = {
    "wrong_aud": {"aud": "someone-else"},
    "wrong_iss": {"iss": "https://evil.example"},
    "expired": {"exp": 1_000_000_000, "iat": 999_999_900},
    "no_events": {"events": None},
    "other_event": {"events": {"https://schemas.example/other": {}}},
    "nonce": {"nonce": "n-0S6_WzA2Mj"},
    "id_token_typ": {"typ": "JWT"},
    "neither_sub_nor_sid": {"sub": None, "sid": None},
    "no_jti": {"jti": None},
    "foreign_key": {"key": FOREIGN_KEY},
}


@pytest.mark.covers("X7")
@pytest.mark.parametrize("case", sorted(INVALID))
def test_X7_demo_frontend_refuses_an_invalid_logout_token(provider, demo_frontend, case):
    frontend, client_id = demo_frontend
    user_id, email = provider.new_user()
    with requests.Session() as session:
        home = _sign_in(session, frontend, email)
        sid = re.search(
            r'<tr data-claim="sid">.*?class="value"[^>]*>&#34;([^<&]*)&#34;<', home.text
        )
        assert sid, "the ID token carries sid"
        token = forged_token(provider, client_id, user_id, sid.group(1), **dict(INVALID[case]))
        answer = requests.post(
            frontend + "/backchannel-logout", data={"logout_token": token}, timeout=TIMEOUT
        )
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_request"
        assert answer.headers["Cache-Control"] == "no-store"
        assert f'id="user-email">{email}<' in signed_in_home(session, frontend)
        # The same token, valid, ends the session: the case above was refused for its flaw.
        valid = forged_token(provider, client_id, user_id, sid.group(1))
        answer = requests.post(
            frontend + "/backchannel-logout", data={"logout_token": valid}, timeout=TIMEOUT
        )
        assert answer.status_code == 200
        assert 'id="user-email"' not in signed_in_home(session, frontend)
        replayed = requests.post(
            frontend + "/backchannel-logout", data={"logout_token": valid}, timeout=TIMEOUT
        )
        assert replayed.status_code == 400 and "jti" in replayed.json()["error_description"]
