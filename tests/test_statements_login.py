"""Issue 13: what a password sign-in with a consent page costs the database and the ephemeral
store, counted per request on SQLite (the SQL store: each store operation is one statement
on its table). These are numbers that must not grow unnoticed: a change that adds a
statement, a store operation or a commit on the hot path fails here and says where.

Counted are the statements the request's own thread runs (SQLAlchemy's
``before_cursor_execute``); the audit sealer runs off the request thread (X8) and is not the
request's cost. Timings are the bench's business (bench/login_bench.py), never a test's."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import event

from idp.actor import Actor
from idp.clients import add_client
from idp.contracts.contract import add_contract
from idp.factory import create_app
from idp.maintenance import init_database
from idp.models import db
from idp.users.add import add_user
from tests.conftest import PASSWORD
from tests.conftest import TEST_ARGON2

ISSUER = "http://127.0.0.1:9"
REDIRECT_URI = "https://rp.example/callback"
STORE_TABLE = "ephemeral"


@dataclass
class Count:
    """What one request ran in its own thread."""

    statements: int = 0
    store: int = 0
    commits: int = 0
    sql: list[str] = field(default_factory=list)

    @property
    def database(self) -> int:
        """Statements on the provider's own tables (not the ephemeral store's)."""
        return self.statements - self.store


class Counter:
    def __init__(self, app: Flask) -> None:
        self.thread = threading.get_ident()
        self.current = Count()
        with app.app_context():
            self.engine = db.engine
        event.listen(self.engine, "before_cursor_execute", self._statement)
        event.listen(self.engine, "commit", self._commit)

    def _mine(self) -> bool:
        return threading.get_ident() == self.thread

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not self._mine():
            return
        self.current.statements += 1
        self.current.sql.append(" ".join(statement.split())[:160])
        if re.search(rf"\b{STORE_TABLE}\b", statement):
            self.current.store += 1

    def _commit(self, _conn: Any) -> None:
        if self._mine():
            self.current.commits += 1
            self.current.sql.append("COMMIT")

    def take(self) -> Count:
        count, self.current = self.current, Count()
        return count

    def close(self) -> None:
        event.remove(self.engine, "before_cursor_execute", self._statement)
        event.remove(self.engine, "commit", self._commit)


@pytest.fixture()
def counter(app: Flask) -> Iterator[Counter]:
    """Counts this test's statements; its listeners go with the test (the app is the
    module's)."""
    counting = Counter(app)
    yield counting
    counting.close()


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    tmp: Path = tmp_path_factory.mktemp("statements-login")
    app = create_app(
        {
            "issuer": ISSUER,
            "instance_dir": str(tmp / "instance"),
            "keys_dir": str(tmp / "keys"),
            "secret_key": "test-secret-key-" + secrets.token_hex(8),
            "encryption_key": Fernet.generate_key().decode(),
            **TEST_ARGON2,
        }
    )
    init_database(app)
    yield app
    app.extensions["idp.audit_sealer"].wait_idle()
    app.extensions["idp.mailer"].wait_idle()
    with app.app_context():
        db.engine.dispose()


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html)
    assert found, f"no {name} in {html[:300]}"
    return found.group(1)


def _login_page(app: Flask) -> tuple[Any, dict[str, str]]:
    """A browser at the password form of an untrusted client's authorization request, and
    the form's hidden fields (``csrf_token``, ``tx``)."""
    with app.app_context():
        client, _secret = add_client(Actor.cli(), "RP", [REDIRECT_URI], [])
    browser = app.test_client()
    r = browser.get(
        "/authorize",
        query_string={
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": "openid",
            "code_challenge": _pkce()[1],
            "code_challenge_method": "S256",
        },
    )
    assert r.status_code == 200 and 'id="password-form"' in r.text, r.text
    return browser, {"csrf_token": _field(r.text, "csrf_token"), "tx": _field(r.text, "tx")}


def _new_user(app: Flask) -> str:
    """A user of a new contract without two-step verification; their email."""
    with app.app_context():
        contract = add_contract(Actor.cli(), "c-" + secrets.token_hex(3), two_factor=False)
        email = f"u-{secrets.token_hex(5)}@example.jp"
        add_user(Actor.cli(), contract.id, email, PASSWORD)
    return email


def _sign_in(
    app: Flask, counter: Counter, *, trusted: bool = False
) -> list[tuple[str, int, Count]]:
    """One whole password sign-in of a new user, at an untrusted client (consent page) or a
    trusted one, as a browser and the client's back channel make it; returns each request's
    counts (the token request's are tests/test_statements_token.py's)."""
    email = _new_user(app)
    with app.app_context():
        client, secret = add_client(Actor.cli(), "RP", [REDIRECT_URI], [], trusted=trusted)
        client_id = client.client_id
    browser = app.test_client()
    steps: list[tuple[str, int, Count]] = []

    def step(name: str, response: Any) -> Any:
        steps.append((name, response.status_code, counter.take()))
        return response

    verifier, challenge = _pkce()
    counter.take()
    r = step(
        "GET /authorize",
        browser.get(
            "/authorize",
            query_string={
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": REDIRECT_URI,
                "scope": "openid profile email",
                "state": "s-1",
                "nonce": "n-1",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        ),
    )
    # The password page in answer to the authorization request (no redirect to /login).
    assert r.status_code == 200 and 'action="/login"' in r.text, r.text
    form = {"csrf_token": _field(r.text, "csrf_token"), "tx": _field(r.text, "tx")}
    r = step(
        "POST /login", browser.post("/login", data={**form, "email": email, "password": PASSWORD})
    )
    if not trusted:
        # The consent page in answer to the password (no redirect to it).
        assert r.status_code == 200 and 'action="/login/consent"' in r.text, r.text
        form = {"csrf_token": _field(r.text, "csrf_token"), "tx": _field(r.text, "tx")}
        r = step(
            "POST /login/consent",
            browser.post("/login/consent", data={**form, "decision": "allow"}),
        )
    location = r.headers["Location"]
    if not location.startswith(REDIRECT_URI):
        r = step("GET /login/finish", browser.get(location))
        location = r.headers["Location"]
    answer = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert location.startswith(REDIRECT_URI + "?") and answer["state"] == "s-1", location
    assert answer["iss"] == ISSUER
    token = app.test_client().post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
    )
    assert token.status_code == 200 and "id_token" in token.get_json()
    return steps


