"""G2: one user as an administrator of their contract sees them: method, email, role, lock
state, 2FA devices, upstream identities, a pending invitation, sessions, remembered browsers,
the last sign-in and the recent sign-ins and refusals with their reason codes and the rules
behind them (X3).

Reading changes nothing. Another contract's user is "not found" (G8): the caller names the
contract it acts for, and a user of any other contract does not exist for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from idp.errors import NotFoundError
from idp.models import AuditEvent
from idp.models import Invitation
from idp.models import SecondFactor
from idp.models import UpstreamIdentity
from idp.models import User
from idp.models import db
from idp.sessions import ListedSession
from idp.sessions import describe_device
from idp.sessions import list_sessions
from idp.twofactor.remembered import list_remembered
from policies.reasons import rules_of

#: The audit events that tell how a user's sign-ins went (X3).
SIGN_IN_EVENTS = ("login", "second_factor", "acr_unmet")
#: How many of them the detail shows.
RECENT_EVENTS = 20


@dataclass(frozen=True)
class SignInEvent:
    at: datetime
    event: str
    outcome: str
    #: The reason code of a refusal or a challenge (X3), e.g. ``wrong_password``.
    reason: str | None
    client_id: str | None
    #: The SPEC rules behind the reason (X3), e.g. ``("L2", "K1")``.
    rules: tuple[str, ...] = ()


@dataclass(frozen=True)
class UpstreamAccount:
    provider: str
    email: str | None
    last_used_at: datetime | None


@dataclass(frozen=True)
class RememberedEntry:
    id: str
    device: str
    last_used_at: datetime


@dataclass(frozen=True)
class UserDetail:
    id: str
    contract_id: str
    email: str
    name: str
    role: str
    login_method: str
    locale: str
    locked_at: datetime | None
    #: G4: when an administrator disabled the account; None while it may sign in.
    disabled_at: datetime | None
    two_factor_enrolled_at: datetime | None
    #: Enrolled second factors by kind (``sms``, ``totp``, ``passkey``, ``recovery``).
    second_factors: list[str]
    upstream_accounts: list[UpstreamAccount]
    #: When the pending invitation was last sent; None once registered (or never invited).
    invitation_sent_at: datetime | None
    sessions: list[ListedSession]
    remembered_browsers: list[RememberedEntry]
    last_sign_in_at: datetime | None
    recent_sign_ins: list[SignInEvent]
    created_at: datetime


def find_contract_user(contract_id: str, user_id: str) -> User:
    """``user_id`` of ``contract_id``; any other (another contract's, unknown) is not found."""
    user = db.session.get(User, user_id) if isinstance(user_id, str) and user_id else None
    if user is None or user.contract_id != contract_id:
        raise NotFoundError("No such user.", "user_not_found")
    return user


def user_detail(contract_id: str, user_id: str) -> UserDetail:
    user = find_contract_user(contract_id, user_id)
    kinds = db.session.scalars(
        select(SecondFactor.kind).where(SecondFactor.user_id == user.id).order_by(SecondFactor.kind)
    ).all()
    upstreams = db.session.scalars(
        select(UpstreamIdentity).where(UpstreamIdentity.user_id == user.id)
    ).all()
    invitation = db.session.scalars(
        select(Invitation).where(Invitation.user_id == user.id, Invitation.registered_at.is_(None))
    ).first()
    # The user's events are their contract's (idp.audit.record): read on the G6 index
    # (contract_id, user_id, at), newest first.
    of_user = (AuditEvent.contract_id == user.contract_id, AuditEvent.user_id == user.id)
    newest_first = (AuditEvent.at.desc(), AuditEvent.id.desc())
    events = db.session.scalars(
        select(AuditEvent)
        .where(*of_user, AuditEvent.event.in_(SIGN_IN_EVENTS))
        .order_by(*newest_first)
        .limit(RECENT_EVENTS)
    ).all()
    last_ok = db.session.scalars(
        select(AuditEvent.at)
        # ``event || ''``: not a column, so that SQLite (no statistics) walks this user's
        # events, not every sign-in of the contract on (contract_id, event, at).
        .where(*of_user, AuditEvent.event + "" == "login", AuditEvent.outcome == "ok")
        .order_by(*newest_first)
        .limit(1)
    ).first()
    return UserDetail(
        id=user.id,
        contract_id=user.contract_id,
        email=user.email,
        name=user.name,
        role=user.role,
        login_method=user.login_method,
        locale=user.locale,
        locked_at=user.locked_at,
        disabled_at=user.disabled_at,
        two_factor_enrolled_at=user.two_factor_enrolled_at,
        second_factors=list(kinds),
        upstream_accounts=[
            UpstreamAccount(row.provider, row.email, row.last_used_at) for row in upstreams
        ],
        invitation_sent_at=invitation.sent_at if invitation else None,
        sessions=list_sessions(user),
        remembered_browsers=[
            RememberedEntry(row.id, describe_device(row.user_agent), row.last_used_at)
            for row in list_remembered(user)
        ],
        last_sign_in_at=last_ok,
        recent_sign_ins=[
            SignInEvent(
                row.at, row.event, row.outcome, row.reason, row.client_id, rules_of(row.reason)
            )
            for row in events
        ],
        created_at=user.created_at,
    )
