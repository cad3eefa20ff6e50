"""The app's services, typed: one :class:`Service` per ``app.extensions`` key.

``create_app`` registers each service once (``extensions.store.register(app, ...)``); code
reads it with ``extensions.store()`` inside an app context, or ``extensions.store.of(app)``
given the app. The key is written here only, so a misspelt key cannot happen, and each reader
gets the service's type instead of ``Any``.

This module imports no other part of the provider at run time: the classes below are for the
type checker only, so every module may import it without an import cycle (the modules that
define them import nothing that uses it).
"""

from __future__ import annotations

from ipaddress import IPv4Network
from ipaddress import IPv6Network
from typing import TYPE_CHECKING
from typing import Generic
from typing import TypeVar
from typing import cast

from flask import current_app
from flask.sansio.app import App

if TYPE_CHECKING:
    from authlib.integrations.flask_oauth2 import AuthorizationServer

    from brokers.base import Broker
    from idp.audit_chain.sealer import Sealer
    from idp.backchannel.dispatcher import Dispatcher
    from idp.background import BackgroundJobs
    from idp.background import Sweeper
    from idp.config import Settings
    from idp.mail.mailer import Mailer
    from idp.oidc.client_cache import ClientCache
    from idp.oidc.keys import KeyStore
    from idp.sms.base import SmsSender
    from idp.store.base import EphemeralStore
    from idp.twofactor.secrets_box import SecretBox
    from idp.users.passwords import PasswordHashing

T = TypeVar("T")

Network = IPv4Network | IPv6Network


class Service(Generic[T]):
    """One service of the app, stored in ``app.extensions[key]``."""

    def __init__(self, key: str) -> None:
        self.key = key

    def register(self, app: App, value: T) -> None:
        app.extensions[self.key] = value

    def of(self, app: App) -> T:
        # Only register() writes the key, with a T.
        return cast(T, app.extensions[self.key])

    def __call__(self) -> T:
        """The service of the current app (needs an app context)."""
        return self.of(current_app)

    def __repr__(self) -> str:
        return f"Service({self.key!r})"


settings: Service[Settings] = Service("idp.settings")
#: Transactions, codes, access tokens, sessions and counters (Redis or SQL).
store: Service[EphemeralStore] = Service("idp.store")
passwords: Service[PasswordHashing] = Service("idp.passwords")
mailer: Service[Mailer] = Service("idp.mailer")
#: Signing keys (JWKs) and their rotation.
keys: Service[KeyStore] = Service("idp.keys")
#: Encrypts authenticator-app and directory secrets at rest.
secretbox: Service[SecretBox] = Service("idp.secretbox")
sms: Service[SmsSender] = Service("idp.sms")
#: The configured upstreams by name, built at start-up from brokers/registry.py.
brokers: Service[dict[str, Broker]] = Service("idp.brokers")
#: authlib's authorization server (idp.oidc.server.IdpAuthorizationServer).
oauth: Service[AuthorizationServer] = Service("idp.oauth")
#: Registered clients, cached per process for the token endpoint (idp.oidc.client_cache).
clients: Service[ClientCache] = Service("idp.clients")
#: Delivers logout tokens to relying parties off the request thread, and retries them (X7).
backchannel: Service[Dispatcher] = Service("idp.backchannel")
#: Runs invitation uploads off the request thread, one job at a time (G3).
invite_jobs: Service[BackgroundJobs] = Service("idp.invite_jobs")
#: Each serving node's sweep for CSV invitation jobs no node holds (idp/users/bulk_invite.py).
invite_sweeper: Service[Sweeper] = Service("idp.invite_sweeper")
#: Chains audit events off the request thread after they are committed (X8).
audit_sealer: Service[Sealer] = Service("idp.audit_sealer")
#: The networks whose clients may read /metrics (IDP_METRICS_ALLOW, parsed at start-up).
metrics_allow: Service[tuple[Network, ...]] = Service("idp.metrics_allow")
