"""The OAuth 2.0 authorization code flow with one upstream, as its client (RFC 6749 §4.1,
RFC 7636 PKCE S256), through authlib's requests client
(:class:`~authlib.integrations.requests_client.OAuth2Session`).

The per-login values (``state``, ``nonce``, ``code_verifier``, ``redirect_uri``) are returned
for our login transaction to keep server-side; the Flask integration's ``authorize_redirect``
is not used because it keeps them in the cookie session. Codes, tokens and verifiers are never
logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session

from brokers.base import BrokerError
from brokers.id_token import constant_time_equal


@dataclass(frozen=True)
class CodeFlowClient:
    """Our client registration at one upstream.

    :param token_endpoint_auth_method: ``client_secret_basic``, ``client_secret_post``, ``none``.
    :param timeout: seconds for each HTTP request to the upstream.
    """

    client_id: str
    client_secret: str
    token_endpoint_auth_method: str
    scopes: tuple[str, ...]
    timeout: float

    def authorization_url(
        self, endpoint: str, redirect_uri: str, *, pkce: bool, params: Mapping[str, str]
    ) -> tuple[str, dict[str, Any]]:
        """The authorization URL (``response_type=code``, default query response mode) and the
        values to keep: ``state``, ``nonce``, ``code_verifier`` (``None`` without PKCE) and
        ``redirect_uri``."""
        state = generate_token(32)
        nonce = generate_token(32)
        code_verifier = generate_token(64) if pkce else None
        with self._session(redirect_uri, pkce) as client:
            url, _ = client.create_authorization_url(
                endpoint, state=state, code_verifier=code_verifier, nonce=nonce, **params
            )
        kept = {
            "state": state,
            "nonce": nonce,
            "code_verifier": code_verifier,
            "redirect_uri": redirect_uri,
        }
        return str(url), kept

    @staticmethod
    def code_of(callback: Mapping[str, str], kept: Mapping[str, Any]) -> str:
        """The callback's ``code`` once ``state`` (first, in constant time) and ``error`` are
        checked (RFC 6749 §4.1.2, §10.12).

        :raises BrokerError: ``bad_state``, ``access_denied``, ``upstream_error``,
            ``missing_code``.
        """
        if not constant_time_equal(callback.get("state"), kept.get("state")):
            raise BrokerError("bad_state")
        error = callback.get("error")
        if error:
            if error == "access_denied":
                raise BrokerError("access_denied")
            raise BrokerError("upstream_error", str(error)[:64])
        code = callback.get("code")
        if not code:
            raise BrokerError("missing_code")
        return code

    def redeem(self, token_endpoint: str, code: str, kept: Mapping[str, Any]) -> dict[str, Any]:
        """The token response for ``code``, with the kept ``redirect_uri`` and verifier.

        :raises BrokerError: ``timeout``, ``unreachable`` or ``token_error``.
        """
        verifier = kept.get("code_verifier")
        extra = {"code_verifier": verifier} if isinstance(verifier, str) else {}
        try:
            with self._session(str(kept.get("redirect_uri")), verifier is not None) as client:
                token = client.fetch_token(
                    token_endpoint,
                    grant_type="authorization_code",
                    code=code,
                    timeout=self.timeout,
                    **extra,
                )
        except requests.Timeout as error:
            raise BrokerError("timeout", "token endpoint") from error
        except requests.ConnectionError as error:
            raise BrokerError("unreachable", "token endpoint") from error
        except OAuthError as error:
            raise BrokerError("token_error", str(error.error)[:64]) from error
        except (requests.RequestException, ValueError) as error:
            raise BrokerError("token_error", type(error).__name__) from error
        return dict(token)

    def _session(self, redirect_uri: str, pkce: bool) -> Any:
        return OAuth2Session(
            client_id=self.client_id,
            client_secret=self.client_secret,
            token_endpoint_auth_method=self.token_endpoint_auth_method,
            scope=" ".join(self.scopes),
            redirect_uri=redirect_uri,
            code_challenge_method="S256" if pkce else None,
            default_timeout=self.timeout,
        )
