"""Load benchmark of the provider's whole flows, beside the argon2id ceiling.

Measures, against a provider running under gunicorn with production settings:

1. ``login``: full password logins (authorization code + PKCE S256), each in its own cookie
   jar: GET /authorize -> GET /login -> POST /login -> GET /login/finish -> POST /token;
2. ``refresh``: refresh-token grants with rotation, one chain per client thread;
3. ``argon2``: bare argon2id hashes per second per core with the server's parameters
   (one process per core), the ceiling a password login cannot beat.

Without ``--url`` it provisions a throw-away instance (SQLite by default), starts
``idp serve`` on a free port, measures, and stops it. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import itertools
import json
import multiprocessing
import os
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import requests

TIMEOUT = 30
WARMUP_SECONDS = 2.0
DEFAULT_PASSWORD = "Bench-Pass-42x"
REDIRECT_URI = "https://bench.example/cb"
MAX_ERROR_SAMPLES = 5
CAVEAT = (
    "The load generator runs on the same machine as the server and takes CPU from it "
    "(see client_cpu_cores); per-core figures are therefore pessimistic for the server."
)

FORM_RE = re.compile(r'<form\b[^>]*\bid="password-form"[^>]*>(.*?)</form>', re.S)
HIDDEN_RE = {
    name: re.compile(r'<input\b[^>]*\bname="' + name + r'"[^>]*\bvalue="([^"]*)"')
    for name in ("csrf_token", "tx")
}


class FlowError(Exception):
    """An unexpected answer at one step of a flow."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step


ERROR_TEXT_RE = re.compile(r'<(?:p|div)\b[^>]*\bclass="error"[^>]*>(.*?)</', re.S)
TITLE_RE = re.compile(r"<title>(.*?)</title>", re.S)
TAG_RE = re.compile(r"<[^>]+>")


def unexpected(step: str, response: requests.Response) -> FlowError:
    """The step, status, Location and the gist of the body (an HTML page's error text)."""
    text = response.text
    if "html" in response.headers.get("Content-Type", ""):
        found = ERROR_TEXT_RE.search(text)
        title = TITLE_RE.search(text)
        main = text.split("<main", 1)[-1].split(">", 1)[-1] if "<main" in text else text
        gist = found.group(1) if found else TAG_RE.sub(" ", main)
        text = f"[{title.group(1) if title else 'html'}] {html.unescape(gist)}"
    body = " ".join(text.split())[:400]
    location = response.headers.get("Location")
    where = f" Location={location}" if location else ""
    return FlowError(step, f"HTTP {response.status_code}{where} {body}")


# --- machine and CPU accounting ----------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_busy_seconds() -> float | None:
    """Busy CPU seconds of the whole machine, summed over its cores (/proc/stat)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    guest = sum(values[8:10])  # already counted in user and nice
    return (sum(values) - idle - guest) / os.sysconf("SC_CLK_TCK")


def background_cpu_cores(seconds: float = 1.0) -> float | None:
    """Cores busy on this machine before the benchmark starts anything (noise check)."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    after = machine_busy_seconds()
    return None if before is None or after is None else round((after - before) / seconds, 2)


def process_tree_cpu_seconds(pid: int) -> float | None:
    """utime+stime of ``pid`` and its direct children (gunicorn master and workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            pids.extend(int(c) for c in children)
    except OSError:
        return None
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / ticks


# --- the flows ---------------------------------------------------------------------------


@dataclass
class Target:
    url: str
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scope: str
    credentials: list[tuple[str, str]]
    _next_user: itertools.count[int] = field(default_factory=itertools.count)

    def next_credentials(self) -> tuple[str, str]:
        # itertools.count's __next__ is atomic under the GIL.
        return self.credentials[next(self._next_user) % len(self.credentials)]


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (the benchmark checks nonce/iss only)."""
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return claims


