"""G7: what a customer's directory does to its contract's users through SCIM (RFC 7644),
on the same domain functions as the console and the CLI.

- A provisioned user is an **invited** user (L10, G3: ``invite_user``): the directory knows
  the person's address, not how they will sign in, so the registration mail lets them choose
  their login method; until then they cannot sign in.
- ``update_profile`` sets the name and the directory's ``externalId``.
- An email change is M2's: the link goes to the new address and the address changes when the
  person uses it (M7, X4, X6) — a directory cannot move an account to an address nobody
  confirmed. The contractor's address is theirs to change (M1), never the directory's
  (``policies/admin.py``: a directory is a service client of the contract).
- Deleting is ``admin_delete_user`` and deactivating ``disable_user`` (every session and
  token ends, back-channel logout, X7); the contractor is neither (C3).

Every function takes the actor and refuses a user of another contract as not found (G8)."""

from __future__ import annotations

from datetime import UTC

from idp import audit
from idp.actor import Actor
from idp.errors import NotFoundError
from idp.errors import ProvisioningError
from idp.models import MailLink
from idp.models import User
from idp.models import db
from idp.models import utcnow
from idp.users.admin_operations import admin_invite_user
from idp.users.authority import authorise
from idp.users.email_change import request_email_change
from idp.users.find import email_key
from idp.users.invitations import MAX_NAME
from idp.vocabulary import Role
from policies.admin import AdminOperation
from policies.links import LinkPurpose

MAX_EXTERNAL_ID = 255
#: The languages of pages and mails (Japanese first, SPEC Mails).
LOCALES = ("ja", "en")


def _check_actor(actor: Actor, user: User) -> None:
    if actor.contract_id is not None and actor.contract_id != user.contract_id:
        raise NotFoundError("No such user.", "user_not_found")


def _check_external_id(external_id: str | None) -> None:
    if external_id is not None and (
        not external_id or len(external_id) > MAX_EXTERNAL_ID or "\x00" in external_id
    ):
        raise ProvisioningError(
            f"externalId: 1 to {MAX_EXTERNAL_ID} characters", "invalid_external_id"
        )


def check_profile(name: str, external_id: str | None) -> None:
    """Raise as ``update_profile`` would for these values (checked before an email change,
    so that a request is refused before it mails anything)."""
    if len(name) > MAX_NAME or "\x00" in name:
        raise ProvisioningError("the name is too long", "invalid_name")
    _check_external_id(external_id)


def provision_user(
    actor: Actor,
    contract_id: str,
    email: str,
    name: str = "",
    external_id: str | None = None,
    *,
    locale: str = "ja",
) -> User:
    """Invite the user (``invite_user``: the registration mail goes out) and keep the
    directory's ``externalId``; each step writes its own audit event."""
    check_profile(name, external_id)
    invitation = admin_invite_user(actor, contract_id, email, name, Role.USER, locale=locale)
    user = db.session.get(User, invitation.user_id)
    assert user is not None
    if external_id is not None:
        update_profile(actor, user, user.name, external_id)
    return user


@audit.change("user_profile")
def update_profile(
    actor: Actor, user: User, name: str, external_id: str | None, *, locale: str | None = None
) -> bool:
    """Set the user's name, ``externalId`` and (when given) the language of their pages and
    mails; returns whether anything changed (nothing changed: no write and no event)."""
    _check_actor(actor, user)
    check_profile(name, external_id)
    locale = locale or user.locale
    if locale not in LOCALES:
        raise ProvisioningError(f"unknown language {locale}", "invalid_locale")
    changed = sorted(
        field
        for field, is_changed in (
            ("name", name != user.name),
            ("external_id", external_id != user.external_id),
            ("locale", locale != user.locale),
        )
        if is_changed
    )
    if not changed:
        return False
    user.name = name
    user.external_id = external_id
    user.locale = locale
    db.session.commit()
    audit.record(
        "user_profile",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
        details={"changed": changed},
    )
    return True


def pending_email_change(user: User) -> str | None:
    """The address of the user's newest unused, unexpired email-change link, if any."""
    links = (
        db.session.query(MailLink)
        .filter_by(user_id=user.id, purpose=LinkPurpose.EMAIL_CHANGE, used_at=None)
        .filter(MailLink.state_version == user.state_version)
        .order_by(MailLink.created_at.desc())
        .all()
    )
    now = utcnow()
    for link in links:
        expires = link.expires_at if link.expires_at.tzinfo else link.expires_at.replace(tzinfo=UTC)
        address = (link.data or {}).get("new_email")
        if expires > now and isinstance(address, str):
            return address
    return None


@audit.change("email_change_requested")
def request_directory_email_change(actor: Actor, user: User, new_email: str) -> bool:
    """M2 for a directory: mail the email-change link to ``new_email`` unless one to that
    address is still pending (a directory repeats its request at every synchronisation);
    returns whether a link was sent.

    :raises ForbiddenError: ``policies/admin.py`` refuses (a directory never re-addresses
        the contractor: the contractor changes their own address, M1).
    :raises EmailChangeError: as ``request_email_change`` (an invited user who has not
        registered, an address in use, not an address)."""
    _check_actor(actor, user)
    authorise(actor, AdminOperation.SEND_EMAIL_CHANGE, user)
    pending = pending_email_change(user)
    if pending is not None and email_key(pending) == email_key(new_email):
        return False
    request_email_change(actor, user, new_email)
    return True
