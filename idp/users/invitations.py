"""L10, G3: inviting a user, and the registration that binds the invited user's first
login method.

An invitation creates the user at once (so the email is taken and the contract sees the
person) but binds no method: no password hash and no upstream identity, so the invited user
cannot sign in — the password step answers exactly as for a wrong password (L2). The
``invitations`` row says the user is pending; the mail carries a link of purpose ``invite``
(14 days, single use, stored hashed: ``idp/users/links.py``). Registering binds the method,
marks the invitation registered and bumps ``state_version``, which voids every older link.
Resending (a new link; older ones void) and revoking (the pending user and its links are
removed, so the address can be invited again) are here for the admin console and the CLI (G3).
"""

from __future__ import annotations

from email_validator import EmailNotValidError
from email_validator import validate_email
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.contracts.ad import contract_connection
from idp.contracts.ad import mail_ad_login_urls
from idp.contracts.contract import get_contract
from idp.errors import NotFoundError
from idp.errors import ProvisioningError
from idp.mail import send_mail
from idp.models import AdConnection
from idp.models import Invitation
from idp.models import MailLink
from idp.models import UpstreamIdentity
from idp.models import User
from idp.models import db
from idp.models import rowcount
from idp.models import utcnow
from idp.users.add import MAX_EMAIL
from idp.users.find import email_key
from idp.users.links import create_link
from idp.vocabulary import ContractStatus
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role
from policies.links import LINK_VALIDITY
from policies.links import LinkPurpose

#: Who can be invited (G3): the contractor exists once per contract and is never invited.
INVITABLE_ROLES = (Role.USER, Role.ADMIN)
MAX_NAME = 200


def _inviter(actor: Actor) -> str:
    return f"{actor.kind.value}:{actor.id or ''}"[:100]


def contractor_email(contract_id: str) -> str | None:
    """The contractor's address, which the invitation mail names (G3)."""
    contractor = (
        db.session.query(User).filter_by(contract_id=contract_id, role=Role.CONTRACTOR).first()
    )
    return contractor.email if contractor is not None else None


def pending_invitation(user: User) -> Invitation | None:
    """The user's invitation while they have not registered; None once registered (or when
    the user was never invited)."""
    return db.session.query(Invitation).filter_by(user_id=user.id, registered_at=None).one_or_none()


def get_invitation(invitation_id: str) -> Invitation:
    """The invitation, or ``NotFoundError``."""
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None:
        raise NotFoundError(f"no invitation {invitation_id}")
    return invitation


def _check_email(contract_id: str, email: str) -> None:
    """Refuse an address already in use. The inviter is told when the person is already in
    their own contract; an address of another contract gets the same answer as any address
    that cannot be used, naming neither the user nor the contract (G8)."""
    if "@" not in email or len(email) > MAX_EMAIL or email != email.strip() or not email:
        raise ProvisioningError("not an email address", "invalid_email")
    try:
        # "name@" passed the test above and then failed the mail header: a 500, not a message.
        validate_email(email, check_deliverability=False)
    except EmailNotValidError as error:
        raise ProvisioningError(f"not an email address: {error}", "invalid_email") from error
    existing = db.session.query(User).filter_by(email_key=email_key(email)).one_or_none()
    if existing is None:
        return
    if existing.contract_id == contract_id:
        if pending_invitation(existing) is not None:
            raise ProvisioningError(
                "this address has already been invited to this contract; resend the invitation",
                "already_invited",
            )
        raise ProvisioningError("this address is already a user of this contract", "email_taken")
    raise ProvisioningError(
        "this address cannot be invited; ask the person for another address", "email_unavailable"
    )


def _send(user: User) -> None:
    url = create_link(user, LinkPurpose.INVITE)
    send_mail(
        user.email,
        "invite",
        user.locale,
        user=user,
        url=url,
        days=LINK_VALIDITY.days,
        contractor_email=contractor_email(user.contract_id),
    )


