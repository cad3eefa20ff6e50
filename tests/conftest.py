"""Test fixtures: the provider served over real HTTP against real services.

``provider`` is parametrized over the backends DESIGN.md names: SQLite with the SQL-backed
ephemeral store, and PostgreSQL with Redis. Each is one app per session; tests make their
own contracts and users with unique emails, so they never see each other's data.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet
from flask import Flask
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server

from idp.actor import Actor
from idp.clients import add_client
from idp.contracts.contract import add_contract
from idp.factory import create_app
from idp.maintenance import init_database
from idp.users.add import add_user
from tests.helpers import RelyingParty

pytest_plugins = ["tests.realservices", "tests.slapd", "tests.redis_ha"]

PASSWORD = "Tsuki-no-Usagi-42"
#: Cheap argon2id for tests; one test checks that the defaults are OWASP's.
TEST_ARGON2 = {"argon2_memory_kib": 1024, "argon2_time_cost": 1, "argon2_parallelism": 1}
BACKENDS = ["sqlite+sqlstore", "postgresql+redis"]
CHROMIUM = "/usr/bin/chromium"
#: Debian's Chromium under Playwright: no sandbox as root, no calls home (closed network).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-gpu",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "backends(*names): run only on these backends")


@pytest.fixture(scope="session", autouse=True)
def _stop_sweepers() -> Iterator[None]:
    """At the session's end, the sweep threads (mail queue, invitation jobs) of the apps the
    tests built and left: their databases are deleted by then, and a sweep would log its
    failure into a closed stream."""
    yield
    from idp.background import Sweeper

    Sweeper.stop_all()


@dataclass
class Provider:
    """A running provider: its app (for direct database checks) and its base URL."""

    app: Flask
    url: str
    backend: str
    tmp: Path

    def new_contract(self, **values: Any) -> str:
        # The product starts a contract with 2FA on (T3, tested in test_contract_life.py);
        # the tests written before T3 mean a contract without it unless they say otherwise.
        values.setdefault("two_factor", False)
        with self.app.app_context():
            return add_contract(Actor.cli(), f"c-{uuid.uuid4().hex[:6]}", **values).id

    def new_user(
        self, contract_id: str | None = None, password: str = PASSWORD, **values: Any
    ) -> tuple[str, str]:
        """A fresh user with a unique email; returns (user id, email)."""
        contract_id = contract_id or self.new_contract()
        email = values.pop("email", None) or f"u-{uuid.uuid4().hex[:10]}@example.jp"
        with self.app.app_context():
            user = add_user(Actor.cli(), contract_id, email, password, **values)
            return user.id, email

    def new_client(self, **values: Any) -> RelyingParty:
        client_id = f"rp-{uuid.uuid4().hex[:8]}"
        redirect_uri = values.pop("redirect_uri", "https://rp.example/callback")
        with self.app.app_context():
            _client, secret = add_client(
                Actor.cli(),
                values.pop("name", "Test RP"),
                [redirect_uri],
                ["https://rp.example/bye"],
                client_id=client_id,
                **{"trusted": True, **values},
            )
        return RelyingParty(self.url, client_id, secret, redirect_uri)

    def close(self) -> None:
        """Release pooled connections so that no socket outlives the session."""
        from idp.models import db

        self.app.extensions["idp.mailer"].wait_idle()
        self.app.extensions["idp.mailer"].stop_worker()
        if "idp.invite_sweeper" in self.app.extensions:
            self.app.extensions["idp.invite_sweeper"].stop()
        self.app.extensions["idp.audit_sealer"].wait_idle()
        with self.app.app_context():
            db.engine.dispose()
        store = self.app.extensions["idp.store"]
        if hasattr(store, "close"):
            store.close()

    def db(self) -> Any:
        from idp.models import db

        return db


def _serve(app: Flask) -> tuple[BaseWSGIServer, threading.Thread]:
    server = make_server("127.0.0.1", app.config["TEST_PORT"], app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


def build_provider(backend: str, tmp: Path, services: dict[str, Any], **overrides: Any) -> Provider:
    from tests.realservices import free_port

    port = free_port()
    config: dict[str, Any] = {
        "issuer": f"http://127.0.0.1:{port}",
        "instance_dir": str(tmp / "instance"),
        "keys_dir": str(tmp / "keys"),
        "secret_key": "test-secret-key-" + uuid.uuid4().hex,
        "encryption_key": Fernet.generate_key().decode(),
        "smtp_url": f"smtp://127.0.0.1:{services['smtp'].port}",
        # Every test signs in from 127.0.0.1: the per-address limit would add up the wrong
        # passwords of unrelated tests. tests/test_security_limits.py runs it on its own node.
        "login_failures_per_ip": 0,
        **TEST_ARGON2,
    }
    if backend.startswith("postgresql"):
        name = "idp_" + uuid.uuid4().hex[:8]
        config["database_url"] = services["postgres"].create_database(name)
    if backend.endswith("redis"):
        config["redis_url"] = services["redis"].url(0)
    config.update(overrides)
    app = create_app(config)
    app.config["TEST_PORT"] = port
    init_database(app)
    return Provider(app, config["issuer"], backend, tmp)


@contextmanager
def served_provider(tmp: Path, smtp_sink: Any, **overrides: Any) -> Iterator[Provider]:
    """A provider of its own (SQLite with the SQL-backed store, mail to ``smtp_sink``, the
    settings ``overrides``) served over real HTTP at its issuer's port until the block ends,
    then stopped and its pools closed: for a module or a test that needs settings the
    session's ``provider`` has not."""
    provider = build_provider("sqlite+sqlstore", tmp, {"smtp": smtp_sink}, **overrides)
    provider.app.config["TEST_PORT"] = urlsplit(provider.url).port
    server, thread = _serve(provider.app)
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()
        provider.close()


@pytest.fixture(scope="session")
def services(request: pytest.FixtureRequest, smtp_sink: Any) -> dict[str, Any]:
    return {
        "smtp": smtp_sink,
        "postgres": request.getfixturevalue("postgres_server"),
        "redis": request.getfixturevalue("redis_server"),
    }


@pytest.fixture(scope="session", params=BACKENDS)
def provider(
    request: pytest.FixtureRequest,
    services: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Provider]:
    backend = request.param
    provider = build_provider(backend, tmp_path_factory.mktemp(backend.replace("+", "-")), services)
    server, thread = _serve(provider.app)
    yield provider
    server.shutdown()
    thread.join(5)
    provider.close()


@pytest.fixture()
def rp(provider: Provider) -> RelyingParty:
    """A trusted, confidential relying party (like the storage frontend)."""
    return provider.new_client()


@pytest.fixture()
def user(provider: Provider) -> tuple[str, str]:
    return provider.new_user()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, driven by Playwright's sync API — one per test process
    (a second sync Playwright in the same process would clash with the first's event loop)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} not found; run: bash scripts/ensure-system-packages.sh", pytrace=False
        )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def cluster(postgres_server: Any, smtp_sink: Any) -> Iterator[Any]:
    """Two ``idp serve`` nodes behind nginx on one PostgreSQL and one Redis (tests/nodes.py),
    one per test module that asks for it."""
    from tests.nodes import start_cluster

    started = start_cluster(postgres_server, smtp_sink)
    try:
        yield started
    finally:
        started.stop()
