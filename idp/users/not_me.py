"""X6: identity changes are two-party. After an email change (M7) or a login-method change
(M4–M6), the old address is told what changed and gets a 14-day "this was not me" link.

Using it reverts the change, signs the account out everywhere (X7: relying parties hear),
resets the 2FA registration (T2: a factor enrolled since may be the other party's) with the
remembered browsers (X2) and locks the account until a password reset:

- the email goes back, unless another account has taken the old address meanwhile (then the
  page says so and the account is still locked; no reset link goes to the changed address,
  the contractor or an admin helps);
- the method goes back, the upstream identities bound by the change are removed and those the
  change removed are bound again (when no other account has taken them);
- the password is cleared and ``locked_at`` set; a reset link goes to the restored address.
  The reset (K3, :func:`idp.users.reset.set_new_password`) sets a password and unlocks. When
  the restored method is an upstream, the lock refuses that upstream's sign-ins too
  (idp/login/gate.py) and the reset makes ``password`` the method: the upstream account may be
  how the other party got in; the user can choose an upstream again afterwards (M1, M2).

Validity: the link is bound to the account's ``identity_version``, which each notice (and
each revert) bumps: it is void once the email or method changes again (the later change sends
its own notice, to the address current then), but not by a password change or reset, so that
whoever made the change cannot void the link by changing the password next.

The caller of :func:`tell_old_address` passes what changed; the link's ``data`` keeps what a
revert needs (never a secret): ``kind``, the old and new address and method, and with a
method change the upstream identities the account had before (:func:`identity_snapshot`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.exc import IntegrityError

from idp import audit
from idp.actor import Actor
from idp.errors import DomainError
from idp.mail import send_mail
from idp.models import MailLink
from idp.models import UpstreamIdentity
from idp.models import User
from idp.models import db
from idp.models import utcnow
from idp.sso import sign_out_everywhere
from idp.users.find import email_key
from idp.users.find import find_user_by_email
from idp.users.links import new_link
from idp.users.lockout import reset_two_factor
from idp.users.reset import mail_reset_link
from policies.links import LINK_VALIDITY
from policies.links import LinkPurpose

#: The reason code of what the revert revokes, and of the lock.
REASON = "not_me"
IDENTITY_FIELDS = ("provider", "issuer", "subject", "email")


class IdentityChange(StrEnum):
    """What a "this was not me" link reverts."""

    EMAIL = "email"  # M7
    LOGIN_METHOD = "login_method"  # M4–M6


class NotMeError(DomainError):
    default_reason = "not_me_refused"


@dataclass(frozen=True)
class Reverted:
    """What the revert did, for the page that follows."""

    #: The account's address now (the restored one, or the changed one when it was taken).
    email: str
    #: False when another account had taken the old address meanwhile.
    is_email_restored: bool
    #: Where the password-reset link went; None when none was sent.
    reset_mailed_to: str | None


def identity_snapshot(user: User) -> list[dict[str, Any]]:
    """The user's upstream identities as plain data, taken before a method change, for
    :func:`tell_old_address` (``old_identities``)."""
    rows = db.session.query(UpstreamIdentity).filter_by(user_id=user.id).all()
    return [{name: getattr(row, name) for name in IDENTITY_FIELDS} for row in rows]


@audit.change("not_me_offered")
def tell_old_address(
    actor: Actor,
    user: User,
    *,
    kind: IdentityChange,
    old_email: str,
    old_method: str,
    old_identities: Sequence[dict[str, Any]] | None = None,
) -> MailLink:
    """X6: mail the old address what changed and a "this was not me" link.

    Call after the change is committed. Bumps ``identity_version``: the link of any older
    notice is void, this one stays valid until the next identity change (or its 14 days).

    :param kind: what changed.
    :param old_email: the address before the change; the mail goes there.
    :param old_method: the login method before the change.
    :param old_identities: with a method change, :func:`identity_snapshot` taken before it;
        the revert binds these again and removes any other.
    :returns: the stored link.
    """
    data: dict[str, Any] = {
        "kind": kind.value,
        "old_email": old_email,
        "new_email": user.email,
        "old_method": old_method,
        "new_method": user.login_method,
    }
    if old_identities is not None:
        data["old_identities"] = [
            {name: identity.get(name) for name in IDENTITY_FIELDS} for identity in old_identities
        ]
    user.identity_version = user.identity_version + 1  # older notices' links are void
    db.session.commit()
    link, url = new_link(user, LinkPurpose.NOT_ME, data)
    send_mail(
        old_email,
        "not_me",
        user.locale,
        user=user,
        kind=kind.value,
        old_email=old_email,
        new_email=user.email,
        old_method=old_method,
        new_method=user.login_method,
        url=url,
        days=LINK_VALIDITY.days,
    )
    audit.record(
        "not_me_offered",
        "ok",
        kind.value,
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
        details={"link": link.id, "kind": kind.value},
    )
    return link


def change_of(link: MailLink) -> dict[str, Any]:
    """The change a "this was not me" link reverts (its ``data``), checked."""
    data = dict(link.data or {})
    if data.get("kind") not in set(IdentityChange) or not isinstance(data.get("old_email"), str):
        raise NotMeError("the link names no change", "no_change")
    return data


def _restore_email(user: User, old_email: str) -> bool:
    if user.email_key == email_key(old_email):
        return True
    owner = find_user_by_email(old_email)
    if owner is not None and owner.id != user.id:
        return False
    user.email = old_email
    user.email_key = email_key(old_email)
    return True


def _restore_method(user: User, old_method: str, old_identities: list[dict[str, Any]]) -> None:
    """The old method, and exactly the upstream identities the account had before (one
    taken by another account since is not bound again)."""
    user.login_method = old_method
    wanted = {(i.get("provider"), i.get("issuer"), i.get("subject")): i for i in old_identities}
    for row in db.session.query(UpstreamIdentity).filter_by(user_id=user.id).all():
        if wanted.pop((row.provider, row.issuer, row.subject), None) is None:
            db.session.delete(row)  # bound by the change
    for identity in wanted.values():
        taken = (
            db.session.query(UpstreamIdentity)
            .filter_by(
                provider=identity.get("provider"),
                issuer=identity.get("issuer"),
                subject=identity.get("subject"),
            )
            .first()
        )
        if taken is None:
            db.session.add(
                UpstreamIdentity(user_id=user.id, **{n: identity.get(n) for n in IDENTITY_FIELDS})
            )


def _apply_revert(user: User, data: dict[str, Any], *, with_email: bool) -> bool:
    """Change the account back and lock it; commits. Returns whether the email is restored."""
    restored = True
    if data["kind"] == IdentityChange.EMAIL:
        restored = _restore_email(user, data["old_email"]) if with_email else False
    if data["kind"] == IdentityChange.LOGIN_METHOD and isinstance(data.get("old_method"), str):
        _restore_method(user, data["old_method"], list(data.get("old_identities") or []))
    user.password_hash = None  # whatever the other party set: a reset sets a new one
    user.locked_at = utcnow()
    user.state_version = user.state_version + 1  # voids every other link and session
    user.identity_version = user.identity_version + 1  # and every other notice's link
    db.session.commit()
    return restored


@audit.change("not_me_revert")
def revert_identity_change(actor: Actor, user: User, link: MailLink) -> Reverted:
    """X6: revert what the (consumed) ``link`` was sent for, sign the account out
    everywhere, forget remembered browsers and lock it until a password reset, whose link
    goes to the restored address.

    :param actor: the person using the link.
    """
    data = change_of(link)
    try:
        restored = _apply_revert(user, data, with_email=True)
    except IntegrityError:
        # The old address was taken between the check and the write: revert the rest.
        db.session.rollback()
        db.session.refresh(user)
        restored = _apply_revert(user, data, with_email=False)
    # The factors enrolled since the change may be the other party's: T2, and X2 with it.
    reset_two_factor(actor, user, REASON)
    sign_out_everywhere(actor, user, REASON)  # X7
    reset_to = None
    if restored:
        mail_reset_link(user, reverted=True)
        reset_to = user.email
    audit.record(
        "not_me_revert",
        "ok",
        data["kind"],
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
        details={"link": link.id, "email_restored": restored, "method": user.login_method},
    )
    return Reverted(email=user.email, is_email_restored=restored, reset_mailed_to=reset_to)
