"""Two-step verification by authenticator app: enroll each user once (setup), then sign in
with a TOTP code that was never sent before."""

from __future__ import annotations

import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import requests

from loginbench.backchannel import Backchannel
from loginbench.flows import SecondFactor
from loginbench.flows import Target
from loginbench.flows import full_login
from loginbench.steps import TIMEOUT
from loginbench.steps import FlowError
from loginbench.steps import form_fields
from loginbench.steps import redirected

TOTP_PERIOD = 30  # RFC 6238 step of the provider (idp.twofactor.totp)
SECRET_RE = re.compile(r'<code\b[^>]*\bid="secret"[^>]*>([A-Z2-7=]+)</code>')


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

    def walk(browser: requests.Session, url: str) -> tuple[str, requests.Response]:
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
        return "POST /login/2fa/recovery-code", r

    return walk


def app_code(user: TotpUser, step: int) -> SecondFactor:
    """A later sign-in: /login/2fa → /login/2fa/app → the code of ``step``."""

    def walk(browser: requests.Session, url: str) -> tuple[str, requests.Response]:
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
        return "POST /login/2fa/app", r

    return walk


def enroll_totp_users(target: Target, users: list[TotpUser], threads: int) -> list[str]:
    """Enrolls each user's authenticator app through HTTP (setup, not measured); returns
    the errors (users that failed are left out of ``users``)."""

    def enroll(user: TotpUser) -> str | None:
        backchannel = Backchannel(target.url)
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
        finally:
            backchannel.close()
        return None

    with ThreadPoolExecutor(max(1, threads)) as pool:
        outcomes = list(pool.map(enroll, users))
    users[:] = [u for u, failed in zip(users, outcomes, strict=True) if not failed]
    return [o for o in outcomes if o]


class TotpLoginWorker:
    def __init__(self, target: Target, pool: TotpPool) -> None:
        self.target = target
        self.pool = pool
        self.backchannel = Backchannel(target.url)

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
