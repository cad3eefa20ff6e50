"""A throw-away provider for the run: ``idp init``, provisioning in one Python process,
``idp serve`` (gunicorn, production settings) on a free port, its log, and cleanup."""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from loginbench.flows import DEFAULT_PASSWORD
from loginbench.flows import REDIRECT_URI
from loginbench.flows import Target
from loginbench.totp import TotpUser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: Run by the server's interpreter with the server's environment; reads the JSON spec from
#: stdin, prints the contract ids and the client's credentials as one JSON line.
PROVISION_SCRIPT = """
import json, sys
from idp.factory import create_app
from idp.actor import Actor
from idp.clients import add_client
from idp.contracts.contract import add_contract
from idp.users.add import add_user

spec = json.load(sys.stdin)
app = create_app()
out = {"contracts": {}}
# Every bench user has the same password: hash it once (a login verifies it at full cost).
hashing = app.extensions["idp.passwords"]
hashed = hashing.hash(spec["password"])
slow_hash = hashing.hash
hashing.hash = lambda password: hashed if password == spec["password"] else slow_hash(password)
with app.app_context():
    for contract in spec["contracts"]:
        if not contract["emails"]:
            continue
        created = add_contract(Actor.cli(), contract["name"], "basic", contract["two_factor"])
        for email in contract["emails"]:
            add_user(Actor.cli(), created.id, email, spec["password"])
        out["contracts"][contract["name"]] = created.id
    # A third-party relying party (consent page), a first-party one (none), a service client.
    for key, trusted in (("client", False), ("trusted_client", True)):
        client, secret = add_client(
            Actor.cli(), f"Bench {key}", [spec["redirect_uri"]], [],
            client_id=spec[key + "_id"], secret=spec["client_secret"], trusted=trusted,
        )
        out[key + "_id"], out[key + "_secret"] = client.client_id, secret
    client, secret = add_client(
        Actor.cli(), "Bench service", [], [], client_id="bench-service",
        secret=spec["client_secret"], grant_types=["client_credentials"],
        contract_id=out["contracts"]["Bench"], scope="admin:read",
    )
    out["service_client_id"], out["service_client_secret"] = client.client_id, secret
print(json.dumps(out))
"""


class LocalServer:
    def __init__(
        self,
        args: argparse.Namespace,
        database_url: str | None = None,
        redis_url: str | None = None,
    ) -> None:
        self.args = args
        self.trusted_client = ("", "")
        self.contract_id = ""
        self.dir = Path(tempfile.mkdtemp(prefix="idp-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.idp = str(Path(sys.executable).with_name("idp"))
        if not Path(self.idp).exists():
            self.idp = shutil.which("idp") or "idp"
        # The interpreter of the environment ``idp`` is installed in (for provisioning).
        python = Path(shutil.which(self.idp) or self.idp).with_name("python")
        self.python = str(python) if python.exists() else sys.executable
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("IDP_") or k.startswith("IDP_ARGON2_")
        }
        env.update(
            IDP_INSTANCE_DIR=str(self.dir / "instance"),
            IDP_KEYS_DIR=str(self.dir / "keys"),
            IDP_ISSUER=self.url,
            IDP_SECRET_KEY=secrets.token_urlsafe(32),
            IDP_ENCRYPTION_KEY=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        )
        if database_url:
            env["IDP_DATABASE_URL"] = database_url
        if redis_url:
            env["IDP_REDIS_URL"] = redis_url
        for setting in args.server_env:
            name, _, value = setting.partition("=")
            env[name] = value
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.dir / "server.log"

    def cli(self, *argv: str) -> str:
        done = subprocess.run(
            [self.idp, *argv], env=self.env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise SystemExit(f"idp {' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def provision(self, users: int, totp_users: int) -> tuple[Target, list[TotpUser]]:
        """``idp init``, then contracts, users and the client in one Python process (the CLI
        would start a whole app per user): ``users`` password users in contract ``Bench``
        and ``totp_users`` in ``Bench 2FA`` (two-step verification on; not yet enrolled)."""
        self.cli("init")
        emails = [f"bench-{n}@example.jp" for n in range(users)]
        totp_emails = [f"bench-2fa-{n}@example.jp" for n in range(totp_users)]
        spec = {
            "contracts": [
                {"name": "Bench", "two_factor": False, "emails": emails},
                {"name": "Bench 2FA", "two_factor": True, "emails": totp_emails},
            ],
            "password": DEFAULT_PASSWORD,
            "redirect_uri": REDIRECT_URI,
            "client_secret": secrets.token_urlsafe(32),
            "client_id": "bench",
            "trusted_client_id": "bench-trusted",
        }
        done = subprocess.run(
            [self.python, "-c", PROVISION_SCRIPT],
            input=json.dumps(spec),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if done.returncode != 0:
            raise SystemExit(f"provisioning failed:\n{done.stdout}{done.stderr}")
        values = json.loads(done.stdout.strip().splitlines()[-1])
        target = Target(
            url=self.url,
            issuer=self.url,
            client_id=values["client_id"],
            client_secret=values["client_secret"],
            redirect_uri=REDIRECT_URI,
            scope=self.args.scope,
            credentials=[(e, DEFAULT_PASSWORD) for e in emails],
            service_client_id=values["service_client_id"],
            service_client_secret=values["service_client_secret"],
        )
        self.trusted_client = (values["trusted_client_id"], values["trusted_client_secret"])
        self.contract_id = values["contracts"]["Bench"]
        return target, [TotpUser(e, DEFAULT_PASSWORD) for e in totp_emails]

    def start(self, workers: int) -> None:
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [
                self.idp,
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                *shlex.split(self.args.serve_args),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"server exited:\n{self.log_tail()}")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    # Every worker imports the app; give the last ones a moment.
                    wait_for_workers(self.process.pid, workers)
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise SystemExit(f"server did not become healthy:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def server_errors(self) -> list[str]:
        """Tracebacks and error lines the server logged (not access-log lines)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        return [
            line
            for line in text.splitlines()
            if (
                "Traceback" in line
                or "Error" in line
                or "[ERROR]" in line
                or "WORKER TIMEOUT" in line
            )
        ][:20]

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def cleanup(self) -> None:
        if not self.args.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def wait_for_workers(pid: int, workers: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return
        if len(children) >= workers:
            time.sleep(1.0)  # workers load the app after forking
            return
        time.sleep(0.2)


def command_seconds(server: LocalServer, argv: list[str], runs: int = 5) -> float:
    """Median wall seconds of ``idp ARGV`` (a new process each time, as an operator runs it)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        server.cli(*argv)
        times.append(time.perf_counter() - started)
    return round(sorted(times)[len(times) // 2], 3)
