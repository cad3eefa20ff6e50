"""Typed settings read once from ``IDP_*`` environment variables (or a dict in tests).

Every setting is documented here and in the README's configuration table.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "IDP_"
#: The footer's links: an absolute http(s) URL or a path on this site, never ``javascript:``.
FOOTER_URLS = ("help_url", "terms_url", "privacy_url", "operator_url")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; startup stops."""


@dataclass(frozen=True)
class Settings:
    #: Public base URL of the provider; ``iss`` of every token and the base of mailed links.
    issuer: str = "http://127.0.0.1:8000"
    #: Home page of the storage service (WORKSDRIVE) that the provider signs people in to:
    #: the "back to the service" link of the end pages (signed out, password changed, link
    #: errors). Unset: the provider's own home page (``/``), which says where to go.
    service_url: str = ""
    #: Folder for the SQLite file, the mail/SMS outboxes and other local state.
    instance_dir: str = str(PROJECT_ROOT / "instance")
    #: SQLAlchemy URL. Default: SQLite file ``idp.sqlite3`` in the instance folder.
    database_url: str = ""
    #: Redis URL for the ephemeral store. Unset: the SQL-backed ephemeral store.
    redis_url: str = ""
    #: ``smtp://host:port`` (or ``smtps://``, ``smtp+starttls://``, with ``user:pass@``).
    #: Unset: mails are written as ``.eml`` files to ``<instance>/outbox``.
    smtp_url: str = ""
    #: Sender of every mail.
    mail_from: str = "WORKSDRIVE <no-reply@worksdrive.example>"
    #: Flask secret key (signs the CSRF token). Required outside development.
    secret_key: str = ""
    #: Folder of the signing keys.
    keys_dir: str = str(PROJECT_ROOT / "keys")
    #: argon2id parameters (OWASP: m=19 MiB, t=2, p=1).
    argon2_memory_kib: int = 19456
    argon2_time_cost: int = 2
    argon2_parallelism: int = 1
    #: Password hashes and verifications running at once per process, the others wait their
    #: turn (argon2 releases the GIL; more at once than cores only adds contention and 19 MiB
    #: each). 0: one per core the process may use; ``idp serve`` sets cores / workers (at
    #: least 1) when the variable is unset.
    hash_concurrency: int = 0
    #: Lifetimes in seconds.
    access_token_ttl: int = 600
    id_token_ttl: int = 3600
    refresh_token_ttl: int = 30 * 86400
    authorization_code_ttl: int = 60
    login_transaction_ttl: int = 1800
    sso_session_ttl: int = 12 * 3600
    #: U1: a sensitive account-menu item (method, email, password, route, 2FA, AD) asks for a
    #: fresh sign-in when the last one is older than this many minutes.
    account_fresh_auth_minutes: int = 5
    #: Mark cookies ``Secure``. Default: on when the issuer is https.
    secure_cookies: bool | None = None
    #: Development mode: shows the developer outbox page at /dev/outbox.
    dev: bool = False
    #: Trusted proxies count for X-Forwarded-For (ProxyFix); 0 trusts none.
    trusted_proxies: int = 0
    #: Largest accepted request body in bytes.
    max_content_length: int = 64 * 1024
    #: Key that encrypts second-factor secrets at rest (Fernet, 32 url-safe base64 bytes).
    #: Required outside development; in development it is derived from the secret key.
    encryption_key: str = ""
    #: ``IDP_SMS_*`` variables, passed to the SMS gateway (idp/sms): see README.
    sms: dict[str, str] = field(default_factory=dict)
    #: ``IDP_BROKER_<NAME>_*`` variables per upstream (brokers/registry.py): see README.
    brokers: dict[str, dict[str, str]] = field(default_factory=dict)
    #: Base URL of the line-authentication login pages (L9), shown in the D1 mail.
    line_login_url: str = ""
    #: Shared secret of the line gateway's HMAC-SHA256 signatures; unset: no line
    #: authentication (every request is internet access).
    line_gateway_secret: str = ""
    #: Seconds a gateway signature stays fresh.
    line_gateway_max_skew: int = 60
    #: Failed password sign-ins per client address (IPv6: per /64) in a window of
    #: ``login_failures_per_ip_window`` seconds; past it the password form answers 429 before
    #: any account is looked at, so one address cannot lock out a contract's users (K1).
    #: 0 turns the limit off. Behind a proxy, set ``trusted_proxies`` or every client shares
    #: the proxy's address.
    login_failures_per_ip: int = 100
    login_failures_per_ip_window: int = 3600
    #: Wrong passwords per directory login per hour before the direct LDAP bind stops asking
    #: the directory (L8); keep it below the directories' own lockout threshold (UPSTREAMS.md:
    #: never drive a customer's AD lockout; CIS recommends a threshold of 5 or fewer).
    ldap_failures_per_hour: int = 4
    #: Networks (comma-separated CIDRs) whose clients may read ``/metrics`` without a token;
    #: the client address is the one ProxyFix gives (``IDP_TRUSTED_PROXIES``). Empty: none.
    metrics_allow: str = "127.0.0.0/8,::1/128"
    #: Bearer token that opens ``/metrics`` from anywhere; unset: no token access.
    metrics_token: str = ""
    #: C3: days a cancelled contract's users and data are kept before ``idp purge`` deletes
    #: them (the contract row, without its information, and the audit events stay).
    cancelled_retention_days: int = 90
    #: X8: days audit events are kept; ``idp purge`` deletes older ones and each contract's
    #: hash chain keeps a checkpoint so that ``idp audit verify`` still holds. 0: kept for ever.
    audit_retention_days: int = 730
    #: Seconds to wait for a relying party's ``backchannel_logout_uri`` to answer (X7).
    backchannel_logout_timeout: int = 5
    #: Seconds between the worker thread's retries of undelivered logout tokens; 0: only
    #: ``idp backchannel deliver`` retries them.
    backchannel_retry_interval: int = 60
    #: Seconds before the first retry of a mail the SMTP server did not take (then doubling,
    #: at most an hour; dropped after 20 attempts). The mail queue is in the database.
    mail_retry_backoff: int = 30
    #: Seconds between sweeps of the mail queue by each node's worker thread; 0: no worker
    #: (``idp mail queue --retry-now`` sends).
    mail_retry_interval: int = 15
    #: G3: seconds a node holds a CSV invitation job it runs (renewed after each row); a job
    #: whose holder stopped is taken over by another node's sweep within about this time.
    invite_job_lease: int = 60
    #: PostgreSQL ends a session of ours that stays this many seconds inside a transaction
    #: without a statement (``idle_in_transaction_session_timeout``): a node that hangs (a
    #: paused VM, SIGSTOP) in a transaction releases its row locks then, so that the node
    #: taking over its work is not blocked until it wakes. Above the longest upstream call
    #: (60 s) a request may make; 0: no bound.
    db_idle_in_transaction_timeout: int = 120
    #: Footer (issue 14): the operator's help page; unset: our own short help page ``/help``.
    help_url: str = ""
    #: The operator's terms of use and privacy policy; unset: no link (they are the
    #: operator's own text, which we do not write in its place).
    terms_url: str = ""
    privacy_url: str = ""
    #: Who runs this service: the footer's © line and, with ``operator_url``, its link.
    operator_name: str = ""
    operator_url: str = ""
    #: Load shedding (idp/admission) of sync workers: a request that waited in the kernel's
    #: queue longer than ``shed_wait_ms`` (``shed_target_ms`` once a queue stands) before a
    #: worker took it gets 503 with ``Retry-After``. ``idp serve --worker-class sync`` (the
    #: default) sets it when the variable is unset; an app built otherwise (the tests'
    #: threaded server, ``idp demo``) sheds nothing.
    shed_by_wait: bool = False
    #: Load shedding of gthread workers: requests in the application at once per worker
    #: process; past it they wait (``shed_queue``, ``shed_wait_ms``) or get 503 with
    #: ``Retry-After``. 0: no limit, nothing is shed. ``idp serve --worker-class gthread``
    #: sets ``SERVE_SHED_LIMIT`` when the variable is unset.
    shed_limit: int = 0
    #: Requests waiting per worker at most; the next one is refused at once. Keep it below
    #: ``idp serve --threads`` minus ``shed_limit`` (the threads are where they wait).
    shed_queue: int = 24
    #: Milliseconds a request may wait for a place or in the kernel's queue (the CoDel
    #: interval): past it, 503.
    shed_wait_ms: int = 500
    #: Milliseconds a request may wait once the queue has not been empty for
    #: ``shed_wait_ms`` (load past capacity, not a burst); the newest waiter goes first then.
    shed_target_ms: int = 50
    #: Seconds of the ``Retry-After`` of a shed request.
    shed_retry_after: int = 1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{Path(self.instance_dir) / 'idp.sqlite3'}"

    @property
    def cookies_secure(self) -> bool:
        if self.secure_cookies is not None:
            return self.secure_cookies
        return self.issuer.startswith("https://")


