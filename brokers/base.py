"""The shared contract of every upstream connector (DESIGN.md Layout; UPSTREAMS.md).

A broker turns one upstream sign-in into a :class:`BrokeredIdentity` and nothing more: what
follows (finding the user, policies, tokens) is the login transaction's job. The per-login
state (``state``, ``nonce``, PKCE verifier, redirect URI) is returned by :meth:`Broker.start`
for the transaction to keep server-side, never in a cookie.
"""

from __future__ import annotations

from abc import ABC
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import ClassVar

from brokers.settings import Setting


@dataclass(frozen=True)
class BrokeredIdentity:
    """An upstream sign-in. The identity key is (provider, issuer, subject) (L7): a user is
    never found, created or linked by email, which is a display value only."""

    provider: str
    #: The upstream's issuer (or, for Facebook, ``facebook:<app id>``; for LDAP the directory).
    issuer: str
    subject: str
    email: str | None = None
    email_verified: bool = False
    #: The upstream's ``amr`` as received; empty means "federated, method unknown".
    upstream_amr: tuple[str, ...] = field(default_factory=tuple)
    upstream_acr: str | None = None
    display_name: str | None = None


@dataclass(frozen=True)
class UpstreamRequest:
    """What our login transaction asks of the upstream."""

    redirect_uri: str
    #: The relying party asked for a fresh sign-in (``prompt=login`` or an exceeded ``max_age``).
    force_login: bool = False
    max_age: int | None = None
    login_hint: str | None = None
    #: Offer the upstream's account chooser (L10: signed in upstream with another account).
    select_account: bool = False


class BrokerError(Exception):
    """An upstream sign-in that failed; ``reason`` is an audit reason code (X3)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


#: Reason codes a broker may raise, for pages and the audit log.
REASONS = (
    "access_denied",  # the person declined upstream
    "upstream_error",  # the upstream answered with another error
    "bad_state",  # missing or wrong state: forged or replayed callback
    "missing_code",
    "token_error",  # the token request failed
    "invalid_id_token",  # signature, expiry, audience or another claim check failed
    "wrong_issuer",
    "nonce_mismatch",
    "timeout",
    "unreachable",
    "no_subject",
)


class Broker(ABC):
    """One upstream. Subclasses state only what differs (endpoints, claims, amr)."""

    #: Registry name: ``google``, ``microsoft``, ``facebook``, ``daccount``, ``ad``.
    name: str
    #: Its ``IDP_BROKER_<NAME>_*`` settings: what :meth:`from_config` reads and the README lists.
    SETTINGS: ClassVar[tuple[Setting, ...]] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, str], env_prefix: str) -> Broker:
        """The broker from its settings (prefix stripped, keys lower-case), checked against
        :attr:`SETTINGS`.

        :raises ValueError: naming the variable that is missing, unknown or malformed.
        """
        raise NotImplementedError(f"{cls.__name__} is not built from settings")

    @abstractmethod
    def start(self, request: UpstreamRequest) -> tuple[str, dict[str, Any]]:
        """The upstream authorization URL, and the state the transaction keeps for
        :meth:`finish` (JSON-serialisable)."""

    @abstractmethod
    def finish(self, callback: Mapping[str, str], kept: dict[str, Any]) -> BrokeredIdentity:
        """Check the callback (``state`` first, in constant time; then ``error``), redeem the
        code, validate the ID token or profile, and return the identity; raise
        :class:`BrokerError` on anything else. Never returns a partial identity."""
