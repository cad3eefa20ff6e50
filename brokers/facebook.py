"""Facebook Login, the manually built web flow: OAuth 2.0 plus the Graph API, not OpenID
Connect (UPSTREAMS.md "Facebook"; L7). M5's rebind rule is
``policies.login_method.is_facebook_rebind_allowed``.

1. The browser goes to ``{dialog}/{version}/dialog/oauth`` with ``client_id``,
   ``redirect_uri``, ``state``, ``response_type=code`` and ``scope=email,public_profile``
   (https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow).
2. The callback's ``code`` is exchanged at ``{graph}/{version}/oauth/access_token`` with the
   app id and secret and the *identical* ``redirect_uri``.
3. ``/debug_token``, asked with the app access token ``{app_id}|{app_secret}``, confirms that
   the user access token is valid and was issued to *our* app, for which user.
4. ``/me?fields=id,name,email`` with ``appsecret_proof`` = hex HMAC-SHA256(key = app secret,
   message = access token), always sent ("Require App Secret" is on for our app;
   https://developers.facebook.com/docs/graph-api/securing-requests).

The subject is the app-scoped user id, so the issuer is ``facebook:{app_id}``: a new Facebook
app means new ids. Facebook gives no verified-email flag and no MFA signal.

No authlib client here: there is no ID token, discovery or PKCE to delegate, and the two Graph
calls need the app-secret proof that authlib's clients do not send.

``auth_nonce`` (sent with ``auth_type=reauthenticate`` on a forced sign-in) is kept but not
verified: the legacy ``oauth/access_token_info`` that echoed it is gone, and neither the token
response nor ``/debug_token`` returns it today. The code flow with our secret and the kept
``state`` already bind the callback to this login.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import requests

from brokers.base import Broker
from brokers.base import BrokeredIdentity
from brokers.base import BrokerError
from brokers.base import UpstreamRequest
from brokers.settings import Kind
from brokers.settings import Setting
from brokers.settings import parse_settings

log = logging.getLogger("idp.brokers.facebook")

ENV_PREFIX = "IDP_BROKER_FACEBOOK_"
DEFAULT_DIALOG_BASE = "https://www.facebook.com"
DEFAULT_GRAPH_BASE = "https://graph.facebook.com"
DEFAULT_TIMEOUT = 10.0
#: Comma-separated, as the Login Dialog expects.
SCOPE = "email,public_profile"
PROFILE_FIELDS = "id,name,email"
#: A pinned Graph API version: ``v21.0``.
GRAPH_VERSION = re.compile(r"v[1-9][0-9]*\.0")

FACEBOOK_SETTINGS = (
    Setting("app_id", Kind.TEXT, "the Facebook app", required=True),
    Setting("app_secret", Kind.SECRET, "its secret", required=True),
    Setting(
        "graph_version",
        Kind.PATTERN,
        "the pinned Graph API version",
        required=True,
        pattern=GRAPH_VERSION,
        hint="a pinned version like v21.0",
    ),
    Setting("dialog_base", Kind.URL, "Login Dialog host", default=DEFAULT_DIALOG_BASE),
    Setting("graph_base", Kind.URL, "Graph API host", default=DEFAULT_GRAPH_BASE),
    Setting("timeout", Kind.SECONDS, "per Graph request", default="10", maximum=60),
)


def compute_appsecret_proof(app_secret: str, access_token: str) -> str:
    """Graph's ``appsecret_proof``: hex HMAC-SHA256 with the app secret as the key and the
    access token as the message (Securing Graph API Requests)."""
    return hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()


class FacebookBroker(Broker):
    """Facebook Login for one Facebook app (``IDP_BROKER_FACEBOOK_*``)."""

    name = "facebook"
    SETTINGS = FACEBOOK_SETTINGS

    def __init__(
        self,
        app_id: str,
        app_secret: str,
        graph_version: str,
        dialog_base: str = DEFAULT_DIALOG_BASE,
        graph_base: str = DEFAULT_GRAPH_BASE,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not GRAPH_VERSION.fullmatch(graph_version):
            raise ValueError(f"Graph API version must look like v21.0, not {graph_version!r}")
        self.app_id = app_id
        self.app_secret = app_secret
        self.graph_version = graph_version
        self.dialog_url = f"{dialog_base.rstrip('/')}/{graph_version}/dialog/oauth"
        self.graph_url = f"{graph_base.rstrip('/')}/{graph_version}"
        self.timeout = timeout

    @classmethod
    def from_config(cls, config: Mapping[str, str], env_prefix: str = ENV_PREFIX) -> FacebookBroker:
        """Build from ``IDP_BROKER_FACEBOOK_*`` with the prefix stripped and lower-cased
        (``IDP_BROKER_FACEBOOK_APP_ID`` arrives as ``app_id``), checked against
        :data:`FACEBOOK_SETTINGS`. A missing or malformed setting raises ``ValueError`` naming
        the variable, so that startup stops."""
        values = parse_settings(FACEBOOK_SETTINGS, config, env_prefix)
        return cls(
            values["app_id"],
            values["app_secret"],
            values["graph_version"],
            values.get("dialog_base", DEFAULT_DIALOG_BASE),
            values.get("graph_base", DEFAULT_GRAPH_BASE),
            values.get("timeout", DEFAULT_TIMEOUT),
        )

    @property
    def issuer(self) -> str:
        """App-scoped ids are unique per app only: ``facebook:{app_id}``."""
        return f"facebook:{self.app_id}"

    def start(self, request: UpstreamRequest) -> tuple[str, dict[str, Any]]:
        """The Login Dialog URL. ``force_login`` asks for the password again
        (``auth_type=reauthenticate``); Facebook has no account chooser and no ``login_hint``,
        so ``select_account`` and ``login_hint`` have no effect (L10: sign out upstream)."""
        state = secrets.token_urlsafe(32)
        params = {
            "client_id": self.app_id,
            "redirect_uri": request.redirect_uri,
            "state": state,
            "response_type": "code",
            "scope": SCOPE,
        }
        kept: dict[str, Any] = {"state": state, "redirect_uri": request.redirect_uri}
        if request.force_login:
            # Facebook wants an alphanumeric nonce, unique per login attempt.
            kept["auth_nonce"] = params["auth_nonce"] = secrets.token_hex(16)
            params["auth_type"] = "reauthenticate"
        return f"{self.dialog_url}?{urlencode(params, safe=',')}", kept

    def finish(self, callback: Mapping[str, str], kept: dict[str, Any]) -> BrokeredIdentity:
        check_state(callback.get("state"), kept.get("state"))
        if "error" in callback or "error_code" in callback:
            error = callback.get("error", "")
            reason = callback.get("error_reason") or callback.get("error_code") or ""
            detail = f"{error} ({reason})" if reason else error
            if error == "access_denied":
                raise BrokerError("access_denied", detail[:100])
            raise BrokerError("upstream_error", detail[:100])
        code = callback.get("code")
        if not code:
            raise BrokerError("missing_code")
        access_token = self.redeem_code(code, str(kept.get("redirect_uri", "")))
        user_id = self.inspect_token(access_token)
        profile = self.read_profile(access_token)
        subject = profile.get("id")
        if not isinstance(subject, str) or not subject:
            raise BrokerError("no_subject", "the profile has no id")
        if subject != user_id:
            raise BrokerError("invalid_id_token", "the profile is not the token's user")
        email = profile.get("email")
        name = profile.get("name")
        return BrokeredIdentity(
            provider=self.name,
            issuer=self.issuer,
            subject=subject,
            email=email if isinstance(email, str) and email else None,
            email_verified=False,
            display_name=name if isinstance(name, str) and name else None,
        )

    def redeem_code(self, code: str, redirect_uri: str) -> str:
        """Exchange the code (single use) for a user access token."""
        form = {
            "client_id": self.app_id,
            "client_secret": self.app_secret,
            "code": code,
            "redirect_uri": redirect_uri,
        }
        status, payload = self.call("post", f"{self.graph_url}/oauth/access_token", form)
        token = payload.get("access_token")
        if status != 200 or not isinstance(token, str) or not token:
            raise BrokerError("token_error", describe_graph_error(status, payload))
        return token

    def inspect_token(self, access_token: str) -> str:
        """``/debug_token``: the token is valid and ours; returns its user id."""
        params = {
            "input_token": access_token,
            "access_token": f"{self.app_id}|{self.app_secret}",
        }
        status, payload = self.call("get", f"{self.graph_url}/debug_token", params)
        data = payload.get("data")
        if status != 200 or not isinstance(data, dict):
            raise BrokerError("invalid_id_token", describe_graph_error(status, payload))
        # The token's audience: a token issued to another app must never sign anyone in.
        if str(data.get("app_id", "")) != self.app_id:
            raise BrokerError("invalid_id_token", "the token was issued to another app")
        user_id = data.get("user_id")
        if data.get("is_valid") is not True or not isinstance(user_id, str) or not user_id:
            raise BrokerError("invalid_id_token", "the token is not a valid user token")
        return user_id

    def read_profile(self, access_token: str) -> dict[str, Any]:
        """``/me`` with the app-secret proof; ``email`` is absent when not granted."""
        params = {
            "fields": PROFILE_FIELDS,
            "access_token": access_token,
            "appsecret_proof": compute_appsecret_proof(self.app_secret, access_token),
        }
        status, payload = self.call("get", f"{self.graph_url}/me", params)
        if status != 200:
            raise BrokerError("upstream_error", describe_graph_error(status, payload))
        return payload

    def call(self, method: str, url: str, params: dict[str, str]) -> tuple[int, dict[str, Any]]:
        """One Graph request; returns the status and the JSON object answered (empty when the
        body is none). POST sends a form, so the secret and code stay out of the URL."""
        try:
            response = requests.request(
                method,
                url,
                params=params if method == "get" else None,
                data=params if method == "post" else None,
                timeout=self.timeout,
                allow_redirects=False,
            )
        # ``from None``: the requests exception's text holds the URL, access token included.
        except requests.Timeout:
            raise BrokerError("timeout", f"graph {url.rsplit('/', 1)[-1]}") from None
        except requests.RequestException as error:
            detail = f"graph {url.rsplit('/', 1)[-1]}: {type(error).__name__}"
            raise BrokerError("unreachable", detail) from None
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if response.status_code >= 500:
            log.warning("facebook graph answered HTTP %s", response.status_code)
        return response.status_code, payload if isinstance(payload, dict) else {}


def check_state(received: str | None, expected: Any) -> None:
    """The callback's ``state`` against the kept one, in constant time."""
    if not isinstance(expected, str) or not expected or not received:
        raise BrokerError("bad_state")
    if not hmac.compare_digest(received.encode(), expected.encode()):
        raise BrokerError("bad_state")


def describe_graph_error(status: int, payload: Mapping[str, Any]) -> str:
    """``HTTP 400 OAuthException code 190``: the status and Graph error type and code, never
    the message (which may quote what we sent)."""
    error = payload.get("error")
    if isinstance(error, dict):
        return f"HTTP {status} {error.get('type', 'error')} code {error.get('code')}"
    return f"HTTP {status}"