@audit.change("user_invite")
def invite_user(
    actor: Actor,
    contract_id: str,
    email: str,
    name: str = "",
    role: str = Role.USER,
    *,
    locale: str = "ja",
) -> Invitation:
    """L10, G3: create the invited user (no method bound yet) and mail the registration link.

    Refuses the contractor's role (one per contract, never invited), an address in use
    (``_check_email``), and an actor of another contract."""
    if actor.contract_id is not None and actor.contract_id != contract_id:
        raise ProvisioningError("you can invite only into your own contract", "other_contract")
    contract = get_contract(contract_id)
    if contract.status != ContractStatus.ACTIVE:
        raise ProvisioningError("the contract is not active", "contract_not_active")
    if role not in INVITABLE_ROLES:
        raise ProvisioningError("an invited user is a user or an admin", "role_not_invitable")
    if locale not in ("ja", "en"):
        raise ProvisioningError(f"unknown language {locale}")
    if len(name) > MAX_NAME:
        raise ProvisioningError("the name is too long")
    _check_email(contract.id, email)
    user = User(
        contract_id=contract.id,
        email=email,
        email_key=email_key(email),
        name=name,
        role=role,
        # The method the registration page binds replaces this; with no password hash it
        # cannot sign in (the check answers as for a wrong password).
        login_method=LoginMethod.PASSWORD,
        locale=locale,
        password_hash=None,
        email_verified=False,
    )
    db.session.add(user)
    db.session.flush()
    invitation = Invitation(contract_id=contract.id, user_id=user.id, invited_by=_inviter(actor))
    db.session.add(invitation)
    db.session.commit()
    _send(user)
    audit.record(
        "user_invite",
        "ok",
        None,
        user_id=user.id,
        contract_id=contract.id,
        actor=actor,
        details={"role": role, "invitation": invitation.id},
    )
    return invitation


@audit.change("invitation_resend")
def resend_invitation(actor: Actor, invitation_id: str) -> Invitation:
    """G3: a new registration link; every older one is void (the account state moves on)."""
    invitation = get_invitation(invitation_id)
    if actor.contract_id is not None and actor.contract_id != invitation.contract_id:
        raise NotFoundError(f"no invitation {invitation_id}")
    if invitation.registered_at is not None:
        raise ProvisioningError("the user has already registered", "already_registered")
    user = db.session.get(User, invitation.user_id)
    assert user is not None  # the invitation is deleted with its user
    user.state_version = user.state_version + 1
    invitation.sent_at = utcnow()
    db.session.commit()
    _send(user)
    audit.record(
        "invitation_resend",
        "ok",
        None,
        user_id=user.id,
        contract_id=invitation.contract_id,
        actor=actor,
        details={"invitation": invitation.id},
    )
    return invitation


def list_pending_invitations(contract_id: str) -> list[tuple[Invitation, User]]:
    """G3: the contract's invitations not registered yet, oldest sent first, with their
    users."""
    rows = (
        db.session.query(Invitation, User)
        .join(User, User.id == Invitation.user_id)
        .filter(Invitation.contract_id == contract_id, Invitation.registered_at.is_(None))
        .order_by(Invitation.sent_at, Invitation.id)
    )
    return [(invitation, user) for invitation, user in rows]


@audit.change("invitation_revoke")
def revoke_invitation(actor: Actor, invitation_id: str) -> None:
    """G3: withdraw an invitation not yet registered. The pending user (who never had a
    method bound) is removed with the invitation and its mailed links, so every link sent
    for it shows the "no longer valid" page and the address can be invited again. A
    registered user's invitation cannot be revoked (that is deleting a user, G4)."""
    invitation = get_invitation(invitation_id)
    if actor.contract_id is not None and actor.contract_id != invitation.contract_id:
        raise NotFoundError(f"no invitation {invitation_id}")
    if invitation.registered_at is not None:
        raise ProvisioningError(
            "the user has already registered; the invitation cannot be revoked",
            "already_registered",
        )
    user = db.session.get(User, invitation.user_id)
    assert user is not None  # the invitation is deleted with its user
    details = {"invitation": invitation.id, "email": user.email, "role": user.role}
    user_id, contract_id = user.id, invitation.contract_id
    # Only the invitation (no password, no identity) ever belonged to this user; the links
    # and the invitation go with it (ON DELETE CASCADE), explicitly too for the ORM session.
    db.session.query(MailLink).filter_by(user_id=user_id).delete()
    db.session.delete(invitation)
    db.session.delete(user)
    db.session.commit()
    audit.record(
        "invitation_revoke",
        "ok",
        None,
        user_id=user_id,
        contract_id=contract_id,
        actor=actor,
        details=details,
    )


