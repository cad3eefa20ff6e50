"""What a browser and a relying party do, over real HTTP: follow redirects, fill forms,
run the authorization code flow with PKCE and validate ID tokens (with authlib's client)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from dataclasses import field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

TIMEOUT = 30


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str]
    id: str | None = None
    buttons: dict[str, str] = field(default_factory=dict)


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(
                Form(a.get("action", ""), a.get("method", "get").lower(), {}, a.get("id"))
            )
        elif tag == "input" and self.forms and a.get("name"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self.forms[-1].fields[a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1].buttons[a["name"]] = a.get("value", "")


def forms_in(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "a" and a.get("id") and "href" in a:
            self.links[a["id"]] = a["href"]


def link_of(page: requests.Response, element_id: str) -> str:
    """The absolute URL of the page's link ``<a id=element_id>`` (what a click opens)."""
    parser = _LinkParser()
    parser.feed(page.text)
    assert element_id in parser.links, f"no link #{element_id} on {page.url}: {page.text[:500]}"
    return urljoin(page.url, parser.links[element_id])


def tx_of(page: requests.Response) -> str:
    """The login transaction of a sign-in page: its forms' ``tx`` (the password page answers
    the authorization request itself, at ``/authorize``), else its URL's ``tx``."""
    for form in forms_in(page.text):
        if form.fields.get("tx"):
            return form.fields["tx"]
    found = parse_qs(urlsplit(page.url).query).get("tx")
    assert found, f"no transaction on {page.url}: {page.text[:500]}"
    return found[0]


class Browser:
    """A cookie-keeping user agent that follows redirects within the provider."""

    def __init__(self, provider_url: str) -> None:
        self.provider_url = provider_url
        self.session = requests.Session()
        self.last: requests.Response | None = None

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.follow(
            self.session.get(
                urljoin(self.provider_url, url), allow_redirects=False, timeout=TIMEOUT, **kwargs
            )
        )

    def post(self, url: str, data: dict[str, str], **kwargs: Any) -> requests.Response:
        return self.follow(
            self.session.post(
                urljoin(self.provider_url, url),
                data=data,
                allow_redirects=False,
                timeout=TIMEOUT,
                **kwargs,
            )
        )

    def follow(self, response: requests.Response) -> requests.Response:
        """Follow redirects while they stay on the provider; stop at anything else."""
        while response.is_redirect:
            target = urljoin(response.url, response.headers["Location"])
            if not target.startswith(self.provider_url + "/"):
                break
            response = self.session.get(target, allow_redirects=False, timeout=TIMEOUT)
        self.last = response
        return response

    def submit(
        self, response: requests.Response, form_id: str | None = None, **values: str
    ) -> requests.Response:
        """Submit a form of the page like a browser (hidden fields and CSRF token included)."""
        forms = forms_in(response.text)
        assert forms, f"no form on {response.url}: {response.text[:500]}"
        form = next((f for f in forms if f.id == form_id), forms[0]) if form_id else forms[0]
        data = {**form.fields, **values}
        action = urljoin(response.url, form.action) if form.action else response.url
        if form.method == "post":
            return self.post(action, data)
        return self.get(action, params=data)


def redirect_params(response: requests.Response) -> dict[str, str]:
    assert response.is_redirect, (
        f"expected a redirect, got {response.status_code}: {response.text[:300]}"
    )
    location = response.headers["Location"]
    query = parse_qs(urlsplit(location).query)
    return {k: v[0] for k, v in query.items()}