def full_login(target: Target, backchannel: requests.Session, scope: str) -> dict[str, Any]:
    """One whole password login in a fresh cookie jar; returns the token response."""
    email, password = target.next_credentials()
    verifier, challenge = pkce_pair()
    state = secrets.token_urlsafe(16)
    nonce = secrets.token_urlsafe(16)
    with requests.Session() as browser:
        r = browser.get(
            target.url + "/authorize",
            params={
                "response_type": "code",
                "client_id": target.client_id,
                "redirect_uri": target.redirect_uri,
                "scope": scope,
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        if r.status_code != 303 or "/login?" not in r.headers.get("Location", ""):
            raise unexpected("GET /authorize", r)

        r = browser.get(
            urljoin(r.url, r.headers["Location"]), allow_redirects=False, timeout=TIMEOUT
        )
        form = FORM_RE.search(r.text) if r.status_code == 200 else None
        if form is None:
            raise unexpected("GET /login", r)
        fields = {}
        for name, pattern in HIDDEN_RE.items():
            match = pattern.search(form.group(1))
            if match is None:
                raise FlowError("GET /login", f"no hidden input {name} in #password-form")
            fields[name] = html.unescape(match.group(1))

        r = browser.post(
            target.url + "/login",
            data={**fields, "email": email, "password": password},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        if r.status_code != 303 or "/login/finish?" not in r.headers.get("Location", ""):
            raise unexpected("POST /login", r)

        r = browser.get(
            urljoin(r.url, r.headers["Location"]), allow_redirects=False, timeout=TIMEOUT
        )
        location = r.headers.get("Location", "")
        if r.status_code != 302 or not location.startswith(target.redirect_uri + "?"):
            raise unexpected("GET /login/finish", r)
        answer = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if (
            answer.get("state") != state
            or answer.get("iss") != target.issuer
            or not answer.get("code")
        ):
            raise FlowError("GET /login/finish", f"bad redirect {location}")

    r = backchannel.post(
        target.url + "/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": target.redirect_uri,
            "code_verifier": verifier,
        },
        auth=(target.client_id, target.client_secret),
        timeout=TIMEOUT,
    )
    token = r.json() if r.status_code == 200 else {}
    if "id_token" not in token:
        raise unexpected("POST /token (code)", r)
    claims = jwt_claims(token["id_token"])
    if claims.get("nonce") != nonce or claims.get("iss") != target.issuer:
        raise FlowError("POST /token (code)", f"bad id_token claims {claims}")
    return token


class LoginWorker:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.backchannel = requests.Session()

    def setup(self) -> None:
        pass

    def run_once(self) -> None:
        full_login(self.target, self.backchannel, self.target.scope)


class RefreshWorker:
    """One rotating refresh-token chain, seeded by a login that asked for offline_access."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.backchannel = requests.Session()
        self.refresh_token = ""

    def setup(self) -> None:
        scope = self.target.scope
        if "offline_access" not in scope.split():
            scope += " offline_access"
        token = full_login(self.target, self.backchannel, scope)
        if not token.get("refresh_token"):
            raise FlowError("seed login", f"no refresh_token in {sorted(token)}")
        self.refresh_token = token["refresh_token"]

    def run_once(self) -> None:
        if not self.refresh_token:
            self.setup()  # the chain broke on an earlier error: start a new one
        sent, self.refresh_token = self.refresh_token, ""
        r = self.backchannel.post(
            self.target.url + "/token",
            data={"grant_type": "refresh_token", "refresh_token": sent},
            auth=(self.target.client_id, self.target.client_secret),
            timeout=TIMEOUT,
        )
        token = r.json() if r.status_code == 200 else {}
        new = token.get("refresh_token")
        if not new or new == sent or "access_token" not in token:
            raise unexpected("POST /token (refresh)", r)
        self.refresh_token = new


# --- the load runner ---------------------------------------------------------------------


@dataclass
class PhaseResult:
    name: str
    duration: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    setup_errors: list[str] = field(default_factory=list)
    client_cpu_cores: float | None = None
    server_cpu_cores: float | None = None
    machine_cpu_cores: float | None = None

    def summary(self, cores: int) -> dict[str, Any]:
        count = len(self.latencies)
        per_second = count / self.duration
        ordered = sorted(self.latencies)
        return {
            "count": count,
            "errors": self.errors,
            "per_second": round(per_second, 2),
            "per_second_per_core": round(per_second / cores, 2),
            "p50_ms": round(percentile(ordered, 50) * 1000, 1) if ordered else None,
            "p99_ms": round(percentile(ordered, 99) * 1000, 1) if ordered else None,
            "server_cpu_ms_per_flow": (
                round(self.server_cpu_cores * self.duration * 1000 / count, 1)
                if self.server_cpu_cores is not None and count
                else None
            ),
            "client_cpu_cores": self.client_cpu_cores,
            "server_cpu_cores": self.server_cpu_cores,
            "machine_cpu_cores": self.machine_cpu_cores,
            "other_cpu_cores": self.other_cpu_cores,
        }

    @property
    def other_cpu_cores(self) -> float | None:
        """CPU used by neither the client nor the server: noise from other processes."""
        machine, client, server = (
            self.machine_cpu_cores,
            self.client_cpu_cores,
            self.server_cpu_cores,
        )
        if machine is None or client is None or server is None:
            return None
        return round(max(machine - client - server, 0.0), 2)


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def run_phase(
    name: str,
    make_worker: Callable[[], Any],
    concurrency: int,
    duration: float,
    server_pid: int | None,
) -> PhaseResult:
    """Each thread: set up, wait for all, then loop; warm up, then count the flows that
    finish inside the measured window."""
    result = PhaseResult(name, duration)
    lock = threading.Lock()
    window: dict[str, float] = {}

    def open_window() -> None:  # runs once, when every thread has finished its setup
        window["start"] = time.perf_counter() + WARMUP_SECONDS
        window["end"] = window["start"] + duration

    ready = threading.Barrier(concurrency + 1, action=open_window)
    stop = threading.Event()

    def record_error(error: Exception) -> None:
        step = error.step if isinstance(error, FlowError) else type(error).__name__
        with lock:
            result.errors += 1
            result.error_kinds[step] += 1
            if len(result.error_samples) < MAX_ERROR_SAMPLES:
                result.error_samples.append(str(error)[:600])

    def loop() -> None:
        worker = make_worker()
        try:
            worker.setup()
        except Exception as error:  # reported; the thread then only retries its setup
            with lock:
                result.setup_errors.append(str(error)[:600])
        ready.wait()
        while not stop.is_set():
            started = time.perf_counter()
            try:
                worker.run_once()
            except Exception as error:
                if window["start"] <= time.perf_counter() <= window["end"]:
                    record_error(error)
                continue
            ended = time.perf_counter()
            if window["start"] <= ended <= window["end"] and started >= window["start"]:
                with lock:
                    result.latencies.append(ended - started)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    ready.wait()
    time.sleep(max(0.0, window["start"] - time.perf_counter()))
    client_cpu = time.process_time()
    server_cpu = process_tree_cpu_seconds(server_pid) if server_pid else None
    machine_cpu = machine_busy_seconds()
    time.sleep(duration)
    elapsed = duration
    result.client_cpu_cores = round((time.process_time() - client_cpu) / elapsed, 2)
    machine_now = machine_busy_seconds()
    if machine_cpu is not None and machine_now is not None:
        result.machine_cpu_cores = round((machine_now - machine_cpu) / elapsed, 2)
    if server_cpu is not None and server_pid:
        server_now = process_tree_cpu_seconds(server_pid)
        if server_now is not None:
            result.server_cpu_cores = round((server_now - server_cpu) / elapsed, 2)
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT + 5)
    return result


# --- argon2id ceiling --------------------------------------------------------------------


def argon2_parameters() -> dict[str, int]:
    return {
        "memory_kib": int(os.environ.get("IDP_ARGON2_MEMORY_KIB") or 19456),
        "time_cost": int(os.environ.get("IDP_ARGON2_TIME_COST") or 2),
        "parallelism": int(os.environ.get("IDP_ARGON2_PARALLELISM") or 1),
    }


def _hash_for(args: tuple[dict[str, int], float]) -> tuple[int, float, float]:
    from argon2 import PasswordHasher
    from argon2 import Type

    params, seconds = args
    hasher = PasswordHasher(
        time_cost=params["time_cost"],
        memory_cost=params["memory_kib"],
        parallelism=params["parallelism"],
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )
    hasher.hash(DEFAULT_PASSWORD)  # warm-up
    count = 0
    started = time.perf_counter()
    cpu = time.process_time()
    while (elapsed := time.perf_counter() - started) < seconds:
        hasher.hash(DEFAULT_PASSWORD)
        count += 1
    return count, elapsed, time.process_time() - cpu


def argon2_rate_per_core(params: dict[str, int], cores: int, seconds: float) -> tuple[float, float]:
    """Hashes per second per core (wall clock), and CPU milliseconds per hash."""
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        results = pool.map(_hash_for, [(params, seconds)] * cores)
    per_core = sum(count / elapsed for count, elapsed, _ in results) / cores
    cpu_ms = 1000 * sum(cpu for _, _, cpu in results) / max(1, sum(c for c, _, _ in results))
    return per_core, cpu_ms


# --- a throw-away local server -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalServer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.dir = Path(tempfile.mkdtemp(prefix="idp-bench-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.idp = str(Path(sys.executable).with_name("idp"))
        if not Path(self.idp).exists():
            self.idp = shutil.which("idp") or "idp"
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
        )
        if args.database_url:
            env["IDP_DATABASE_URL"] = args.database_url
        if args.redis_url:
            env["IDP_REDIS_URL"] = args.redis_url
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

    def provision(self, users: int) -> Target:
        self.cli("init")
        contract_id = (
            self.cli("contracts", "add", "Bench", "--plan", "basic").strip().splitlines()[-1]
        )
        emails = [f"bench-{n}@example.jp" for n in range(users)]

        def add(email: str) -> None:
            self.cli(
                "users",
                "add",
                "--contract",
                contract_id,
                "--email",
                email,
                "--password",
                DEFAULT_PASSWORD,
            )

        # The CLI starts a whole app per call; a few in parallel (SQLite queues the writers).
        with ThreadPoolExecutor(max(2, os.cpu_count() or 2)) as pool:
            list(pool.map(add, emails))
        out = self.cli(
            "clients",
            "add",
            "--name",
            "bench",
            "--redirect-uri",
            REDIRECT_URI,
            "--client-id",
            "bench",
            "--secret",
            secrets.token_urlsafe(32),
            "--trusted",
        )
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        return Target(
            url=self.url,
            issuer=self.url,
            client_id=values["client_id"],
            client_secret=values["client_secret"],
            redirect_uri=REDIRECT_URI,
            scope=self.args.scope,
            credentials=[(e, DEFAULT_PASSWORD) for e in emails],
        )

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


# --- main --------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="Measure a running provider (else start a local one).")
    parser.add_argument("--duration", type=float, default=15.0, help="Seconds per flow.")
    parser.add_argument("--concurrency", type=int, default=2 * cores, help="Client threads.")
    parser.add_argument("--workers", type=int, default=cores, help="gunicorn workers (local).")
    parser.add_argument(
        "--cores",
        type=int,
        default=cores,
        help="Cores to divide by (the server machine's; default this one's).",
    )
    parser.add_argument("--users", type=int, default=20, help="Users provisioned (local).")
    parser.add_argument("--database-url", help="IDP_DATABASE_URL for the local server.")
    parser.add_argument("--redis-url", help="IDP_REDIS_URL for the local server.")
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret")
    parser.add_argument(
        "--email", action="append", help="With --url; repeat to spread logins over several users."
    )
    parser.add_argument("--password")
    parser.add_argument("--redirect-uri", default=REDIRECT_URI)
    parser.add_argument("--scope", default="openid profile email")
    parser.add_argument("--argon2-seconds", type=float, default=5.0)
    parser.add_argument(
        "--flows", default="login,refresh", help="Comma-separated subset of login,refresh."
    )
    parser.add_argument("--json", metavar="PATH", help="Also write the JSON line to PATH.")
    parser.add_argument("--keep", action="store_true", help="Keep the local instance folder.")
    args = parser.parse_args()
    unknown = set(args.flows.split(",")) - {"login", "refresh", ""}
    if unknown:
        parser.error(f"unknown flows: {', '.join(sorted(unknown))}")
    if args.url:
        missing = [
            o for o in ("client_id", "client_secret", "email", "password") if not getattr(args, o)
        ]
        if missing:
            parser.error("--url needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
        args.url = args.url.rstrip("/")
    return args


def backend_label(args: argparse.Namespace) -> str:
    if args.url:
        return "remote"
    database = (args.database_url or "sqlite").split(":", 1)[0].split("+", 1)[0]
    store = "redis" if args.redis_url else "sql"
    return f"{database}+{store}-store"


def print_table(report: dict[str, Any]) -> None:
    machine, settings = report["machine"], report["settings"]
    print()
    print(f"machine:  {machine['cpu_model']}, {machine['cores']} cores, Python {machine['python']}")
    print(
        f"settings: {settings['workers'] or '?'} gunicorn workers, "
        f"{settings['concurrency']} client threads, backend {settings['backend']}, "
        f"{settings['duration_s']} s per flow, "
        f"argon2id m={settings['argon2']['memory_kib']} t={settings['argon2']['time_cost']} "
        f"p={settings['argon2']['parallelism']}"
    )
    header = (
        f"{'flow':<10}{'count':>7}{'errors':>7}{'per s':>8}{'per s/core':>11}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'cpu: client':>12}{'server':>7}{'other':>7}"
        f"{'server cpu ms/flow':>20}"
    )
    print(header)
    print("-" * len(header))

    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for name, flow in report["flows"].items():
        print(
            f"{name:<10}{flow['count']:>7}{flow['errors']:>7}"
            f"{fmt(flow['per_second'], '.1f'):>8}{fmt(flow['per_second_per_core'], '.2f'):>11}"
            f"{fmt(flow['p50_ms'], '.1f'):>9}{fmt(flow['p99_ms'], '.1f'):>9}"
            f"{fmt(flow['client_cpu_cores'], '.2f'):>12}"
            f"{fmt(flow['server_cpu_cores'], '.2f'):>7}{fmt(flow['other_cpu_cores'], '.2f'):>7}"
            f"{fmt(flow['server_cpu_ms_per_flow'], '.1f'):>20}"
        )
    argon = report.get("argon2_hashes_per_second_per_core")
    if argon is not None:
        local = report["machine"]["local_cores"]
        print(
            f"{'argon2id':<10}{'':>7}{'':>7}{argon * local:>8.1f}{argon:>11.2f}"
            f"   (bare hashes in {local} processes; "
            f"{report['argon2_cpu_ms_per_hash']} cpu ms/hash)"
        )
    ratio = report.get("login_to_argon2_ratio")
    if ratio is not None:
        print(f"login rate / argon2 rate, per core: {ratio:.2f}")
    share = report.get("argon2_share_of_login_server_cpu")
    if share is not None:
        print(f"argon2id share of a login's server CPU: {share:.0%}")
    print(
        "cpu: cores busy on average during the measured window in the benchmark client, in "
        "the gunicorn processes, and in anything else on this machine."
    )
    background = report["machine"].get("background_cpu_cores") or 0.0
    other = max([f["other_cpu_cores"] or 0.0 for f in report["flows"].values()], default=0.0)
    if background > 0.2 or other > 0.2:
        print(
            f"WARNING: other processes were busy ({background} cores in the second before the "
            f"run, up to {other} during a measurement); the rates are disturbed, run again on "
            "a quiet machine."
        )
    print(f"NOTE: {CAVEAT}")


def main() -> int:
    args = parse_args()
    cores = args.cores
    server: LocalServer | None = None
    flows = [f.strip() for f in args.flows.split(",") if f.strip()]
    report: dict[str, Any] = {
        "machine": {
            "cpu_model": cpu_model(),
            "cores": cores,
            "local_cores": os.cpu_count() or 1,
            "python": platform.python_version(),
            "background_cpu_cores": background_cpu_cores(),
        },
        "settings": {
            "workers": None if args.url else args.workers,
            "concurrency": args.concurrency,
            "backend": backend_label(args),
            "duration_s": args.duration,
            "scope": args.scope,
            "argon2": argon2_parameters(),
        },
        "flows": {},
        "caveat": CAVEAT,
    }
    server_pid: int | None = None
    try:
        if args.url:
            issuer = requests.get(
                args.url + "/.well-known/openid-configuration", timeout=TIMEOUT
            ).json()["issuer"]
            target = Target(
                args.url,
                issuer,
                args.client_id,
                args.client_secret,
                args.redirect_uri,
                args.scope,
                [(e, args.password) for e in args.email],
            )
        else:
            server = LocalServer(args)
            print(f"provisioning {args.users} users in {server.dir} ...", flush=True)
            target = server.provision(args.users)
            print(f"starting idp serve on {server.url} with {args.workers} workers ...", flush=True)
            server.start(args.workers)
            server_pid = server.process.pid if server.process else None

        workers: dict[str, Callable[[], Any]] = {
            "login": lambda: LoginWorker(target),
            "refresh": lambda: RefreshWorker(target),
        }
        for name in flows:
            print(
                f"measuring {name}: {WARMUP_SECONDS:.0f} s warm-up + {args.duration:g} s "
                f"with {args.concurrency} threads ...",
                flush=True,
            )
            result = run_phase(name, workers[name], args.concurrency, args.duration, server_pid)
            report["flows"][name] = result.summary(cores)
            if result.setup_errors:
                report["flows"][name]["setup_errors"] = len(result.setup_errors)
                print(
                    f"  {len(result.setup_errors)} thread setups failed, first: "
                    f"{result.setup_errors[0]}"
                )
            if result.errors:
                report["flows"][name]["error_kinds"] = dict(result.error_kinds)
                print(f"  {result.errors} errors {dict(result.error_kinds)}; first ones:")
                for sample in result.error_samples:
                    print(f"    {sample}")
    finally:
        if server:
            server.stop()
            logged = server.server_errors()
            if logged:
                report["server_log_errors"] = logged
                print("server log error lines (first ones):")
                for line in logged[:10]:
                    print(f"    {line}")
            server.cleanup()

    params = report["settings"]["argon2"]
    local_cores = report["machine"]["local_cores"]
    print(
        f"measuring argon2id: {local_cores} processes x {args.argon2_seconds:g} s ...", flush=True
    )
    argon, argon_cpu_ms = argon2_rate_per_core(params, local_cores, args.argon2_seconds)
    report["argon2_hashes_per_second_per_core"] = round(argon, 2)
    report["argon2_cpu_ms_per_hash"] = round(argon_cpu_ms, 1)
    login = report["flows"].get("login")
    report["login_to_argon2_ratio"] = (
        round(login["per_second_per_core"] / argon, 3) if login and argon else None
    )
    login_cpu_ms = login and login.get("server_cpu_ms_per_flow")
    report["argon2_share_of_login_server_cpu"] = (
        round(argon_cpu_ms / login_cpu_ms, 2) if login_cpu_ms else None
    )
    print_table(report)
    line = json.dumps(report, separators=(",", ":"))
    print(line)
    if args.json:
        Path(args.json).write_text(line + "\n")
    failed = any(f["errors"] or f.get("setup_errors") for f in report["flows"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
