"""The password login (authorization code + PKCE S256) and the refresh-token chain, each as
a worker the runner calls in a loop (``setup`` once, then ``run_once``)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import TypeVar
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import requests

from loginbench.backchannel import Backchannel
from loginbench.steps import TIMEOUT
from loginbench.steps import FlowError
from loginbench.steps import form_fields
from loginbench.steps import redirected
from loginbench.steps import unexpected

T = TypeVar("T")

DEFAULT_PASSWORD = "Bench-Pass-42x"
REDIRECT_URI = "https://bench.example/cb"


@dataclass
class Target:
    url: str
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scope: str
    credentials: list[tuple[str, str]]
    #: The flow must pass a consent page (an untrusted client, or ``prompt_consent``).
    consent: bool = True
    #: Ask ``prompt=consent`` (a running provider's client may be trusted).
    prompt_consent: bool = False
    #: A service client (``client_credentials`` only) for the client_credentials flow.
    service_client_id: str = ""
    service_client_secret: str = ""
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
#: (``/login/2fa?tx=…``), walks the pages and returns its last step's name and redirect.
SecondFactor = Callable[[requests.Session, str], tuple[str, requests.Response]]

#: The pages a login may pass between the password and the client, in this order at most
#: once each (``/login/finish`` may be skipped by a provider that redirects straight on).
LOGIN_STEPS = ("/login/2fa", "/login/consent", "/login/finish")


def walk_to_client(
    target: Target,
    browser: requests.Session,
    step: str,
    r: requests.Response,
    second_factor: SecondFactor | None,
) -> str:
    """Follows the redirects after the password POST: the second factor (when given), the
    consent page (allowed; required when ``target.consent``; a redirect to it or the page
    itself in answer to the form), ``/login/finish``, until the redirect to the client, whose
    Location it returns."""
    passed: list[str] = []
    while True:
        if r.status_code == 200 and "/login/consent" not in passed:
            # A provider that answers a step's form with the consent page itself (one hop
            # less than a redirect to it).
            passed.append("/login/consent")
            fields = form_fields(step, r, action="/login/consent")
            step = "POST /login/consent"
            r = browser.post(
                urljoin(r.url, "/login/consent"),
                data={**fields, "decision": "allow"},
                allow_redirects=False,
                timeout=TIMEOUT,
            )
            continue
        location = r.headers.get("Location", "")
        if r.status_code not in (302, 303) or not location:
            raise unexpected(step, r)
        if location.startswith(target.redirect_uri + "?"):
            if second_factor is not None and "/login/2fa" not in passed:
                raise FlowError(step, "signed in without the second factor")
            if target.consent != ("/login/consent" in passed):
                raise FlowError(step, f"consent page {'missing' if target.consent else 'shown'}")
            return location
        url = urljoin(r.url, location)
        path = urlsplit(url).path
        if (
            path not in LOGIN_STEPS
            or any(LOGIN_STEPS.index(p) >= LOGIN_STEPS.index(path) for p in passed)
            or (path == "/login/2fa" and second_factor is None)
        ):
            raise unexpected(step, r)
        passed.append(path)
        if path == "/login/2fa":
            assert second_factor is not None
            step, r = second_factor(browser, url)
        elif path == "/login/consent":
            r = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
            fields = form_fields("GET /login/consent", r, action="/login/consent")
            step = "POST /login/consent"
            r = browser.post(
                urljoin(url, "/login/consent"),
                data={**fields, "decision": "allow"},
                allow_redirects=False,
                timeout=TIMEOUT,
            )
        else:
            step = "GET /login/finish"
            r = browser.get(url, allow_redirects=False, timeout=TIMEOUT)


def full_login(
    target: Target,
    backchannel: Backchannel,
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
                **({"prompt": "consent"} if target.prompt_consent else {}),
            },
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        if r.status_code == 200:
            # A provider that answers the authorization request with the password page
            # itself (one hop less than a redirect to /login).
            fields = form_fields("GET /authorize", r, "password-form")
        else:
            url = redirected("GET /authorize", r, "/login?")
            r = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
            fields = form_fields("GET /login", r, "password-form")

        r = browser.post(
            target.url + "/login",
            data={**fields, "email": email, "password": password},
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        location = walk_to_client(target, browser, "POST /login", r, second_factor)
        answer = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        if (
            answer.get("state") != state
            or answer.get("iss") != target.issuer
            or not answer.get("code")
        ):
            raise FlowError("redirect to the client", f"bad redirect {location}")

    r = backchannel.post_form(
        "/token",
        {
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": target.redirect_uri,
            "code_verifier": verifier,
        },
        (target.client_id, target.client_secret),
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


#: Seconds a setup keeps trying while the server sheds it.
SETUP_PATIENCE = 120


def until_not_shed(attempt: Callable[[], T]) -> T:
    """``attempt()``, again after ``Retry-After`` while the server sheds it (503/429 with
    Retry-After): what a client that honours it does. The setups of the open loop's 128
    threads arrive at once, a burst a shedding server refuses in part."""
    deadline = time.monotonic() + SETUP_PATIENCE
    while True:
        try:
            return attempt()
        except FlowError as error:
            if not error.shed or time.monotonic() > deadline:
                raise
            time.sleep(error.retry_after * (1 + random.random()))


class LoginWorker:
    def __init__(self, target: Target) -> None:
        self.target = target
        self.backchannel = Backchannel(target.url)

    def setup(self) -> None:
        pass

    def run_once(self) -> None:
        full_login(self.target, self.backchannel, self.target.scope)


class RefreshWorker:
    """One rotating refresh-token chain, seeded by a login that asked for offline_access."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.backchannel = Backchannel(target.url)
        self.refresh_token = ""

    def setup(self) -> None:
        scope = self.target.scope
        if "offline_access" not in scope.split():
            scope += " offline_access"
        token = until_not_shed(lambda: full_login(self.target, self.backchannel, scope))
        if not token.get("refresh_token"):
            raise FlowError("seed login", f"no refresh_token in {sorted(token)}")
        self.refresh_token = token["refresh_token"]

    def run_once(self) -> None:
        if not self.refresh_token:
            self.setup()  # the chain broke on an earlier error: start a new one
        sent, self.refresh_token = self.refresh_token, ""
        r = self.backchannel.post_form(
            "/token",
            {"grant_type": "refresh_token", "refresh_token": sent},
            (self.target.client_id, self.target.client_secret),
        )
        token = r.json() if r.status_code == 200 else {}
        new = token.get("refresh_token")
        if not new or new == sent or "access_token" not in token:
            error = unexpected("POST /token (refresh)", r)
            if error.shed:
                # Refused before it was looked at: the same token is good for the next try,
                # as a client acting on the 503 would send it again.
                self.refresh_token = sent
            raise error
        self.refresh_token = new


class ClientCredentialsWorker:
    """RFC 6749 §4.4: one ``POST /token`` of the bench's service client per flow."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.backchannel = Backchannel(target.url)

    def setup(self) -> None:
        if not self.target.service_client_id:
            raise FlowError("setup", "no service client (--service-client-id)")

    def run_once(self) -> None:
        r = self.backchannel.post_form(
            "/token",
            {"grant_type": "client_credentials", "scope": "admin:read"},
            (self.target.service_client_id, self.target.service_client_secret),
        )
        token = r.json() if r.status_code == 200 else {}
        if "access_token" not in token or "refresh_token" in token or "id_token" in token:
            raise unexpected("POST /token (client_credentials)", r)
