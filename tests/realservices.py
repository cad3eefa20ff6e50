"""Real PostgreSQL, Redis and SMTP servers for the test suite.

The tests run against real services instead of mocks, so that SQL dialect
details, Redis semantics and the exact bytes of outgoing mail (Japanese
subjects, MIME encoding) are exercised as in production.  Nothing needs to be
running beforehand: every server is started on a free local port inside a
private temporary directory, and stopped (and its directory removed) at the
end of the session -- also when tests fail or the run is interrupted, via
``atexit``.

Use it as a pytest plugin from ``conftest.py``::

    pytest_plugins = ["tests.realservices"]

Fixtures:

* ``postgres_server`` (session) -- a :class:`PostgresServer`.
* ``redis_server`` (session) -- a :class:`RedisServer`.
* ``smtp_sink`` (session) -- a :class:`SmtpSink` collecting every mail.
* ``mailbox`` (function) -- the ``smtp_sink``, cleared at test start.

System binaries come from ``scripts/ensure-system-packages.sh`` (Redis) and
the ``postgresql`` Debian package.  A missing binary makes the fixture fail
with an explanation; it never silently skips.
"""

from __future__ import annotations

import atexit
import email.policy
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path

import psycopg
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP
from aiosmtpd.smtp import Envelope
from aiosmtpd.smtp import Session
from psycopg import sql

__all__ = [
    "PostgresServer",
    "ReceivedMail",
    "RedisServer",
    "ServiceError",
    "SmtpSink",
    "free_port",
    "mailbox",
    "postgres_server",
    "redis_server",
    "smtp_sink",
]

LOCALHOST = "127.0.0.1"
ENSURE_SCRIPT = "scripts/ensure-system-packages.sh"


class ServiceError(RuntimeError):
    """A test service could not be found, started or stopped."""


#: Ports handed out by this process, never handed out twice (a stopped service's port may still
#: be wanted by its restart).
_HANDED_OUT: set[int] = set()


#: Where ``free_port`` picks: below the kernel's ephemeral range (32768 and up here) and below
#: the Redis Cluster nodes' ports (tests/redis_ha.py, 20000-30000, their bus ports +10000).
PORTS = (8000, 20000)


def _port_range() -> range:
    """Ports this process picks from: below the kernel's ephemeral range, so that no outgoing
    connection (a client's local port, picked by the kernel from that range) can take a port
    between ``free_port`` and the server's own bind. CI once lost four multi-node tests to
    that ("Address already in use") when ports came from ``bind(0)``, which draws from the same
    range. Each pytest-xdist worker has its own slice, so two workers never pick the same."""
    start, end = PORTS
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = max(1, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1))
    index = int(worker[2:]) if worker.startswith("gw") and worker[2:].isdigit() else 0
    size = (end - start) // count
    return range(start + index * size, start + (index + 1) * size)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now.

    It comes from this process's slice below the ephemeral range (``_port_range``), is checked
    by binding it, and is never handed out twice by this process. Something else on the
    machine could still bind it before the caller does; the servers below retry with a new
    port when startup fails for that reason.
    """
    ports = _port_range()
    for offset in range(len(ports)):
        port = ports[(os.getpid() + len(_HANDED_OUT) + offset) % len(ports)]
        if port in _HANDED_OUT:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((LOCALHOST, port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:  # every port used: the kernel's
        sock.bind((LOCALHOST, 0))
        chosen: int = sock.getsockname()[1]
        return chosen


def _tail(path: Path, lines: int = 30) -> str:
    """Return the last *lines* of a log file, for error messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def _run(cmd: list[str], cwd: Path, what: str) -> None:
    """Run *cmd*, raising :class:`ServiceError` with its output on failure."""
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise ServiceError(
            f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}"
        )


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------


