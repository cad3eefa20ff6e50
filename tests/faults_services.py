"""Services that the fault tests stop and start again on the same port (issue 13, "Faults"):
a private PostgreSQL, Redis and SMTP server for the module (the session's own must keep
serving the other tests), and the provider as a separate process (``idp serve``'s app under
werkzeug) that a test can kill and start again, so that nothing of the old process (a
thread, a pool) survives the restart.

Readiness is polled with a deadline, never slept for."""

from __future__ import annotations

import gc
import json
import os
import resource
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import PASSWORD
from tests.conftest import Provider
from tests.conftest import _serve
from tests.conftest import build_provider
from tests.realservices import PostgresServer
from tests.realservices import RedisServer
from tests.realservices import ServiceError
from tests.realservices import SmtpSink
from tests.realservices import _redis_ping
from tests.realservices import _run
from tests.realservices import free_port

ROOT = Path(__file__).resolve().parent.parent

__all__ = ["PASSWORD", "FaultServices", "NodeProcess", "poll", "provider_on"]


def poll(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Wait until ``check()`` is true, asking every 50 ms; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} not within {timeout}s")


class RestartableRedis(RedisServer):
    """``stop_service`` ends redis-server (the data is gone: no persistence, as after a
    crash); ``start_service`` starts it again on the same port."""

    def stop_service(self) -> None:
        self._terminate()

    def start_service(self) -> None:
        assert self.base_dir is not None
        with (self.base_dir / "redis.log").open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    self.executable,
                    *("--port", str(self.port), "--bind", self.host, "--save", ""),
                    *("--appendonly", "no", "--daemonize", "no", "--dir", str(self.base_dir)),
                ],
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        poll(lambda: _redis_ping(self.port), "redis-server answering PING again")