class RelyingParty:
    """A confidential (or public) client of the provider, built on authlib's OAuth2Session."""

    def __init__(
        self,
        issuer: str,
        client_id: str,
        secret: str | None,
        redirect_uri: str,
        scope: str = "openid profile email contract offline_access",
    ) -> None:
        self.issuer = issuer
        self.client_id = client_id
        self.secret = secret
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.metadata = requests.get(
            f"{issuer}/.well-known/openid-configuration", timeout=TIMEOUT
        ).json()
        self.state = ""
        self.nonce = ""
        self.code_verifier = ""

    def session(self) -> OAuth2Session:
        return OAuth2Session(
            self.client_id,
            self.secret,
            scope=self.scope,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic" if self.secret else "none",
        )

    def authorize_url(self, **params: Any) -> str:
        self.state = generate_token(20)
        self.nonce = generate_token(20)
        self.code_verifier = generate_token(48)
        session = self.session()
        params.setdefault("nonce", self.nonce)
        url, _state = session.create_authorization_url(
            self.metadata["authorization_endpoint"],
            state=self.state,
            code_verifier=self.code_verifier,
            **params,
        )
        return str(url)

    def sign_in(self, browser: Browser, email: str, password: str, **params: Any) -> dict[str, str]:
        """The whole front channel: authorize → login page → password → callback params."""
        page = browser.get(self.authorize_url(**params))
        assert page.status_code == 200, page.text[:500]
        done = browser.submit(page, "password-form", email=email, password=password)
        return redirect_params(done)

    def exchange(self, code: str, **extra: Any) -> dict[str, Any]:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.code_verifier,
            **extra,
        }
        return self.token_request(data)

    def token_request(self, data: dict[str, Any]) -> dict[str, Any]:
        auth = (self.client_id, self.secret) if self.secret else None
        if not self.secret:
            data = {**data, "client_id": self.client_id}
        response = requests.post(
            self.metadata["token_endpoint"], data=data, auth=auth, timeout=TIMEOUT
        )
        body: dict[str, Any] = response.json()
        body["_status"] = response.status_code
        return body

    def refresh(self, refresh_token: str, **params: Any) -> dict[str, Any]:
        return self.token_request(
            {"grant_type": "refresh_token", "refresh_token": refresh_token, **params}
        )

    def login_tokens(
        self, browser: Browser, email: str, password: str, **params: Any
    ) -> dict[str, Any]:
        callback = self.sign_in(browser, email, password, **params)
        assert callback.get("state") == self.state, callback
        assert callback.get("iss") == self.issuer, callback
        tokens = self.exchange(callback["code"])
        assert tokens["_status"] == 200, tokens
        return tokens

    def id_token_claims(self, id_token: str, nonce: str | None = None) -> dict[str, Any]:
        """Validate like an RP must (OIDC Core §3.1.3.7): signature, iss, aud, exp, nonce."""
        jwks = KeySet.import_key_set(
            requests.get(self.metadata["jwks_uri"], timeout=TIMEOUT).json()
        )
        token = jwt.decode(id_token, jwks, algorithms=["RS256", "ES256"])
        claims = dict(token.claims)
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            iat={"essential": True},
            sub={"essential": True},
        )
        registry.validate(claims)
        if nonce is not None:
            assert claims.get("nonce") == nonce
        assert claims["exp"] > time.time()
        return claims

    def userinfo(self, access_token: str, method: str = "GET") -> requests.Response:
        url = self.metadata["userinfo_endpoint"]
        if method == "GET":
            return requests.get(
                url, headers={"Authorization": f"Bearer {access_token}"}, timeout=TIMEOUT
            )
        return requests.post(url, data={"access_token": access_token}, timeout=TIMEOUT)

    def introspect(self, token: str, **extra: str) -> dict[str, Any]:
        response = requests.post(
            self.metadata["introspection_endpoint"],
            data={"token": token, **extra},
            auth=(self.client_id, self.secret or ""),
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def revoke(self, token: str, **extra: str) -> requests.Response:
        auth = (self.client_id, self.secret) if self.secret else None
        data = {"token": token, **extra}
        if not self.secret:
            data["client_id"] = self.client_id
        return requests.post(
            self.metadata["revocation_endpoint"], data=data, auth=auth, timeout=TIMEOUT
        )


def random_state() -> str:
    return secrets.token_urlsafe(16)
