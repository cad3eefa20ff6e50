"""M7, M2: a user's email address changes through a link mailed to the new address.

``request_email_change`` checks the new address and mails the link (14 days, single use,
purpose ``email_change``, the address in the link's ``data``); nothing about the account
changes until the link is used. The contractor asks in the account menu (M1); the admin
console (M2) and ``idp users email-link`` call the same function with their actor.

``complete_email_change`` is the link's use (X4: the confirming POST): the address is checked
again (another account may have taken it meanwhile), then set; a ``password`` user sets a
password on the link page (M7). Older links are void (``state_version``), the 2FA
registration is reset (T2) with the remembered browsers (X2), every session ends and the
relying parties hear of it (X7), and the old address is told with a "this was not me" link
(X6, :mod:`idp.users.not_me`).
"""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError
from email_validator import validate_email
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.errors import DomainError
from idp.errors import NotFoundError
from idp.mail import send_mail
from idp.models import MailLink
from idp.models import User
from idp.models import db
from idp.models import rowcount
from idp.sso import sign_out_everywhere
from idp.users.add import MAX_EMAIL
from idp.users.find import email_key
from idp.users.find import find_user_by_email
from idp.users.invitations import pending_invitation
from idp.users.links import new_link
from idp.users.lockout import reset_two_factor
from idp.users.not_me import IdentityChange
from idp.users.not_me import tell_old_address
from idp.users.passwords import password_problems
from idp.vocabulary import LoginMethod
from policies.links import LINK_VALIDITY
from policies.links import LinkPurpose

#: The reason code of what the change revokes (2FA, remembered browsers, sessions).
REASON = "email_change"


class EmailChangeError(DomainError):
    """Reasons: ``invalid_email``, ``same_email``, ``email_unavailable`` (used by any
    account, whose is never said), ``not_registered``, ``weak_password``, ``void``,
    ``no_pending_change``."""

    default_reason = "email_change_refused"


def normalise_email(text: str) -> str:
    """The address as it will be stored (email-validator's normalised form)."""
    text = text.strip()
    if not text or len(text) > MAX_EMAIL:
        raise EmailChangeError("not an email address", "invalid_email")
    try:
        return str(validate_email(text, check_deliverability=False).normalized)
    except EmailNotValidError as error:
        raise EmailChangeError(f"not an email address: {error}", "invalid_email") from error


def is_address_free(user: User, address: str) -> bool:
    """L2: no other account uses ``address`` (case-folded)."""
    owner = find_user_by_email(address)
    return owner is None or owner.id == user.id


def _check_new_address(user: User, text: str) -> str:
    address = normalise_email(text)
    if email_key(address) == user.email_key:
        raise EmailChangeError("this is already the account's address", "same_email")
    if not is_address_free(user, address):
        # The same answer whoever owns it, in this contract or another (G8).
        raise EmailChangeError("this address cannot be used", "email_unavailable")
    return address


@audit.change("email_change_requested")
def request_email_change(
    actor: Actor, user: User, new_email: str, *, locale: str | None = None
) -> MailLink:
    """M7, M2: mail the email-change link to the new address; the account is unchanged.

    :param locale: the language the person asked in (their own request in the account
        menu); None (an administrator's or the CLI's request): the account's stored one.

    :raises EmailChangeError: ``invalid_email``, ``same_email``, ``email_unavailable`` or
        ``not_registered`` (an invited user who has not registered yet).
    :raises NotFoundError: the actor is of another contract (G8).
    :returns: the stored link (its id for the CLI; the token is only in the mail).
    """
    if actor.contract_id is not None and actor.contract_id != user.contract_id:
        raise NotFoundError(f"no user {user.id}")
    if pending_invitation(user) is not None:
        # L10: the invited person registers through the invitation; a wrong address is
        # fixed by revoking it and inviting the right one.
        raise EmailChangeError("the user has not registered yet", "not_registered")
    address = _check_new_address(user, new_email)
    link, url = new_link(user, LinkPurpose.EMAIL_CHANGE, {"new_email": address})
    send_mail(
        address,
        "email_change",
        locale or user.locale,
        user=user,
        new_email=address,
        url=url,
        days=LINK_VALIDITY.days,
    )
    audit.record(
        "email_change_requested",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
        details={"link": link.id, "new_email": address},
    )
    return link


def pending_email(link: MailLink) -> str:
    """The new address an email-change link was sent to."""
    value = (link.data or {}).get("new_email")
    if not isinstance(value, str) or not value:
        raise EmailChangeError("the link names no new address", "no_pending_change")
    return value


def needs_password(user: User) -> bool:
    """M7: a ``password`` user sets a password with the new address."""
    return user.login_method == LoginMethod.PASSWORD


@audit.change("email_change")
def complete_email_change(
    actor: Actor, user: User, link: MailLink, password: str | None = None
) -> None:
    """M7, X4, T2, X2, X7, X6: set the address the (consumed) ``link`` was sent to.

    :param password: the new password of a ``password`` user (P2, checked against the new
        address); ignored for other methods.
    :raises EmailChangeError: ``email_unavailable`` when another account took the address
        since the link was sent, ``void`` when the account changed since (another link used
        at the same time), ``weak_password``; nothing changed.
    """
    address = pending_email(link)
    if not is_address_free(user, address):
        raise EmailChangeError("this address cannot be used", "email_unavailable")
    values: dict[str, Any] = {
        "email": address,
        "email_key": email_key(address),
        "email_verified": True,
        # Voids older links and sessions (X4).
        "state_version": User.state_version + 1,
    }
    if needs_password(user):
        if password is None or password_problems(password, address):
            raise EmailChangeError("the password breaks the password rule", "weak_password")
        values["password_hash"] = extensions.passwords().hash(password)
        values["failed_logins"] = 0
    old_email, old_method = user.email, user.login_method
    try:
        # Only on the account state the link was sent for: of two links used at once (or
        # a link and another change), one applies and the other changes nothing.
        result = db.session.execute(
            update(User)
            .where(User.id == user.id, User.state_version == link.state_version)
            .values(**values)
        )
        if rowcount(result) != 1:
            db.session.rollback()
            raise EmailChangeError("the account changed since the link was sent", "void")
        db.session.commit()
    except IntegrityError:
        # Taken between the check and now: the unique key decides, nothing changed.
        db.session.rollback()
        raise EmailChangeError("this address cannot be used", "email_unavailable") from None
    db.session.refresh(user)
    reset_two_factor(actor, user, REASON)  # T2; forgets remembered browsers too (X2)
    sign_out_everywhere(actor, user, REASON)  # every session, token family, and X7
    audit.record(
        "email_change",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
        details={"old_email": old_email, "new_email": address, "link": link.id},
    )
    tell_old_address(
        actor, user, kind=IdentityChange.EMAIL, old_email=old_email, old_method=old_method
    )