def _coerce(value: str, target: Any) -> Any:
    if target in (bool, "bool", "bool | None"):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"expected a boolean, got {value!r}")
    if target in (int, "int"):
        try:
            return int(value)
        except ValueError as error:
            raise ConfigError(f"expected an integer, got {value!r}") from error
    return value


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Read ``IDP_<NAME>`` for every field, then apply ``overrides`` (tests pass a dict)."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(Settings):
        if f.name in ("extra", "sms", "brokers"):
            continue
        raw = os.environ.get(ENV_PREFIX + f.name.upper())
        if raw is not None and raw != "":
            try:
                values[f.name] = _coerce(raw, f.type)
            except ConfigError as error:
                raise ConfigError(f"{ENV_PREFIX}{f.name.upper()}: {error}") from error
    values["sms"] = {
        key[len(ENV_PREFIX + "SMS_") :].lower(): value
        for key, value in os.environ.items()
        if key.startswith(ENV_PREFIX + "SMS_")
    }
    brokers: dict[str, dict[str, str]] = {}
    for key, value in os.environ.items():
        if key.startswith(ENV_PREFIX + "BROKER_"):
            name, _, option = key[len(ENV_PREFIX + "BROKER_") :].lower().partition("_")
            if option:
                brokers.setdefault(name, {})[option] = value
    values["brokers"] = brokers
    values.update(overrides or {})
    settings = Settings(**values)
    if not settings.issuer.startswith(("http://", "https://")) or settings.issuer.endswith("/"):
        raise ConfigError("IDP_ISSUER must be an http(s) URL without a trailing slash")
    if settings.service_url and not settings.service_url.startswith(("http://", "https://")):
        raise ConfigError("IDP_SERVICE_URL must be an http(s) URL")
    for name in FOOTER_URLS:
        url = getattr(settings, name)
        if url and not url.startswith(("https://", "http://", "/")) or url.startswith("//"):
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be an http(s) URL or a path")
    if settings.cancelled_retention_days < 0:
        raise ConfigError("IDP_CANCELLED_RETENTION_DAYS must be 0 or more")
    if settings.audit_retention_days < 0:
        raise ConfigError("IDP_AUDIT_RETENTION_DAYS must be 0 or more")
    for name in (
        "shed_limit",
        "shed_queue",
        "shed_wait_ms",
        "shed_target_ms",
        "hash_concurrency",
        "db_idle_in_transaction_timeout",
    ):
        if getattr(settings, name) < 0:
            raise ConfigError(f"{ENV_PREFIX}{name.upper()} must be 0 or more")
    if settings.shed_retry_after < 1:
        raise ConfigError("IDP_SHED_RETRY_AFTER must be 1 or more")
    if not settings.secret_key and not settings.dev:
        raise ConfigError("IDP_SECRET_KEY is required (set IDP_DEV=1 for local development)")
    if not settings.encryption_key and not settings.dev:
        raise ConfigError(
            "IDP_ENCRYPTION_KEY is required: 32 random bytes in url-safe base64 (a Fernet "
            "key), e.g. from `openssl rand -base64 32 | tr '+/' '-_'`"
        )
    return settings
