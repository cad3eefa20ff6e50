"""D1: the contract's Active Directory connection (AD FS or a direct LDAP bind), found at
sign-in by its connection ID (L8)."""

from __future__ import annotations

import re
import secrets
import ssl
import string
from typing import Any
from urllib.parse import urlsplit

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.contracts.contract import get_contract
from idp.errors import NotFoundError
from idp.errors import ProvisioningError
from idp.mail import send_mail
from idp.models import AdConnection
from idp.models import User
from idp.models import db
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role

#: L8: ``adfs-`` followed by 18 characters; 36^18 ≈ 2^93, so connection IDs are unguessable.
CONNECTION_ID = re.compile(r"adfs-[a-z0-9]{18}")
ALPHABET = string.ascii_lowercase + string.digits
KINDS = ("adfs", "ldap")
MAX_FIELD = 500
MAX_SECRET = 1000
#: A CA bundle of a few certificates.
MAX_CA_PEM = 50_000


class InUseError(ProvisioningError):
    """The connection cannot be removed while users sign in with it (``ad_in_use``)."""

    def __init__(self, users: int) -> None:
        super().__init__(
            f"{users} user(s) sign in with Active Directory; change their login method first",
            "ad_in_use",
        )
        self.users = users


def new_connection_id() -> str:
    return "adfs-" + "".join(secrets.choice(ALPHABET) for _ in range(18))


def find_connection(connection_id: str) -> AdConnection | None:
    connection_id = connection_id.strip().lower()
    if not CONNECTION_ID.fullmatch(connection_id):
        return None
    return db.session.get(AdConnection, connection_id)


def list_ad_connections() -> list[AdConnection]:
    return list(db.session.query(AdConnection).order_by(AdConnection.created_at))


def contract_connection(contract_id: str) -> AdConnection | None:
    """The contract's AD connection (at most one per contract), of either kind."""
    return db.session.query(AdConnection).filter_by(contract_id=contract_id).one_or_none()


def ad_user_count(contract_id: str) -> int:
    """How many users of the contract sign in with Active Directory (method ``ad``)."""
    return (
        db.session.query(User)
        .filter_by(contract_id=contract_id, login_method=LoginMethod.AD)
        .count()
    )


def _require(settings: dict[str, Any], keys: tuple[str, ...], kind: str) -> None:
    for key in keys:
        value = settings.get(key)
        if not isinstance(value, str) or not value.strip():
            raise ProvisioningError(f"{kind} needs {key}", f"missing_{key}")
        if len(value) > MAX_FIELD:
            raise ProvisioningError(f"{key} is too long", f"long_{key}")


def _check_adfs(settings: dict[str, Any]) -> None:
    _require(settings, ("issuer", "client_id"), "AD FS")
    if len(str(settings.get("resource") or "")) > MAX_FIELD:
        raise ProvisioningError("resource is too long", "long_resource")
    issuer = urlsplit(settings["issuer"])
    if issuer.scheme != "https" and not (issuer.scheme == "http" and settings.get("allow_http")):
        raise ProvisioningError("the AD FS issuer must be https", "not_https")
    if not issuer.hostname or issuer.query or issuer.fragment or " " in settings["issuer"]:
        raise ProvisioningError(
            "the AD FS issuer is a URL like https://fs.example.co.jp/adfs", "bad_issuer"
        )


def _check_ldap(settings: dict[str, Any]) -> None:
    """What :class:`brokers.ldap.LdapDirectory` would refuse at the first sign-in, refused
    now: a URL that is not ``ldap://``/``ldaps://``, a clear-text bind, CA certificates
    that do not load."""
    _require(settings, ("url", "base_dn", "bind_dn"), "LDAP")
    url = urlsplit(settings["url"])
    start_tls = bool(settings.get("start_tls"))
    try:
        port_ok = url.port is None or url.port > 0
    except ValueError:
        port_ok = False
    if url.scheme not in ("ldap", "ldaps") or not url.hostname or not port_ok:
        raise ProvisioningError(
            "the LDAP URL is ldaps://host:636, or ldap://host:389 with StartTLS", "bad_ldap_url"
        )
    if url.scheme == "ldap" and not start_tls:
        raise ProvisioningError(
            "ldap:// without StartTLS would send passwords in clear text", "ldap_clear_text"
        )
    if url.scheme == "ldaps" and start_tls:
        raise ProvisioningError(
            "ldaps:// is already TLS: StartTLS is for ldap://", "ldaps_start_tls"
        )
    ca_pem = settings.get("ca_pem")
    if ca_pem:
        if len(ca_pem) > MAX_CA_PEM:
            raise ProvisioningError("the CA certificates are too long", "bad_ca")
        try:
            ssl.create_default_context(cadata=ca_pem)
        except (ssl.SSLError, ValueError) as error:
            raise ProvisioningError(f"unusable CA certificates: {error}", "bad_ca") from error


def check_settings(kind: str, settings: dict[str, Any]) -> None:
    """D1: refuse settings that cannot work, before anything is stored.

    :raises ProvisioningError: its ``reason`` names the field (``missing_issuer``,
        ``not_https``, ``bad_issuer``, ``bad_ldap_url``, ``ldap_clear_text``,
        ``ldaps_start_tls``, ``bad_ca``, ``missing_<field>``, ``long_<field>``, …)."""
    if kind == "adfs":
        _check_adfs(settings)
    elif kind == "ldap":
        _check_ldap(settings)
    else:
        raise ProvisioningError(f"unknown kind {kind}", "bad_kind")


def _check_secret(secret: str) -> None:
    if not secret:
        raise ProvisioningError("the client secret or bind password is required", "missing_secret")
    if len(secret) > MAX_SECRET:
        raise ProvisioningError("the client secret or bind password is too long", "long_secret")