def _find_postgres_bindir() -> Path:
    """Locate the directory holding ``initdb``, ``pg_ctl`` and ``postgres``.

    ``$POSTGRES_BINDIR`` wins; then the newest Debian
    ``/usr/lib/postgresql/<version>/bin``; then ``initdb`` on ``$PATH``.
    """
    candidates: list[Path] = []
    env_dir = os.environ.get("POSTGRES_BINDIR")
    if env_dir:
        candidates.append(Path(env_dir))
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(debian)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for bindir in candidates:
        if all((bindir / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise ServiceError(
        "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found in "
        "$POSTGRES_BINDIR, /usr/lib/postgresql/*/bin or $PATH. Install them "
        "with: apt-get install -y postgresql"
    )


def _world_traversable(path: Path) -> bool:
    """True when every ancestor of *path* is searchable by other users.

    Needed as root: the server runs as ``postgres`` and must reach its data
    directory and socket directory through all parent directories.
    """
    for parent in path.resolve().parents:
        if not parent.stat().st_mode & stat.S_IXOTH:
            return False
    return True


class PostgresServer:
    """A throw-away PostgreSQL cluster in a temporary directory.

    ``initdb`` refuses to run as root, so as root the cluster is created and
    run as the ``postgres`` system user via ``runuser``; otherwise as the
    current user.  The superuser is always ``postgres`` with ``trust`` auth,
    so no password is needed.  Durability is switched off (fsync etc.): the
    data is disposable and startup/commit speed matters more.
    """

    user = "postgres"
    host = LOCALHOST

    def __init__(self, bindir: Path | None = None) -> None:
        self.bindir = bindir or _find_postgres_bindir()
        self.port = 0
        self.base_dir: Path | None = None
        self._started = False
        self._lock = threading.Lock()

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (also holds the socket and log)."""
        if self.base_dir is None:
            raise ServiceError("PostgreSQL server has not been started")
        return self.base_dir / "data"

    @property
    def log_file(self) -> Path:
        """The server log, shown in error messages."""
        return self.data_dir / "server.log"

    def _as_server_user(self, cmd: list[str]) -> list[str]:
        """Prefix *cmd* with ``runuser`` when we are root."""
        if os.geteuid() != 0:
            return cmd
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", self.user, "--", *cmd]

    def _make_base_dir(self) -> Path:
        """Create the private temp dir, owned by the server's user."""
        if os.geteuid() != 0:
            return Path(tempfile.mkdtemp(prefix="test-pg-"))
        try:
            pw = pwd.getpwnam(self.user)
        except KeyError as exc:
            raise ServiceError(
                f"running as root, but there is no '{self.user}' system user to "
                "run PostgreSQL as (install the postgresql package)"
            ) from exc
        parent = Path(tempfile.gettempdir())
        if not _world_traversable(parent / "x"):
            parent = Path("/tmp")
        base = Path(tempfile.mkdtemp(prefix="test-pg-", dir=parent))
        if not _world_traversable(base):
            shutil.rmtree(base, ignore_errors=True)
            raise ServiceError(
                f"{base} is not reachable by user '{self.user}' (a parent directory lacks o+x)"
            )
        os.chown(base, pw.pw_uid, pw.pw_gid)
        return base

    def start(self) -> PostgresServer:
        """Create the cluster, start the server and wait until it accepts."""
        with self._lock:
            if self._started:
                return self
            atexit.register(self.stop)
            try:
                self.base_dir = self._make_base_dir()
                _run(
                    self._as_server_user(
                        [
                            str(self.bindir / "initdb"),
                            "-D",
                            str(self.data_dir),
                            "-U",
                            self.user,
                            "--auth=trust",
                            "--encoding=UTF8",
                            "--locale=C",
                            "--no-sync",
                        ]
                    ),
                    cwd=self.base_dir,
                    what="initdb",
                )
                self._start_on_free_port()
            except BaseException:
                self._cleanup()
                raise
            self._started = True
            return self

    def _start_on_free_port(self, attempts: int = 3) -> None:
        """Run ``pg_ctl start``; retry with a new port if it was taken."""
        assert self.base_dir is not None
        error: ServiceError | None = None
        for _ in range(attempts):
            self.port = free_port()
            options = " ".join(
                [
                    f"-p {self.port}",
                    f"-k {self.data_dir}",
                    f"-c listen_addresses={self.host}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=100",
                ]
            )
            try:
                _run(
                    self._as_server_user(
                        [
                            str(self.bindir / "pg_ctl"),
                            "-D",
                            str(self.data_dir),
                            "-l",
                            str(self.log_file),
                            "-o",
                            options,
                            "-w",
                            "-t",
                            "60",
                            "start",
                        ]
                    ),
                    cwd=self.base_dir,
                    what="pg_ctl start",
                )
            except ServiceError as exc:
                error = ServiceError(f"{exc}\n--- server log ---\n{_tail(self.log_file)}")
                if "already in use" not in _tail(self.log_file):
                    raise error from exc
                continue
            return
        assert error is not None
        raise error

    def stop(self) -> None:
        """Stop the server and delete its directory.  Safe to call twice."""
        with self._lock:
            self._started = False
            self._cleanup()

    def _cleanup(self) -> None:
        """Stop the postmaster (fast, then by signal) and remove the dir."""
        if self.base_dir is None:
            return
        pid_file = self.data_dir / "postmaster.pid"
        if pid_file.exists():
            try:
                _run(
                    self._as_server_user(
                        [
                            str(self.bindir / "pg_ctl"),
                            "-D",
                            str(self.data_dir),
                            "-m",
                            "immediate",
                            "-w",
                            "stop",
                        ]
                    ),
                    cwd=self.base_dir,
                    what="pg_ctl stop",
                )
            except ServiceError:
                self._kill_postmaster(pid_file)
        shutil.rmtree(self.base_dir, ignore_errors=True)
        self.base_dir = None

    @staticmethod
    def _kill_postmaster(pid_file: Path) -> None:
        """Last resort when ``pg_ctl stop`` failed: SIGQUIT the postmaster."""
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            os.kill(pid, signal.SIGQUIT)
        except (OSError, ValueError, IndexError):
            return

    def url(self, dbname: str = "postgres") -> str:
        """SQLAlchemy URL (psycopg 3 driver) for database *dbname*."""
        return f"postgresql+psycopg://{self.user}@{self.host}:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """libpq connection string for psycopg / psql."""
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def _admin_execute(self, query: sql.Composed) -> None:
        """Run *query* on the ``postgres`` DB in autocommit mode.

        CREATE/DROP DATABASE cannot run inside a transaction.
        """
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(query)

    def create_database(self, name: str) -> str:
        """Create database *name* and return its SQLAlchemy URL."""
        self._admin_execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database *name*, disconnecting any leftover sessions."""
        self._admin_execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


# --------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------


def _find_redis_server() -> str:
    """Path of the ``redis-server`` binary, or a :class:`ServiceError`."""
    found = shutil.which("redis-server")
    if found:
        return found
    for path in ("/usr/bin/redis-server", "/usr/sbin/redis-server"):
        if os.access(path, os.X_OK):
            return path
    raise ServiceError(
        f"redis-server not found. Run {ENSURE_SCRIPT} (the Makefile does this "
        "before the tests) or: apt-get install -y redis-server"
    )


def _redis_ping(port: int) -> bool:
    """True when a Redis server on *port* answers PING with PONG."""
    try:
        with socket.create_connection((LOCALHOST, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A private ``redis-server`` subprocess without persistence."""

    host = LOCALHOST

    def __init__(self, executable: str | None = None) -> None:
        self.executable = executable or _find_redis_server()
        self.port = 0
        self.base_dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    @property
    def log_file(self) -> Path:
        """The server's stdout/stderr, shown in error messages."""
        if self.base_dir is None:
            raise ServiceError("Redis server has not been started")
        return self.base_dir / "redis.log"

    def start(self, timeout: float = 15.0, attempts: int = 3) -> RedisServer:
        """Start the server and wait until it answers PING."""
        with self._lock:
            if self._proc is not None:
                return self
            atexit.register(self.stop)
            self.base_dir = Path(tempfile.mkdtemp(prefix="test-redis-"))
            try:
                for attempt in range(1, attempts + 1):
                    if self._try_start(timeout):
                        break
                    port_taken = "Address already in use" in _tail(self.log_file)
                    if attempt == attempts or not port_taken:
                        raise ServiceError(
                            f"redis-server did not start on port {self.port}:\n"
                            f"{_tail(self.log_file)}"
                        )
            except BaseException:
                self._cleanup()
                raise
            return self

    def _try_start(self, timeout: float) -> bool:
        """Launch once on a fresh port; False if the process died early."""
        assert self.base_dir is not None
        self.port = free_port()
        with self.log_file.open("wb") as log:
            self._proc = subprocess.Popen(
                [
                    self.executable,
                    "--port",
                    str(self.port),
                    "--bind",
                    self.host,
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--daemonize",
                    "no",
                    "--dir",
                    str(self.base_dir),
                ],
                cwd=self.base_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self._proc = None
                return False
            if _redis_ping(self.port):
                return True
            time.sleep(0.05)
        self._terminate()
        raise ServiceError(f"redis-server did not answer PING within {timeout}s")

    def _terminate(self) -> None:
        """Stop the subprocess: SIGTERM, then SIGKILL after 10 s."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _cleanup(self) -> None:
        """Stop the process and delete the temp dir."""
        self._terminate()
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def stop(self) -> None:
        """Stop the server and delete its directory.  Safe to call twice."""
        with self._lock:
            self._cleanup()

    def url(self, db: int = 0) -> str:
        """``redis://`` URL for logical database *db*."""
        return f"redis://{self.host}:{self.port}/{db}"


# --------------------------------------------------------------------------
# SMTP
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ReceivedMail:
    """One delivered mail: the parsed message plus its SMTP envelope."""

    message: EmailMessage
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes


_URL_RE = re.compile(r"https?://[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+")
_URL_TRAILING = ".,;:!?'\")]"


class _SinkHandler:
    """aiosmtpd handler that hands every DATA payload to the sink."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message; always accept it."""
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        self._sink._deliver(
            raw=raw,
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
        )
        return "250 Message accepted for delivery"


class SmtpSink:
    """A real SMTP server on 127.0.0.1 that keeps every mail it receives.

    Messages are parsed with :data:`email.policy.default`, so headers such as
    ``=?UTF-8?B?...?=`` Japanese subjects come back as decoded ``str`` and
    bodies in base64/quoted-printable decode via :meth:`text_of`.  All
    methods are thread-safe: aiosmtpd delivers on its own thread while tests
    read from the main one.
    """

    host = LOCALHOST

    def __init__(self) -> None:
        self.port = 0
        self._received: list[ReceivedMail] = []
        self._cond = threading.Condition()
        self._controller: Controller | None = None

    def start(self) -> SmtpSink:
        """Start listening on a free port."""
        if self._controller is not None:
            return self
        self.port = free_port()
        controller = Controller(
            _SinkHandler(self),
            hostname=self.host,
            port=self.port,
            enable_SMTPUTF8=True,
            ready_timeout=10.0,
        )
        controller.start()
        self._controller = controller
        atexit.register(self.stop)
        return self

    def stop(self) -> None:
        """Stop the server.  Safe to call twice."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def _deliver(self, raw: bytes, mail_from: str, rcpt_tos: tuple[str, ...]) -> None:
        """Parse and store one message (called on the SMTP thread)."""
        message = BytesParser(_class=EmailMessage, policy=email.policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        item = ReceivedMail(message=message, mail_from=mail_from, rcpt_tos=rcpt_tos, raw=raw)
        with self._cond:
            self._received.append(item)
            self._cond.notify_all()

    @property
    def messages(self) -> list[EmailMessage]:
        """Copy of all received messages, oldest first."""
        with self._cond:
            return [item.message for item in self._received]

    @property
    def received(self) -> list[ReceivedMail]:
        """Copy of all received mails with their envelopes, oldest first."""
        with self._cond:
            return list(self._received)

    def envelope_of(self, msg: EmailMessage) -> ReceivedMail:
        """The :class:`ReceivedMail` (envelope) of a message from this sink."""
        with self._cond:
            for item in self._received:
                if item.message is msg:
                    return item
        raise KeyError("message was not received by this sink (or was cleared)")

    def clear(self) -> None:
        """Forget all received messages."""
        with self._cond:
            self._received.clear()

    @staticmethod
    def _recipients(item: ReceivedMail) -> set[str]:
        """Lower-cased envelope recipients plus To/Cc header addresses."""
        headers = [str(v) for key in ("To", "Cc") for v in item.message.get_all(key, [])]
        addresses = {addr for _, addr in getaddresses(headers) if addr}
        addresses.update(item.rcpt_tos)
        return {addr.lower() for addr in addresses}

    def _matches(
        self,
        item: ReceivedMail,
        predicate: Callable[[EmailMessage], bool] | None,
        to: str | None,
        subject_contains: str | None,
    ) -> bool:
        """Whether *item* satisfies every given filter."""
        if to is not None and to.lower() not in self._recipients(item):
            return False
        if subject_contains is not None and subject_contains not in str(
            item.message.get("Subject", "")
        ):
            return False
        return predicate is None or predicate(item.message)

    def wait_for(
        self,
        predicate: Callable[[EmailMessage], bool] | None = None,
        to: str | None = None,
        subject_contains: str | None = None,
        timeout: float = 10.0,
    ) -> EmailMessage:
        """Wait until a matching message has arrived and return it.

        All given filters must match: *to* is compared case-insensitively
        with the envelope recipients and To/Cc addresses, *subject_contains*
        is a substring of the decoded subject.  Messages received before the
        call count too.  If several match, the most recent is returned.

        Raises AssertionError listing the received mails on timeout.
        """
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for item in reversed(self._received):
                    if self._matches(item, predicate, to, subject_contains):
                        return item.message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(timeout=min(remaining, 0.1))
            count = len(self._received)
            listing = "\n".join(
                f"  - to={list(item.rcpt_tos)} subject={item.message.get('Subject', '')!r}"
                for item in self._received
            )
        wanted = ", ".join(
            f"{name}={value!r}"
            for name, value in (
                ("predicate", predicate),
                ("to", to),
                ("subject_contains", subject_contains),
            )
            if value is not None
        )
        raise AssertionError(
            f"no mail matching {wanted or 'anything'} within {timeout}s; "
            f"received {count}:\n{listing or '  (none)'}"
        )

    @staticmethod
    def text_of(msg: EmailMessage) -> str:
        """The decoded text/plain body (charset and transfer encoding undone)."""
        part = msg.get_body(preferencelist=("plain",))
        if part is None:
            raise AssertionError(f"mail {msg.get('Subject', '')!r} has no text/plain part")
        assert isinstance(part, EmailMessage)
        content = part.get_content()
        if not isinstance(content, str):
            raise AssertionError(f"text/plain part of {msg.get('Subject', '')!r} is not text")
        return content

    @classmethod
    def links_in(cls, msg: EmailMessage) -> list[str]:
        """http(s) URLs in the text/plain body, in order, without duplicates.

        Only ASCII URL characters are taken, so Japanese text directly after
        a link (``...token=abc。``) is not swallowed; trailing punctuation is
        stripped.
        """
        links: list[str] = []
        for match in _URL_RE.finditer(cls.text_of(msg)):
            url = match.group(0).rstrip(_URL_TRAILING)
            if url not in links:
                links.append(url)
        return links


# --------------------------------------------------------------------------
# pytest fixtures
# --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (superuser ``postgres``)."""
    try:
        server = PostgresServer().start()
    except ServiceError as exc:
        pytest.fail(f"cannot start PostgreSQL for the tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis server for the whole session."""
    try:
        server = RedisServer().start()
    except ServiceError as exc:
        pytest.fail(f"cannot start Redis for the tests: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server collecting all mail for the whole session."""
    sink = SmtpSink().start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture()
def mailbox(smtp_sink: SmtpSink) -> SmtpSink:
    """The session's :class:`SmtpSink`, emptied at the start of the test."""
    smtp_sink.clear()
    return smtp_sink
