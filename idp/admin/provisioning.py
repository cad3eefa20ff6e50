"""Create contracts, users and clients (used by the CLI and the demo; later the console)."""

from __future__ import annotations

import secrets
from datetime import UTC
from datetime import datetime
from typing import Any

from flask import current_app

from idp.accounts.passwords import password_problems
from idp.login.identify import email_key
from idp.models import AdConnection
from idp.models import Client
from idp.models import Contract
from idp.models import LineNumber
from idp.models import UpstreamIdentity
from idp.models import User
from idp.models import db
from idp.oidc.clients import hash_client_secret
from idp.vocabulary import AccessRoute
from idp.vocabulary import LoginMethod
from idp.vocabulary import Plan
from idp.vocabulary import Role
from policies.line_numbers import normalise_line_number
from policies.login_method import is_facebook_rebind_allowed


class ProvisioningError(ValueError):
    pass


def add_contract(
    name: str,
    plan: str = Plan.BASIC,
    two_factor: bool = False,
    access_route: str = AccessRoute.LINE_AND_INTERNET,
) -> Contract:
    now = datetime.now(UTC)
    contract = Contract(
        two_factor_enabled_at=now if two_factor else None,
        name=name,
        plan=plan,
        two_factor=two_factor,
        access_route=access_route,
        trial_started_at=datetime.now(UTC) if plan == Plan.TRIAL else None,
    )
    db.session.add(contract)
    db.session.commit()
    return contract


def set_two_factor(contract_id: str, on: bool) -> Contract:
    """T1 (the rule; its page comes with the account menu): turning 2FA on again voids every
    browser remembered before (L3)."""
    contract = db.session.get(Contract, contract_id)
    if contract is None:
        raise ProvisioningError(f"no contract {contract_id}")
    if on and not contract.two_factor:
        contract.two_factor_enabled_at = datetime.now(UTC)
    contract.two_factor = on
    db.session.commit()
    return contract


def add_user(
    contract_id: str,
    email: str,
    password: str | None,
    *,
    name: str = "",
    role: str = Role.USER,
    method: str = LoginMethod.PASSWORD,
    locale: str = "ja",
) -> User:
    if db.session.get(Contract, contract_id) is None:
        raise ProvisioningError(f"no contract {contract_id}")
    if "@" not in email or len(email) > 320:
        raise ProvisioningError("not an email address")
    if db.session.query(User).filter_by(email_key=email_key(email)).first():
        raise ProvisioningError("this email is already registered")
    if role == Role.CONTRACTOR and method == LoginMethod.AD:
        raise ProvisioningError("M3: the contractor cannot use Active Directory")
    if method not in set(LoginMethod):
        raise ProvisioningError(f"unknown login method {method}")
    if (
        role == Role.CONTRACTOR
        and db.session.query(User).filter_by(contract_id=contract_id, role=Role.CONTRACTOR).first()
    ):
        raise ProvisioningError("the contract already has a contractor")
    password_hash = None
    if method == LoginMethod.PASSWORD:
        if password is None:
            raise ProvisioningError("a password user needs a password")
        problems = password_problems(password, email)
        if problems:
            raise ProvisioningError("password rule (P2) not met: " + ", ".join(problems))
        password_hash = current_app.extensions["idp.passwords"].hash(password)
    user = User(
        contract_id=contract_id,
        email=email.strip(),
        email_key=email_key(email),
        name=name,
        role=role,
        login_method=method,
        locale=locale,
        password_hash=password_hash,
        email_verified=True,
    )
    db.session.add(user)
    db.session.commit()
    return user


def _check_uri(uri: str) -> None:
    if not uri.startswith(("https://", "http://")) or "#" in uri:
        raise ProvisioningError(f"redirect URIs must be absolute http(s) without fragment: {uri}")


def add_client(
    name: str,
    redirect_uris: list[str],
    post_logout_uris: list[str],
    *,
    public: bool = False,
    client_id: str | None = None,
    secret: str | None = None,
    trusted: bool = False,
    require_pkce: bool = True,
    refresh_tokens: bool = False,
    id_token_alg: str = "RS256",
) -> tuple[Client, str | None]:
    for uri in [*redirect_uris, *post_logout_uris]:
        _check_uri(uri)
    client_id = client_id or secrets.token_urlsafe(16)
    if db.session.get(Client, client_id) is not None:
        raise ProvisioningError(f"client {client_id} exists")
    if public and (secret or not require_pkce):
        raise ProvisioningError("a public client has no secret and always uses PKCE")
    if not public:
        secret = secret or secrets.token_urlsafe(32)
        if len(secret) < 16:
            raise ProvisioningError("client secrets must be at least 16 characters")
    client = Client(
        client_id=client_id,
        name=name,
        secret_hash=None if public else hash_client_secret(secret or ""),
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout_uris,
        is_trusted=trusted,
        require_pkce=require_pkce,
        receives_refresh_tokens=refresh_tokens,
        id_token_signed_response_alg=id_token_alg,
    )
    db.session.add(client)
    db.session.commit()
    return client, None if public else secret


