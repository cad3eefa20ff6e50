"""Several ``idp serve`` nodes behind nginx, sharing one PostgreSQL and one Redis (DESIGN.md
"Scale"; issue 13, "Several nodes").

:func:`start_cluster` creates a fresh database on the session's PostgreSQL, runs ``idp init``
(migrations and the signing keys) as an operator would, then starts N gunicorn nodes with the
same ``IDP_*`` settings and keys folder (each with its own instance folder: nodes share no
disk but the keys) and Debian's nginx with ``deploy/nginx/idp.conf`` in front of them. SMS go
to one local stand-in of the Twilio API, mails to the session's SMTP server.

Tests choose the node of every request: :meth:`Cluster.browser` and :meth:`Cluster.rp` route
each HTTP request to a node as tests/node_routing.py says (A, B, A, … or pinned), with the
headers nginx would add; ``Cluster.public_browser`` goes through nginx itself.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from cryptography.fernet import Fernet

from idp.factory import create_app
from tests.conftest import TEST_ARGON2
from tests.conftest import Provider
from tests.helpers import Browser
from tests.node_routing import NodeBrowser
from tests.node_routing import NodeRelyingParty
from tests.realservices import PostgresServer
from tests.realservices import RedisServer
from tests.realservices import ServiceError
from tests.realservices import SmtpSink
from tests.realservices import free_port
from tests.sms_standins import TwilioStandIn

ROOT = Path(__file__).resolve().parent.parent
NGINX_CONF = ROOT / "deploy" / "nginx" / "idp.conf"
NGINX = "/usr/sbin/nginx"
SMS_FROM = "+15005550006"
#: Failed password sign-ins per client address (K1's per-address limit), kept low so that a
#: test can reach it; each test browser has its own address.
FAILURES_PER_ADDRESS = 20


def _wait(what: str, ready: Callable[[], bool], alive: Callable[[], bool], log: Path) -> None:
    """Readiness, not a clock: poll ``ready`` until it holds, the process dies or 60 s pass."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not alive():
            raise ServiceError(f"{what} exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if ready():
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise ServiceError(f"{what} did not become ready:\n{log.read_text(errors='replace')[-3000:]}")


@dataclass
class Node:
    """One ``idp serve`` (a gunicorn master and its worker, in their own process group)."""

    name: str
    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> Node:
        # Its own process group (so that kill() takes the worker too): the terminal's Ctrl-C
        # no longer reaches it, so stop it at exit if the fixture's teardown never ran.
        atexit.register(self.stop)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "idp.cli", "serve", "--host", "127.0.0.1"]
                + ["--port", str(self.port), "--workers", "1"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        return self

    def wait_ready(self) -> None:
        _wait(
            f"node {self.name}",
            lambda: requests.get(self.url + "/healthz", timeout=2).status_code == 200,
            self.alive,
            self.log,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL to the master and its workers at once: a machine that died, not a shutdown."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(10)

    def stop(self) -> None:
        if not self.alive():
            return
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.kill()

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


class Nginx:
    """Debian's nginx running ``deploy/nginx/idp.conf`` from a private prefix folder."""

    def __init__(self, prefix: Path, nodes: list[Node]) -> None:
        self.prefix = prefix
        self.port = free_port()
        self.nodes = nodes
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def access_log(self) -> Path:
        return self.prefix / "access.log"

    @property
    def error_log(self) -> Path:
        return self.prefix / "error.log"

    def render(self) -> str:
        """The repository's file with only its marked lines replaced: the nodes, the port and
        the access log's path."""
        text = NGINX_CONF.read_text()
        node_line = re.compile(r"^(\s*)server \S+ (.*);\s*# node:.*\n", re.M)
        first = node_line.search(text)
        assert first is not None, "no '# node:' line in deploy/nginx/idp.conf"
        indent, options = first.group(1), first.group(2)
        servers = "".join(f"{indent}server {n.address} {options};\n" for n in self.nodes)
        text = node_line.sub("", text)
        text = text[: first.start()] + servers + text[first.start() :]
        text, listens = re.subn(r"listen \d+;", f"listen 127.0.0.1:{self.port};", text)
        assert listens == 1, "no 'listen' line in deploy/nginx/idp.conf"
        return text.replace("/var/log/nginx/idp-access.log", str(self.access_log))

    def start(self) -> Nginx:
        if not os.access(NGINX, os.X_OK):
            raise ServiceError(f"{NGINX} not found: apt-get install -y nginx-light (or nginx)")
        # As root, nginx's workers run as an unprivileged user: they must reach the prefix.
        self.prefix.chmod(0o755)
        (self.prefix / "idp.conf").write_text(self.render())
        temp = self.prefix / "temp"
        (self.prefix / "nginx.conf").write_text(
            f"pid {self.prefix}/nginx.pid;\n"
            f"error_log {self.error_log} info;\n"
            "worker_processes 1;\n"
            "events { worker_connections 256; }\n"
            "http {\n"
            f"    client_body_temp_path {temp}/body;\n"
            f"    proxy_temp_path {temp}/proxy;\n"
            f"    fastcgi_temp_path {temp}/fastcgi;\n"
            f"    uwsgi_temp_path {temp}/uwsgi;\n"
            f"    scgi_temp_path {temp}/scgi;\n"
            f"    access_log {self.prefix}/other-access.log;\n"
            f"    include {self.prefix}/idp.conf;\n"
            "}\n"
        )
        temp.mkdir()
        command = [NGINX, "-p", str(self.prefix), "-e", str(self.error_log)]
        command += ["-c", str(self.prefix / "nginx.conf"), "-g", "daemon off;"]
        atexit.register(self.stop)
        self.process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
        )
        _wait(
            "nginx",
            lambda: requests.get(self.url + "/healthz", timeout=2).status_code == 200,
            lambda: self.process is not None and self.process.poll() is None,
            self.error_log,
        )
        return self

    def _workers(self) -> set[int]:
        assert self.process is not None
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return {int(child) for child in children}

    def reload(self) -> None:
        """Forget which nodes failed, as an operator's ``nginx -s reload``: new workers, and
        the old ones gone (until they are, they still accept connections and remember)."""
        assert self.process is not None
        old = self._workers()
        self.process.send_signal(signal.SIGHUP)
        _wait(
            "nginx's reload",
            lambda: bool(self._workers()) and not self._workers() & old,
            lambda: self.process is not None and self.process.poll() is None,
            self.error_log,
        )

    def wait_serving(self, node: Node) -> None:
        """Poll through nginx until ``node`` answers one of its requests (after a reload, the
        old worker may still serve a while and remember the node as failed)."""

        def reached() -> bool:
            response = requests.get(self.url + "/healthz", timeout=2)
            request_id = response.headers.get("X-Request-ID", "")
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                for line in reversed(self.log_lines()):
                    if f"rid={request_id} " in line:
                        return f"node={node.address} " in line
                time.sleep(0.02)  # nginx logs after it answered
            return False

        _wait(f"nginx to reach node {node.name}", reached, lambda: True, self.error_log)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def log_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []


@dataclass
class Cluster:
    """N nodes, nginx in front, and an app in the test process on the same database and store
    (``provider``: for provisioning and for reading rows, as the other tests do)."""

    provider: Provider
    nodes: list[Node]
    nginx: Nginx
    sms: TwilioStandIn
    mailbox: SmtpSink
    redis: RedisServer
    database: str
    postgres: PostgresServer
    tmp: Path

    @property
    def url(self) -> str:
        """The issuer: nginx's address."""
        return self.nginx.url

    def browser(self) -> NodeBrowser:
        return NodeBrowser(self.url, self.nodes)

    def public_browser(self) -> Browser:
        """A browser that goes through nginx (round-robin, nginx's own headers)."""
        return Browser(self.url)

    def rp(self, **values: Any) -> NodeRelyingParty:
        plain = self.provider.new_client(**values)
        return NodeRelyingParty(
            self.nodes, plain.issuer, plain.client_id, plain.secret, plain.redirect_uri
        )

    def sms_code(self, to: str) -> str:
        """The code of the newest SMS the gateway took for ``to``."""
        for message in reversed(self.sms.received):
            if message["form"]["To"] == to:
                match = re.search(r"\b(\d{6})\b", message["form"]["Body"])
                assert match, message
                return match.group(1)
        raise AssertionError(f"no SMS to {to}")

    def restart(self, node: Node) -> None:
        """Start a stopped or killed node again, and let nginx try it again at once."""
        node.start().wait_ready()
        self.nginx.reload()
        self.nginx.wait_serving(node)

    def stop(self) -> None:
        self.nginx.stop()
        for node in self.nodes:
            node.stop()
        self.provider.close()
        self.sms.stop()
        self.redis.stop()
        try:
            self.postgres.drop_database(self.database)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)


