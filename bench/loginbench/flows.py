"""The password login (authorization code + PKCE S256) and the refresh-token chain, each as
a worker the runner calls in a loop (``setup`` once, then ``run_once``)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import requests

from loginbench.steps import TIMEOUT
from loginbench.steps import FlowError
from loginbench.steps import form_fields
from loginbench.steps import redirected
from loginbench.steps import unexpected

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
