"""D1: the contract's Active Directory connection (AD FS or a direct LDAP bind), found at
sign-in by its connection ID (L8)."""

from __future__ import annotations

import re
import secrets
import string
from typing import Any

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
from idp.vocabulary import Role

#: L8: ``adfs-`` followed by 18 characters; 36^18 ≈ 2^93, so connection IDs are unguessable.
CONNECTION_ID = re.compile(r"adfs-[a-z0-9]{18}")
ALPHABET = string.ascii_lowercase + string.digits
KINDS = ("adfs", "ldap")


def new_connection_id() -> str:
    return "adfs-" + "".join(secrets.choice(ALPHABET) for _ in range(18))


def find_connection(connection_id: str) -> AdConnection | None:
    connection_id = connection_id.strip().lower()
    if not CONNECTION_ID.fullmatch(connection_id):
        return None
    return db.session.get(AdConnection, connection_id)


def list_ad_connections() -> list[AdConnection]:
    return list(db.session.query(AdConnection).order_by(AdConnection.created_at))


def _check_settings(kind: str, settings: dict[str, Any]) -> None:
    if kind == "adfs":
        for key in ("issuer", "client_id"):
            if not settings.get(key):
                raise ProvisioningError(f"AD FS needs {key}")
        if not settings["issuer"].startswith("https://") and not settings.get("allow_http"):
            raise ProvisioningError("the AD FS issuer must be https", "not_https")
    elif kind == "ldap":
        for key in ("url", "base_dn", "bind_dn"):
            if not settings.get(key):
                raise ProvisioningError(f"LDAP needs {key}")
    else:
        raise ProvisioningError(f"unknown kind {kind}")


@audit.change("ad_connection_add")
def add_ad_connection(
    actor: Actor, contract_id: str, kind: str, settings: dict[str, Any], secret: str
) -> AdConnection:
    """D1: configure the contract's AD (AD FS or LDAP), issue its connection ID and mail the
    contractor the login URLs.

    :param secret: the AD FS client secret or the LDAP service account's password; sealed
        with ``IDP_ENCRYPTION_KEY`` and never audited."""
    get_contract(contract_id)
    if db.session.query(AdConnection).filter_by(contract_id=contract_id).first():
        raise ProvisioningError("the contract already has an AD connection", "exists")
    _check_settings(kind, settings)
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


@audit.change("ad_connection_remove")
def remove_ad_connection(actor: Actor, connection_id: str) -> None:
    """Remove a connection: its login URLs stop working at once."""
    connection = db.session.get(AdConnection, connection_id)
    if connection is None:
        raise NotFoundError(f"no connection {connection_id}")
    contract_id = connection.contract_id
    db.session.delete(connection)
    db.session.commit()
    audit.record(
        "ad_connection_remove",
        "ok",
        None,
        contract_id=contract_id,
        actor=actor,
        target=connection_id,
    )
