"""An OpenID Connect upstream's published metadata: the discovery document and the JWKS, each
cached, fetched with a timeout, every failure a :class:`~brokers.base.BrokerError`.

OIDC Discovery 1.0 §4 (``{issuer}/.well-known/openid-configuration``, whose ``issuer`` must
equal the configured one, §4.3) and OIDC Core §10.1.1 (keys rotate: the caller asks for the
JWKS again, ``force=True``, when a token names a key we have not seen).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import requests

from brokers.base import BrokerError

#: Discovery members without which the code flow cannot run.
REQUIRED_METADATA = ("issuer", "authorization_endpoint", "token_endpoint")
DEFAULT_CACHE_TTL = 3600.0


def get_json(url: str, what: str, timeout: float, bearer: str | None = None) -> dict[str, Any]:
    """The JSON object at ``url``.

    :param what: names the document in the error detail (``discovery``, ``jwks``, ``userinfo``).
    :raises BrokerError: ``timeout``, ``unreachable`` or ``upstream_error``.
    """
    headers = {"Accept": "application/json"}
    if bearer is not None:
        headers["Authorization"] = f"Bearer {bearer}"
    try:
        response = requests.get(url, headers=headers, timeout=timeout)
        response.raise_for_status()
        document = response.json()
    except requests.Timeout as error:
        raise BrokerError("timeout", what) from error
    except requests.ConnectionError as error:
        raise BrokerError("unreachable", what) from error
    except (requests.RequestException, ValueError) as error:
        raise BrokerError("upstream_error", f"{what}: {type(error).__name__}") from error
    if not isinstance(document, dict):
        raise BrokerError("upstream_error", f"{what} is not a JSON object")
    return document


class Discovery:
    """One upstream's discovery document and keys, cached (thread-safe).

    :param discovery_url: where the discovery document is.
    :param configured_issuer: the issuer the document must state; ``None`` accepts its own.
    :param metadata_overrides: replace members after discovery (configured endpoints).
    :param timeout: seconds per HTTP request.
    :param discovery_ttl: seconds the discovery document is kept.
    :param jwks_ttl: seconds the JWKS is kept.
    :param clock: ``time.time`` unless a test passes another.
    """

    def __init__(
        self,
        discovery_url: str,
        *,
        configured_issuer: str | None = None,
        metadata_overrides: Mapping[str, Any] | None = None,
        timeout: float,
        discovery_ttl: float = DEFAULT_CACHE_TTL,
        jwks_ttl: float = DEFAULT_CACHE_TTL,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.discovery_url = discovery_url
        self.configured_issuer = configured_issuer
        self.metadata_overrides = dict(metadata_overrides or {})
        self.timeout = timeout
        self.discovery_ttl = discovery_ttl
        self.jwks_ttl = jwks_ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._metadata_expires = 0.0
        self._jwks: list[dict[str, Any]] | None = None
        self._jwks_expires = 0.0

    def load_metadata(self) -> dict[str, Any]:
        """The discovery document with ``metadata_overrides`` applied, cached.

        :raises BrokerError: ``timeout``, ``unreachable``, ``upstream_error``, ``wrong_issuer``.
        """
        now = self.clock()
        with self._lock:
            if self._metadata is not None and now < self._metadata_expires:
                return self._metadata
        document = get_json(self.discovery_url, "discovery", self.timeout)
        missing = [key for key in REQUIRED_METADATA if not isinstance(document.get(key), str)]
        if missing:
            raise BrokerError("upstream_error", f"discovery lacks {', '.join(missing)}")
        if self.configured_issuer is not None and document["issuer"] != self.configured_issuer:
            raise BrokerError("wrong_issuer", "discovery issuer is not the configured issuer")
        metadata = {**document, **self.metadata_overrides}
        with self._lock:
            self._metadata = metadata
            self._metadata_expires = now + self.discovery_ttl
        return metadata

    def load_jwks(self, *, force: bool = False) -> list[dict[str, Any]]:
        """The upstream's published keys (``keys`` of ``jwks_uri``), cached; ``force`` refetches."""
        now = self.clock()
        with self._lock:
            if not force and self._jwks is not None and now < self._jwks_expires:
                return self._jwks
        uri = self.load_metadata().get("jwks_uri")
        if not isinstance(uri, str):
            raise BrokerError("upstream_error", "discovery has no jwks_uri")
        document = get_json(uri, "jwks", self.timeout)
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise BrokerError("upstream_error", "jwks has no keys")
        jwks = [key for key in keys if isinstance(key, dict)]
        with self._lock:
            self._jwks = jwks
            self._jwks_expires = now + self.jwks_ttl
        return jwks