def _mark_registered(user: User) -> None:
    """Mark the invitation registered, atomically: of two parallel registrations one wins."""
    result = db.session.execute(
        update(Invitation)
        .where(Invitation.user_id == user.id, Invitation.registered_at.is_(None))
        .values(registered_at=utcnow())
    )
    if rowcount(result) != 1:
        db.session.rollback()
        raise ProvisioningError("the user has already registered", "already_registered")


@audit.change("user_register")
def register_with_password(actor: Actor, user: User, password_hash: str) -> None:
    """L10: the invited user's password (already checked against P2 and hashed) becomes their
    method; the invitation is done and older links are void. Of two parallel registrations
    only one marks the invitation (the link is consumed first, so this is a second guard)."""
    _mark_registered(user)
    user.login_method = LoginMethod.PASSWORD
    user.password_hash = password_hash
    user.email_verified = True
    user.state_version = user.state_version + 1
    db.session.commit()
    audit.record(
        "user_register",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
        details={"method": LoginMethod.PASSWORD.value},
    )


@audit.change("user_register")
def register_with_upstream(
    actor: Actor,
    user: User,
    provider: str,
    issuer: str,
    subject: str,
    email: str | None = None,
) -> None:
    """L10, L7: the upstream identity the invited user just signed in with becomes their
    method (bound by (provider, issuer, subject), never by email). An identity already bound
    to someone is refused before anything changes, so the person can try another account."""
    if provider not in set(LoginMethod) or provider == LoginMethod.PASSWORD:
        raise ProvisioningError(f"not an upstream for registration: {provider}", "wrong_method")
    if provider == LoginMethod.AD and user.role == Role.CONTRACTOR:
        raise ProvisioningError("M3: the contractor cannot use Active Directory", "M3")
    if upstream_taken(provider, issuer, subject):
        raise ProvisioningError("this upstream account is already registered", "taken")
    _mark_registered(user)
    user.login_method = provider
    user.password_hash = None
    user.email_verified = True
    user.state_version = user.state_version + 1
    db.session.add(
        UpstreamIdentity(
            user_id=user.id, provider=provider, issuer=issuer, subject=subject, email=email
        )
    )
    try:
        db.session.commit()
    except IntegrityError:
        # Bound to someone else since the check (the unique key decides): nothing changed.
        db.session.rollback()
        raise ProvisioningError("this upstream account is already registered", "taken") from None
    connection = contract_connection(user.contract_id) if provider == LoginMethod.AD else None
    if connection is not None:
        mail_ad_login_urls(user, connection)  # D2: the user's own copy of the login URLs
    audit.record(
        "user_register",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
        details={"method": provider, "issuer": issuer},
    )


def ad_connection_of(contract_id: str) -> AdConnection | None:
    """The contract's AD FS connection (D1), which the login-method change offers (M3; a
    directory reached by LDAP is not offered there yet). The registration page offers either
    kind (``idp.contracts.ad.contract_connection``)."""
    return (
        db.session.query(AdConnection).filter_by(contract_id=contract_id, kind="adfs").one_or_none()
    )


def upstream_taken(provider: str, issuer: str, subject: str) -> bool:
    """Whether this upstream identity is bound to a user already (L7)."""
    return (
        db.session.query(UpstreamIdentity)
        .filter_by(provider=provider, issuer=issuer, subject=subject)
        .first()
        is not None
    )


def stage_password(link: MailLink, password: str) -> None:
    """L10: keep the chosen password (hashed, never the password itself) on the unused link
    between the password form and the confirmation screen; the confirmation then registers
    it. Changes no account: only ``register_with_password`` does."""
    link.data = {**(link.data or {}), "password_hash": extensions.passwords().hash(password)}
    db.session.commit()


def staged_password_hash(link: MailLink) -> str | None:
    """The hash ``stage_password`` kept on the link, if any."""
    value = (link.data or {}).get("password_hash")
    return value if isinstance(value, str) else None