def link_identity(
    user_id: str, provider: str, issuer: str, subject: str, email: str | None = None
) -> UpstreamIdentity:
    """Bind an upstream identity to a user (by administrators now; by invitation later).

    M5: a user bound to one Facebook identity cannot be bound directly to another one."""
    user = db.session.get(User, user_id)
    if user is None:
        raise ProvisioningError(f"no user {user_id}")
    if provider != user.login_method:
        raise ProvisioningError(f"the user's login method is {user.login_method}, not {provider}")
    taken = (
        db.session.query(UpstreamIdentity)
        .filter_by(provider=provider, issuer=issuer, subject=subject)
        .one_or_none()
    )
    if taken is not None:
        raise ProvisioningError("this upstream identity is already bound to a user")
    current = db.session.query(UpstreamIdentity).filter_by(user_id=user_id, provider=provider).all()
    if provider == "facebook" and not all(
        is_facebook_rebind_allowed(i.subject, subject) for i in current
    ):
        raise ProvisioningError(
            "M5: change to another login method before binding a different Facebook account"
        )
    for old in current:
        db.session.delete(old)
    identity = UpstreamIdentity(
        user_id=user_id, provider=provider, issuer=issuer, subject=subject, email=email
    )
    db.session.add(identity)
    db.session.commit()
    return identity


def add_ad_connection(
    contract_id: str, kind: str, settings: dict[str, Any], secret: str
) -> AdConnection:
    """D1: configure the contract's AD (AD FS or LDAP), issue its connection ID and mail the
    contractor the login URLs."""
    from idp.login.active_directory import new_connection_id

    contract = db.session.get(Contract, contract_id)
    if contract is None:
        raise ProvisioningError(f"no contract {contract_id}")
    if db.session.query(AdConnection).filter_by(contract_id=contract_id).first():
        raise ProvisioningError("the contract already has an AD connection")
    if kind == "adfs":
        for key in ("issuer", "client_id"):
            if not settings.get(key):
                raise ProvisioningError(f"AD FS needs {key}")
        if not settings["issuer"].startswith("https://") and not settings.get("allow_http"):
            raise ProvisioningError("the AD FS issuer must be https")
    elif kind == "ldap":
        for key in ("url", "base_dn", "bind_dn"):
            if not settings.get(key):
                raise ProvisioningError(f"LDAP needs {key}")
    else:
        raise ProvisioningError(f"unknown kind {kind}")
    connection = AdConnection(
        connection_id=new_connection_id(),
        contract_id=contract_id,
        kind=kind,
        settings={k: v for k, v in settings.items() if k != "allow_http"},
        secret_sealed=current_app.extensions["idp.secretbox"].seal(secret),
    )
    db.session.add(connection)
    db.session.commit()
    contractor = (
        db.session.query(User).filter_by(contract_id=contract_id, role=Role.CONTRACTOR).first()
    )
    if contractor is not None:
        from idp.mail import send_mail

        app_settings = current_app.extensions["idp.settings"]
        line_base = app_settings.line_login_url or f"{app_settings.issuer}/line"
        send_mail(
            contractor.email,
            "ad_connection",
            contractor.locale,
            user=contractor,
            connection_id=connection.connection_id,
            internet_url=f"{app_settings.issuer}/login/ad/{connection.connection_id}",
            line_url=f"{line_base}/login/ad/{connection.connection_id}",
        )
    return connection


def add_line(contract_id: str, raw_number: str) -> LineNumber:
    """A2: register a line number (validated, upper case, unique within the contract)."""
    number = normalise_line_number(raw_number)
    if number is None:
        raise ProvisioningError(f"not a line number (CAF + 10 or COP + 8): {raw_number!r}")
    if db.session.get(Contract, contract_id) is None:
        raise ProvisioningError(f"no contract {contract_id}")
    if db.session.get(LineNumber, (contract_id, number)) is not None:
        raise ProvisioningError(f"{number} is already registered for this contract")
    line = LineNumber(contract_id=contract_id, number=number)
    db.session.add(line)
    db.session.commit()
    return line


def remove_line(contract_id: str, raw_number: str) -> None:
    """Sessions that came through the line end at their next refresh (X5)."""
    number = normalise_line_number(raw_number) or raw_number
    line = db.session.get(LineNumber, (contract_id, number))
    if line is None:
        raise ProvisioningError(f"{raw_number} is not registered for this contract")
    db.session.delete(line)
    db.session.commit()


def set_access_route(contract_id: str, route: str) -> Contract:
    """A1: ``line+internet`` or ``line-only``; internet sessions end at their next refresh."""
    if route not in set(AccessRoute):
        raise ProvisioningError(f"unknown access route {route}")
    contract = db.session.get(Contract, contract_id)
    if contract is None:
        raise ProvisioningError(f"no contract {contract_id}")
    contract.access_route = route
    db.session.commit()
    return contract
