"""Load benchmark of the provider's whole flows, beside the argon2id ceiling.

Measures, against a provider running under gunicorn with production settings:

1. ``login``: full password logins (authorization code + PKCE S256), each in its own cookie
   jar: GET /authorize -> GET /login -> POST /login -> GET /login/finish -> POST /token;
2. ``totp_login``: the same with two-step verification by authenticator app (a contract
   with 2FA on, users enrolled once during setup): ... -> POST /login -> GET /login/2fa ->
   GET /login/2fa/app -> POST /login/2fa/app (TOTP code) -> GET /login/finish -> POST /token;
3. ``refresh``: refresh-token grants with rotation, one chain per client thread;
4. ``argon2``: bare argon2id hashes per second per core with the server's parameters
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
FLOWS = ("login", "totp_login", "refresh")
CAVEAT = (
    "The load generator runs on the same machine as the server and takes CPU from it "
    "(see client_cpu_cores); per-core figures are therefore pessimistic for the server."
)

TOTP_PERIOD = 30  # RFC 6238 step of the provider (idp.twofactor.totp)
HIDDEN_RE = {
    name: re.compile(r'<input\b[^>]*\bname="' + name + r'"[^>]*\bvalue="([^"]*)"')
    for name in ("csrf_token", "tx")
}
SECRET_RE = re.compile(r'<code\b[^>]*\bid="secret"[^>]*>([A-Z2-7=]+)</code>')


class FlowError(Exception):
    """An unexpected answer at one step of a flow."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step


ERROR_TEXT_RE = re.compile(r'<(?:p|div)\b[^>]*\bclass="error"[^>]*>(.*?)</', re.S)
TITLE_RE = re.compile(r"<title>(.*?)</title>", re.S)
TAG_RE = re.compile(r"<[^>]+>")


def form_fields(step: str, response: requests.Response, form_id: str) -> dict[str, str]:
    """``csrf_token`` and ``tx`` of the form ``#form_id`` of a 200 page (else a FlowError)."""
    form = None
    if response.status_code == 200:
        form = re.search(
            r'<form\b[^>]*\bid="' + form_id + r'"[^>]*>(.*?)</form>', response.text, re.S
        )
    if form is None:
        raise unexpected(step, response)
    fields = {}
    for name, pattern in HIDDEN_RE.items():
        match = pattern.search(form.group(1))
        if match is None:
            raise FlowError(step, f"no hidden input {name} in #{form_id}")
        fields[name] = html.unescape(match.group(1))
    return fields


def redirected(step: str, response: requests.Response, contains: str, status: int = 303) -> str:
    """The absolute ``Location`` of an expected redirect whose target contains ``contains``."""
    location = response.headers.get("Location", "")
    if response.status_code != status or contains not in location:
        raise unexpected(step, response)
    return urljoin(response.url, location)


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


#: A second-factor step: given the browser and the absolute URL POST /login redirected to
#: (``/login/2fa?tx=…``), walks the pages and returns the URL of ``/login/finish?tx=…``.
SecondFactor = Callable[[requests.Session, str], str]