class RestartablePostgres(PostgresServer):
    """``stop_service`` stops the server (fast shutdown: every connection is cut);
    ``start_service`` starts it again on the same port with the same data."""

    def _pg_ctl(self, *args: str) -> None:
        assert self.base_dir is not None
        _run(
            self._as_server_user([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), *args]),
            cwd=self.base_dir,
            what=f"pg_ctl {args[-1]}",
        )

    def stop_service(self) -> None:
        self._pg_ctl("-m", "fast", "-w", "stop")

    def start_service(self) -> None:
        options = (
            f"-p {self.port} -k {self.data_dir} -c listen_addresses={self.host} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._pg_ctl("-l", str(self.log_file), "-o", options, "-w", "-t", "60", "start")


class RestartableSmtp(SmtpSink):
    """An SMTP sink that starts again on the port it had."""

    def start(self) -> RestartableSmtp:
        if self._controller is not None:
            return self
        port = self.port or free_port()
        from aiosmtpd.controller import Controller

        from tests.realservices import _SinkHandler

        controller = Controller(
            _SinkHandler(self),
            hostname=self.host,
            port=port,
            enable_SMTPUTF8=True,
            ready_timeout=10.0,
        )
        controller.start()
        self.port = port
        self._controller = controller
        return self


class RefusingSmtp:
    """An SMTP server that refuses every recipient for good (550), as for an address that
    does not exist."""

    host = "127.0.0.1"

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        class Refuse:
            async def handle_RCPT(self, *_args: Any, **_kwargs: Any) -> str:
                return "550 5.1.1 No such user"

        self.port = free_port()
        self._controller = Controller(Refuse(), hostname=self.host, port=self.port)
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


class FaultServices:
    """The module's private services, as ``build_provider`` takes them."""

    def __init__(self) -> None:
        self.postgres = RestartablePostgres()
        self.redis = RestartableRedis()
        self.smtp = RestartableSmtp()

    def start(self) -> FaultServices:
        self.postgres.start()
        self.redis.start()
        self.smtp.start()
        return self

    def stop(self) -> None:
        self.smtp.stop()
        self.redis.stop()
        self.postgres.stop()

    def as_dict(self) -> dict[str, Any]:
        return {"postgres": self.postgres, "redis": self.redis, "smtp": self.smtp}


@pytest.fixture(scope="module")
def fault_services() -> Iterator[FaultServices]:
    services = FaultServices()
    try:
        services.start()
    except ServiceError as error:
        services.stop()
        pytest.fail(f"cannot start the fault tests' services: {error}", pytrace=False)
    try:
        yield services
    finally:
        services.stop()
        collect_dead_connections()


def collect_dead_connections() -> None:
    """Connections to a server a test stopped, which the pool dropped when they failed, may
    wait in a reference cycle; collect them here, where their "deleted while open" warning
    says nothing about the test that happens to run when the collector next passes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@pytest.fixture()
def provider_on(fault_services: FaultServices, tmp_path: Path) -> Iterator[Callable[..., Provider]]:
    """Build a provider (PostgreSQL + Redis by default) on the module's services, served in
    this process; each is shut down at the end of the test."""
    started: list[tuple[Provider, Any]] = []

    def build(backend: str = "postgresql+redis", **overrides: Any) -> Provider:
        provider = build_provider(
            backend, tmp_path / f"p{len(started)}", fault_services.as_dict(), **overrides
        )
        server, _thread = _serve(provider.app)
        started.append((provider, server))
        return provider

    yield build
    for provider, server in started:
        server.shutdown()
        provider.close()
    collect_dead_connections()


#: The provider process: the app from IDP_* settings (a JSON object in FAULT_CONFIG), served
#: by werkzeug on FAULT_PORT, until it is killed.
NODE_SCRIPT = """
import json, os
from werkzeug.serving import make_server
from idp.factory import create_app
app = create_app(json.loads(os.environ["FAULT_CONFIG"]))
make_server("127.0.0.1", int(os.environ["FAULT_PORT"]), app, threaded=True).serve_forever()
"""


class NodeProcess:
    """The provider in its own process, on a fixed port, killed and started again by a
    test (nothing of the old process survives: not a thread, not a pooled connection)."""

    def __init__(
        self,
        config: dict[str, Any],
        port: int,
        log_path: Path,
        file_size_limit: int | None = None,
    ) -> None:
        """:param file_size_limit: RLIMIT_FSIZE of the process: no file it writes grows past
        this many bytes (a full disk, without mounting one); its log then goes nowhere."""
        self.config = config
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.file_size_limit = file_size_limit
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def lift_file_size_limit(self) -> None:
        """The disk has room again (prlimit(2) on the running process)."""
        _soft, hard = resource.prlimit(self.pid, resource.RLIMIT_FSIZE)
        resource.prlimit(self.pid, resource.RLIMIT_FSIZE, (hard, hard))

    def _limit(self) -> None:
        assert self.file_size_limit is not None
        # The soft limit only: lifting it again up to the hard one needs no privilege.
        _soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_size_limit, hard))

    def start(self) -> NodeProcess:
        env = {
            **os.environ,
            "FAULT_CONFIG": json.dumps(self.config),
            "FAULT_PORT": str(self.port),
        }
        limited = self.file_size_limit is not None
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [sys.executable, "-c", NODE_SCRIPT],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if limited else log,
                stderr=subprocess.DEVNULL if limited else subprocess.STDOUT,
                preexec_fn=self._limit if limited else None,
            )
        poll(self._ready, f"the provider process on {self.port}", timeout=30)
        return self

    def _ready(self) -> bool:
        assert self._proc is not None
        if self._proc.poll() is not None:
            raise AssertionError(f"the provider process ended:\n{self.log_path.read_text()}")
        try:
            return requests.get(f"{self.url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    def kill(self) -> None:
        """SIGKILL, as a crash or a power cut: no shutdown code runs."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def node_config(provider: Provider, **overrides: Any) -> dict[str, Any]:
    """The settings of ``provider`` (same database, keys, secrets) for a node process."""
    settings = provider.app.extensions["idp.settings"]
    keys = (
        "issuer",
        "instance_dir",
        "keys_dir",
        "secret_key",
        "encryption_key",
        "smtp_url",
        "database_url",
        "redis_url",
        "argon2_memory_kib",
        "argon2_time_cost",
        "argon2_parallelism",
        "login_failures_per_ip",
        "mail_retry_backoff",
        "mail_retry_interval",
    )
    return {key: getattr(settings, key) for key in keys} | overrides


def unique_email() -> str:
    return f"f-{uuid.uuid4().hex[:10]}@example.jp"