def start_cluster(postgres: PostgresServer, mailbox: SmtpSink, nodes: int = 2) -> Cluster:
    """Start everything (about 3 s: the nodes start in parallel)."""
    tmp = Path(tempfile.mkdtemp(prefix="test-nodes-"))
    redis = RedisServer().start()
    sms = TwilioStandIn()
    database = "idp_nodes_" + uuid.uuid4().hex[:8]
    database_url = postgres.create_database(database)
    nginx = Nginx(tmp / "nginx", [])
    nginx.prefix.mkdir()
    settings: dict[str, str] = {
        "issuer": nginx.url,
        "database_url": database_url,
        "redis_url": redis.url(0),
        "smtp_url": f"smtp://127.0.0.1:{mailbox.port}",
        "keys_dir": str(tmp / "keys"),
        "secret_key": "nodes-secret-" + uuid.uuid4().hex,
        "encryption_key": Fernet.generate_key().decode(),
        "trusted_proxies": "1",
        "login_failures_per_ip": str(FAILURES_PER_ADDRESS),
        # A CSV invitation job whose node stopped is taken over after 2 s, not a minute.
        "invite_job_lease": "2",
        **{name: str(value) for name, value in TEST_ARGON2.items()},
    }
    sms_settings = {
        "provider": "twilio",
        "twilio_account_sid": sms.account_sid,
        "twilio_auth_token": sms.auth_token,
        "twilio_from": SMS_FROM,
        "twilio_base_url": sms.url,
    }
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    base_env.update({f"IDP_{name.upper()}": value for name, value in settings.items()})
    base_env.update({f"IDP_SMS_{name.upper()}": value for name, value in sms_settings.items()})

    def node_env(name: str) -> dict[str, str]:
        instance = tmp / name
        (instance / "metrics").mkdir(parents=True)
        return {
            **base_env,
            "IDP_INSTANCE_DIR": str(instance),
            "PROMETHEUS_MULTIPROC_DIR": str(instance / "metrics"),
        }

    # The operator's step before the nodes start: schema and signing keys, once.
    init = subprocess.run(
        [sys.executable, "-m", "idp.cli", "init"],
        env=node_env("init"),
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        raise ServiceError(f"idp init failed:\n{init.stdout}{init.stderr}")
    started = [
        Node(name, free_port(), node_env(name), tmp / f"{name}.log").start()
        for name in ("A", "B", "C", "D")[:nodes]
    ]
    cluster: Cluster | None = None
    try:
        for node in started:
            node.wait_ready()
        nginx.nodes = started
        nginx.start()
        config: dict[str, Any] = {**settings, "instance_dir": str(tmp / "tests")}
        config.update({k: int(v) for k, v in config.items() if v.isdigit()})
        config["sms"] = sms_settings
        app = create_app(config, views=False)
        provider = Provider(app, nginx.url, "postgresql+redis", tmp)
        cluster = Cluster(provider, started, nginx, sms, mailbox, redis, database, postgres, tmp)
        return cluster
    finally:
        if cluster is None:
            nginx.stop()
            for node in started:
                node.stop()
            sms.stop()
            redis.stop()
            postgres.drop_database(database)
            shutil.rmtree(tmp, ignore_errors=True)