def full_login(
    target: Target,
    backchannel: requests.Session,
    scope: str,
    credentials: tuple[str, str] | None = None,
    second_factor: SecondFactor | None = None,
    amr: str = "pwd",
) -> dict[str, Any]:
    """One whole login in a fresh cookie jar (with ``second_factor`` after the password when
    given); returns the token response. ``amr`` must be in the ID token's ``amr``."""
    email, password = credentials or target.next_credentials()
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
        url = redirected("GET /authorize", r, "/login?")

        r = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
        fields = form_fields("GET /login", r, "password-form")

        r = browser.post(
            target.url + "/login",
            data={**fields, "email": email, "password": password},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        if second_factor is None:
            url = redirected("POST /login", r, "/login/finish?")
        else:
            url = second_factor(browser, redirected("POST /login", r, "/login/2fa?"))

        r = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
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
    if (
        claims.get("nonce") != nonce
        or claims.get("iss") != target.issuer
        or amr not in (claims.get("amr") or [])
    ):
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


# --- two-step verification by authenticator app -----------------------------------------


def totp_step(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // TOTP_PERIOD)


def totp_code(secret: str, step: int) -> str:
    import pyotp  # only the totp_login flow needs it

    return str(pyotp.TOTP(secret, interval=TOTP_PERIOD).at(step * TOTP_PERIOD))


@dataclass
class TotpUser:
    email: str
    password: str
    secret: str = ""
    #: Time steps whose code was sent already: the provider accepts each code once.
    used_steps: set[int] = field(default_factory=set)


class TotpPool:
    """Hands out (user, time step) pairs so that no code is ever sent twice.

    The provider accepts the previous, current and next step's code, each once per user.
    Users are taken round-robin, preferring one whose current step is unused; then the next
    step (valid now and after the coming step change); then the previous step, only while
    the current step has at least ``margin`` seconds left (else the code could expire on
    its way). So each user signs in about once per step, at most three times in a burst.
    When no user has a usable step left the caller waits for the next step (``waits``
    counts the checkouts that waited: then the pool, not the server, limits the rate, and
    the wait is part of the flow's latency)."""

    def __init__(self, users: list[TotpUser], margin: float = 10.0) -> None:
        if not users:
            raise ValueError("no TOTP users")
        self.users = users
        self.margin = margin
        self.lock = threading.Lock()
        self.index = 0
        self.waits = 0

    def checkout(self) -> tuple[TotpUser, int]:
        waited = False
        while True:
            with self.lock:
                now = time.time()
                step = totp_step(now)
                steps = [step, step + 1]
                if (step + 1) * TOTP_PERIOD - now >= self.margin:
                    steps.append(step - 1)
                count = len(self.users)
                for candidate in steps:
                    for offset in range(count):
                        user = self.users[(self.index + offset) % count]
                        if candidate not in user.used_steps:
                            user.used_steps.add(candidate)
                            user.used_steps -= {s for s in user.used_steps if s < step - 1}
                            self.index = (self.index + offset + 1) % count
                            return user, candidate
                self.waits += not waited
                waited = True
                pause = (step + 1) * TOTP_PERIOD - now + 0.05
            time.sleep(min(pause, 1.0))


def enroll_app(user: TotpUser) -> SecondFactor:
    """First sign-in of a user: /login/2fa → SMS enrollment page → the app instead: read the
    secret, send its current code, confirm the recovery code was saved."""

    def walk(browser: requests.Session, url: str) -> str:
        r = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
        url = redirected("GET /login/2fa (enroll)", r, "/login/2fa/enroll/sms?")
        tx = parse_qs(urlsplit(url).query)["tx"][0]
        r = browser.get(
            urljoin(url, "/login/2fa/enroll/app"),
            params={"tx": tx},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        fields = form_fields("GET /login/2fa/enroll/app", r, "code-form")
        found = SECRET_RE.search(r.text)
        if found is None:
            raise FlowError("GET /login/2fa/enroll/app", "no <code id=secret>")
        secret = found.group(1)
        step = totp_step()
        r = browser.post(
            urljoin(url, "/login/2fa/enroll/app"),
            data={**fields, "code": totp_code(secret, step)},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        url = redirected("POST /login/2fa/enroll/app", r, "/login/2fa/recovery-code?")
        # The provider also refuses the enrollment code's step for later sign-ins.
        user.secret, user.used_steps = secret, {step}
        r = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
        fields = form_fields("GET /login/2fa/recovery-code", r, "saved-form")
        r = browser.post(
            urljoin(url, "/login/2fa/recovery-code"),
            data={**fields, "saved": "yes"},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        return redirected("POST /login/2fa/recovery-code", r, "/login/finish?")

    return walk


def app_code(user: TotpUser, step: int) -> SecondFactor:
    """A later sign-in: /login/2fa → /login/2fa/app → the code of ``step``."""

    def walk(browser: requests.Session, url: str) -> str:
        r = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
        url = redirected("GET /login/2fa", r, "/login/2fa/app?")
        r = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
        fields = form_fields("GET /login/2fa/app", r, "code-form")
        r = browser.post(
            urljoin(url, "/login/2fa/app"),
            data={**fields, "code": totp_code(user.secret, step)},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        return redirected("POST /login/2fa/app", r, "/login/finish?")

    return walk


def enroll_totp_users(target: Target, users: list[TotpUser], threads: int) -> list[str]:
    """Enrolls each user's authenticator app through HTTP (setup, not measured); returns
    the errors (users that failed are left out of ``users``)."""

    def enroll(user: TotpUser) -> str | None:
        with requests.Session() as backchannel:
            try:
                full_login(
                    target,
                    backchannel,
                    target.scope,
                    (user.email, user.password),
                    enroll_app(user),
                    amr="otp",
                )
            except Exception as error:
                return f"{user.email}: {error}"[:600]
        return None

    with ThreadPoolExecutor(max(1, threads)) as pool:
        outcomes = list(pool.map(enroll, users))
    users[:] = [u for u, failed in zip(users, outcomes, strict=True) if not failed]
    return [o for o in outcomes if o]


class TotpLoginWorker:
    def __init__(self, target: Target, pool: TotpPool) -> None:
        self.target = target
        self.pool = pool
        self.backchannel = requests.Session()

    def setup(self) -> None:
        pass

    def run_once(self) -> None:
        user, step = self.pool.checkout()
        full_login(
            self.target,
            self.backchannel,
            self.target.scope,
            (user.email, user.password),
            app_code(user, step),
            amr="otp",
        )


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


#: Run by the server's interpreter with the server's environment; reads the JSON spec from
#: stdin, prints the contract ids and the client's credentials as one JSON line.
PROVISION_SCRIPT = """
import json, sys
from idp import create_app
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
    client, secret = add_client(
        Actor.cli(), "bench", [spec["redirect_uri"]], [], client_id="bench",
        secret=spec["client_secret"], trusted=True,
    )
    out["client_id"], out["client_secret"] = client.client_id, secret
print(json.dumps(out))
"""


class LocalServer:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
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
        )
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
    parser.add_argument(
        "--totp-users",
        type=int,
        default=400,
        help="Users with an authenticator app for totp_login (local; each signs in about "
        "once per 30-s TOTP step).",
    )
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
        "--flows",
        help="Comma-separated subset of login,totp_login,refresh (default: all; with --url "
        "login,refresh).",
    )
    parser.add_argument("--json", metavar="PATH", help="Also write the JSON line to PATH.")
    parser.add_argument("--keep", action="store_true", help="Keep the local instance folder.")
    args = parser.parse_args()
    if args.flows is None:
        args.flows = "login,refresh" if args.url else ",".join(FLOWS)
    flows = {f.strip() for f in args.flows.split(",")} - {""}
    unknown = flows - set(FLOWS)
    if unknown:
        parser.error(f"unknown flows: {', '.join(sorted(unknown))}")
    if args.url and "totp_login" in flows:
        parser.error("totp_login needs the local instance (its users are enrolled in setup)")
    if "totp_login" in flows and args.totp_users < 1:
        parser.error("totp_login needs --totp-users of at least 1")
    if args.url:
        missing = [
            o for o in ("client_id", "client_secret", "email", "password") if not getattr(args, o)
        ]
        if missing:
            parser.error("--url needs " + ", ".join("--" + m.replace("_", "-") for m in missing))
        args.url = args.url.rstrip("/")
    return args


def pool_of(pool: TotpPool | None) -> TotpPool:
    if pool is None:
        raise RuntimeError("totp_login without enrolled users")
    return pool


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
        f"{'flow':<12}{'count':>7}{'errors':>7}{'per s':>8}{'per s/core':>11}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'cpu: client':>12}{'server':>7}{'other':>7}"
        f"{'server cpu ms/flow':>20}"
    )
    print(header)
    print("-" * len(header))

    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for name, flow in report["flows"].items():
        print(
            f"{name:<12}{flow['count']:>7}{flow['errors']:>7}"
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
            f"{'argon2id':<12}{'':>7}{'':>7}{argon * local:>8.1f}{argon:>11.2f}"
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
    totp_pool: TotpPool | None = None
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
            totp_wanted = args.totp_users if "totp_login" in flows else 0
            print(
                f"provisioning {args.users} users and {totp_wanted} 2FA users in {server.dir} ...",
                flush=True,
            )
            started = time.perf_counter()
            target, totp_users = server.provision(args.users, totp_wanted)
            print(f"  {time.perf_counter() - started:.1f} s", flush=True)
            print(f"starting idp serve on {server.url} with {args.workers} workers ...", flush=True)
            server.start(args.workers)
            server_pid = server.process.pid if server.process else None
            if totp_users:
                print(
                    f"enrolling {len(totp_users)} authenticator apps through HTTP ...", flush=True
                )
                started = time.perf_counter()
                refused = enroll_totp_users(target, totp_users, args.concurrency)
                print(f"  {time.perf_counter() - started:.1f} s", flush=True)
                if refused:
                    report["totp_enrollment_errors"] = len(refused)
                    print(f"  {len(refused)} enrollments failed, first ones:")
                    for sample in refused[:MAX_ERROR_SAMPLES]:
                        print(f"    {sample}")
                if not totp_users:
                    raise SystemExit("no authenticator app could be enrolled")
                totp_pool = TotpPool(totp_users)

        workers: dict[str, Callable[[], Any]] = {
            "login": lambda: LoginWorker(target),
            "totp_login": lambda: TotpLoginWorker(target, pool_of(totp_pool)),
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
            if name == "totp_login" and totp_pool:
                report["flows"][name]["totp_users"] = len(totp_pool.users)
                report["flows"][name]["user_pool_waits"] = totp_pool.waits
                if totp_pool.waits:
                    print(
                        f"  NOTE: {totp_pool.waits} flows waited for a user with an unused TOTP "
                        "step; the user pool limited the rate (raise --totp-users)."
                    )
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
    failed = report.get("totp_enrollment_errors") or any(
        f["errors"] or f.get("setup_errors") for f in report["flows"].values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