def _check_actor(actor: Actor, contract_id: str) -> None:
    """G8: a person acts on their own contract's AD only; another one's is not found."""
    if actor.contract_id is not None and actor.contract_id != contract_id:
        raise NotFoundError("no AD connection")


@audit.change("ad_connection_add")
def add_ad_connection(
    actor: Actor, contract_id: str, kind: str, settings: dict[str, Any], secret: str
) -> AdConnection:
    """D1: configure the contract's AD (AD FS or LDAP), issue its connection ID and mail the
    contractor the login URLs.

    :param secret: the AD FS client secret or the LDAP service account's password; sealed
        with ``IDP_ENCRYPTION_KEY`` and never audited."""
    _check_actor(actor, contract_id)
    get_contract(contract_id)
    if contract_connection(contract_id) is not None:
        raise ProvisioningError("the contract already has an AD connection", "exists")
    check_settings(kind, settings)
    _check_secret(secret)
    connection = AdConnection(
        connection_id=new_connection_id(),
        contract_id=contract_id,
        kind=kind,
        settings={k: v for k, v in settings.items() if k != "allow_http"},
        secret_sealed=extensions.secretbox().seal(secret),
    )
    db.session.add(connection)
    db.session.commit()
    audit.record(
        "ad_connection_add",
        "ok",
        None,
        contract_id=contract_id,
        actor=actor,
        target=connection.connection_id,
        details={"kind": kind},
    )
    contractor = (
        db.session.query(User).filter_by(contract_id=contract_id, role=Role.CONTRACTOR).first()
    )
    if contractor is not None:
        internet_url, line_url = ad_login_urls(connection.connection_id)
        send_mail(
            contractor.email,
            "ad_connection",
            contractor.locale,
            user=contractor,
            connection_id=connection.connection_id,
            internet_url=internet_url,
            line_url=line_url,
        )
    return connection


def ad_login_urls(connection_id: str) -> tuple[str, str]:
    """L8, D1: the AD login URLs of a connection, for the internet and for line
    authentication (built from the configured issuer and line login URL, never a Host)."""
    app_settings = extensions.settings()
    line_base = app_settings.line_login_url or f"{app_settings.issuer}/line"
    return (
        f"{app_settings.issuer}/login/ad/{connection_id}",
        f"{line_base}/login/ad/{connection_id}",
    )


def mail_ad_login_urls(user: User, connection: AdConnection) -> None:
    """D2: a user whose login method has just become ``ad`` gets the same login URLs and
    connection ID as the contractor's D1 mail, in the user's own wording and language."""
    internet_url, line_url = ad_login_urls(connection.connection_id)
    send_mail(
        user.email,
        "ad_login",
        user.locale,
        user=user,
        connection_id=connection.connection_id,
        internet_url=internet_url,
        line_url=line_url,
    )


@audit.change("ad_connection_change")
def update_ad_connection(
    actor: Actor, connection_id: str, settings: dict[str, Any], secret: str | None = None
) -> AdConnection:
    """D1, D2: change the contract's AD settings. The kind and the connection ID stay (the
    users' login URLs keep working; to change the kind, remove and configure again).

    :param secret: a new client secret or bind password; ``None`` or empty keeps the one
        stored.

    A directory keeps the issuer of its users' identities across a change of URL or base DN
    (``directory_issuer``, pinned on the first change): the entries' ``objectGUID`` are
    the same on every domain controller, so the users bound stay bound."""
    connection = db.session.get(AdConnection, connection_id)
    if connection is None:
        raise NotFoundError(f"no connection {connection_id}")
    _check_actor(actor, connection.contract_id)
    check_settings(connection.kind, settings)
    if secret:
        _check_secret(secret)
    kept = {k: v for k, v in settings.items() if k not in ("allow_http", "directory_issuer")}
    if connection.kind == "ldap":
        from brokers.ldap import default_issuer

        old = connection.settings
        kept["directory_issuer"] = old.get("directory_issuer") or default_issuer(
            old["url"], old["base_dn"]
        )
    changed = sorted(
        key
        for key in set(kept) | set(connection.settings)
        if kept.get(key) != connection.settings.get(key) and key != "directory_issuer"
    )
    connection.settings = kept
    if secret:
        connection.secret_sealed = extensions.secretbox().seal(secret)
        changed.append("secret")
    db.session.commit()
    audit.record(
        "ad_connection_change",
        "ok",
        None,
        contract_id=connection.contract_id,
        actor=actor,
        target=connection_id,
        details={"kind": connection.kind, "changed": changed},
    )
    return connection


@audit.change("ad_connection_remove")
def remove_ad_connection(actor: Actor, connection_id: str, *, allow_in_use: bool = False) -> None:
    """Remove a connection: its login URLs stop working at once.

    Refused while users of the contract sign in with AD (``ad_in_use``, naming how many):
    without the connection they could not sign in at all, nor reset a password (K3 is for
    ``password`` users). ``allow_in_use``: the operator's ``--force``."""
    connection = db.session.get(AdConnection, connection_id)
    if connection is None:
        raise NotFoundError(f"no connection {connection_id}")
    contract_id = connection.contract_id
    _check_actor(actor, contract_id)
    in_use = ad_user_count(contract_id)
    if in_use and not allow_in_use:
        raise InUseError(in_use)
    db.session.delete(connection)
    db.session.commit()
    audit.record(
        "ad_connection_remove",
        "ok",
        None,
        contract_id=contract_id,
        actor=actor,
        target=connection_id,
        details={"users": in_use},
    )