def _counts(steps: list[tuple[str, int, Count]]) -> tuple[dict[str, Any], str]:
    got = {name: (status, c.database, c.store, c.commits) for name, status, c in steps}
    detail = "\n".join(f"{name}: {got[name]} {c.sql}" for name, _status, c in steps)
    return got, detail


def test_O1_password_sign_in_with_consent_counts_statements_store_operations_and_commits(
    app, counter
):
    """Three requests: the authorization request answers with the password page and the
    password POST with the consent page (no redirect to either), and the consent POST
    finishes the sign-in itself (no /login/finish hop); each request's
    store and database writes commit together (one commit per request, two for the password
    POST: its counters must be seen before the hash)."""
    _sign_in(app, counter)  # warm: first requests compile and cache
    got, detail = _counts(_sign_in(app, counter))
    #                      status, database statements, store operations, commits
    assert got == {
        # The tx saved; the password page in the same answer (no GET /login: its tx read).
        "GET /authorize": (200, 1, 1, 1),
        # tx read; address counter up (L2); user + contract in one statement; the failure
        # counter reserved (K1): one commit, before the hash. Then the address counter back,
        # the failures cleared and the tx saved for the consent page: one commit (the SQL
        # store joins the request's transaction, EphemeralStore.transaction). The consent
        # page names the client from the registration cached since /authorize
        # (idp/oidc/client_cache.py).
        "POST /login": (200, 3, 4, 2),
        # tx taken (one pop: the consent form's every answer ends it, so the finish has
        # nothing left to claim); user (a Core statement); SSO record + sid index (one
        # upsert of two rows, SqlStore.set_many); the code; the session row, the login event
        # and the token family: all in one commit.
        "POST /login/consent": (302, 4, 3, 1),
    }, detail


def test_O1_password_sign_in_at_a_trusted_client_answers_the_password_post_with_the_code(
    app, counter
):
    """No consent, no second factor due: the password POST is the last front-channel hop."""
    _sign_in(app, counter, trusted=True)
    got, detail = _counts(_sign_in(app, counter, trusted=True))
    assert got == {
        # The tx saved; the password page in the same answer (no GET /login: its tx read).
        "GET /authorize": (200, 1, 1, 1),
        # One commit before the hash (address counter, K1 reservation), one after it (the
        # SSO record and its sid index in one statement).
        "POST /login": (302, 6, 6, 2),
    }, detail


def test_K1_L2_an_unknown_email_commits_the_address_count_before_the_hash(app, counter):
    """The per-address counter (L2) goes with the request's transaction, but is committed
    before the password is hashed, so that parallel attempts from that address count it
    (and, on SQLite, do not wait for the hash behind the write lock)."""
    browser, form = _login_page(app)
    counter.take()
    email = f"nobody-{secrets.token_hex(4)}@example.jp"
    r = browser.post("/login", data={**form, "email": email, "password": "wrong"})
    assert r.status_code == 401
    sql = counter.take().sql
    # tx read, address counter up, user looked up: committed; then (the hash) the unknown
    # email's own counter and the refusal's audit event.
    user_read = next(i for i, s in enumerate(sql) if s.startswith("SELECT users."))
    assert sql[user_read + 1] == "COMMIT", sql
    assert any(s.startswith("INSERT INTO ephemeral") for s in sql[:user_read]), sql


def test_O1_K1_a_resent_password_form_goes_to_the_consent_page_without_a_second_check(app, counter):
    """The consent page answers the password POST itself, so a reload of it re-sends that
    form: the identify step is achieved, and the step guard sends the browser to the consent
    page without looking at the account (no user read, no counter, no hash)."""
    email = _new_user(app)
    browser, form = _login_page(app)
    posted = {**form, "email": email, "password": PASSWORD}
    r = browser.post("/login", data=posted)
    assert r.status_code == 200 and 'action="/login/consent"' in r.text
    counter.take()
    again = browser.post("/login", data=posted)
    assert again.status_code == 303
    assert urlsplit(again.headers["Location"]).path == "/login/consent"
    assert counter.take().database == 0
    page = browser.get(again.headers["Location"])
    assert page.status_code == 200 and 'action="/login/consent"' in page.text


def test_O1_the_language_switch_of_the_consent_page_shown_after_the_password_keeps_the_sign_in(
    app,
):
    """The consent page answers the password POST, at /login: its language switch names the
    posted transaction, which goes on to the consent page in the language chosen."""
    email = _new_user(app)
    browser, form = _login_page(app)
    r = browser.post("/login", data={**form, "email": email, "password": PASSWORD})
    assert r.status_code == 200 and "アクセスの許可" in r.text
    switch = re.search(r'id="lang-en"[^>]*href="([^"]*)"', r.text)
    assert switch, r.text
    href = switch.group(1).replace("&amp;", "&")
    assert f"tx={form['tx']}" in href
    r = browser.get(href)
    assert r.status_code == 303 and urlsplit(r.headers["Location"]).path == "/login/consent"
    page = browser.get(r.headers["Location"])
    assert page.status_code == 200 and "Allow access" in page.text
    assert 'action="/login/consent"' in page.text
