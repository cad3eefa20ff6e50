"""M1–M6, D2: changing a user's login method (SPEC Words: exactly one per user at a time).

Two ways in, the same functions: the basic contractor in the account menu (M1), and everyone
else through the method-change link the contractor or an admin mails them (M2, M6, sent by
:func:`send_method_change_link`). The rules are ``policies.login_method``: whose method may
change (:func:`~policies.login_method.check_method_change`), to which method (M3: never
``ad`` for the contractor, ``ad`` only where the contract has AD FS) and the Facebook rebind
rule (M5).

Nothing changes until the new method is bound: the old one keeps working while the person
chooses, confirms and signs in upstream. Then, in one commit, the new method replaces the
old (the password hash is cleared when leaving ``password``; the old upstream identities
are removed), ``state_version`` moves on (older mailed links and every session are void),
remembered browsers are forgotten (X2), and the user is signed out everywhere, relying
parties included (X7). A change to ``ad`` mails the user the AD login URLs and connection ID
(D2).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.actor import ActorKind
from idp.contracts.ad import mail_ad_login_urls
from idp.contracts.contract import contract_state
from idp.contracts.contract import get_contract
from idp.errors import DomainError
from idp.errors import NotFoundError
from idp.mail import send_mail
from idp.models import AdConnection
from idp.models import MailLink
from idp.models import UpstreamIdentity
from idp.models import User
from idp.models import db
from idp.sso import sign_out_everywhere
from idp.twofactor.remembered import revoke_all
from idp.users.invitations import ad_connection_of
from idp.users.invitations import pending_invitation
from idp.users.links import new_link
from idp.users.not_me import IdentityChange
from idp.users.not_me import identity_snapshot
from idp.users.not_me import tell_old_address
from idp.users.passwords import password_problems
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role
from policies.links import LINK_VALIDITY
from policies.links import LinkPurpose
from policies.login_method import check_method_change
from policies.login_method import check_method_choice
from policies.login_method import choosable_methods
from policies.login_method import is_facebook_rebind_allowed

#: The reason recorded on the sign-out, the revoked browsers and the logout tokens' audit.
REASON = "login_method_change"


class MethodChangeError(DomainError):
    """A login-method change refused; ``reason`` says why (the pages translate it)."""

    default_reason = "method_change_refused"


@dataclass(frozen=True)
class IdentityBefore:
    """What the account was before an identity change: X6 tells the old address and can
    revert to it."""

    email: str
    login_method: str
    #: The upstream identities, as :func:`idp.users.not_me.identity_snapshot` gives them.
    identities: list[dict[str, Any]] = field(default_factory=list)


def has_ad(user: User) -> bool:
    """M3, D1: the user's contract has an AD FS connection (a directory reached by LDAP is
    not offered for a change yet, as for registration)."""
    return ad_connection_of(user.contract_id) is not None


def methods_for(user: User) -> list[LoginMethod]:
    """M3: the methods the user's role may choose on this contract (the contractor never
    ``ad``); which upstreams are configured is the page's business."""
    return choosable_methods(Role(user.role), has_ad=has_ad(user))


def _check_actor(actor: Actor, user: User) -> None:
    """A person changes their own method (menu or link); an administrator acts only in
    their own contract (G8: another contract's user is not found)."""
    if actor.contract_id is not None and actor.contract_id != user.contract_id:
        raise NotFoundError(f"no user {user.id}")
    if actor.kind == ActorKind.USER and actor.id != user.id:
        raise MethodChangeError("a person changes only their own login method", "not_self")


def _check_may_change(actor: Actor, user: User) -> None:
    """M1, M2: whose method may change now; an invited user registers instead (L10)."""
    _check_actor(actor, user)
    decision = check_method_change(
        Role(user.role), contract_state(get_contract(user.contract_id)), datetime.now(UTC)
    )
    if not decision.is_allowed:
        raise MethodChangeError(
            "this login method cannot be changed now", decision.reason or "not_permitted"
        )
    if pending_invitation(user) is not None:
        raise MethodChangeError("the user has not registered yet", "not_registered")


def _check_choice(user: User, method: str) -> None:
    """M3 on the server, whatever the form offered."""
    if method not in set(LoginMethod):
        raise MethodChangeError(f"unknown login method {method}", "unknown_method")
    decision = check_method_choice(LoginMethod(method), Role(user.role), has_ad=has_ad(user))
    if not decision.is_allowed:
        raise MethodChangeError(
            "this login method cannot be chosen", decision.reason or "not_permitted"
        )


def hash_new_password(user: User, password: str) -> str:
    """M4, P2: the hash of the new password, kept until the person confirms the change;
    refuses a password that breaks the rule (``weak_password``) and a user who already
    signs in with a password (P1 changes it: ``same_method``)."""
    if user.login_method == LoginMethod.PASSWORD:
        raise MethodChangeError("the login method is already password", "same_method")
    if password_problems(password, user.email):
        raise MethodChangeError("the password breaks the password rule (P2)", "weak_password")
    return extensions.passwords().hash(password)


def _finish(actor: Actor, user: User, before: IdentityBefore) -> None:
    """After the commit: forget remembered browsers, sign out everywhere (relying parties
    hear it, X7), then the X6 hook."""
    revoke_all(actor, user, REASON)
    sign_out_everywhere(actor, user, REASON)
    _after_identity_change(actor, user, before)


def _after_identity_change(actor: Actor, user: User, before: IdentityBefore) -> None:
    """X6: the old address is told and gets the "this was not me" link, which reverts to
    the method and identities of ``before`` (:mod:`idp.users.not_me`)."""
    tell_old_address(
        actor,
        user,
        kind=IdentityChange.LOGIN_METHOD,
        old_email=before.email,
        old_method=before.login_method,
        old_identities=before.identities,
    )


def _before(user: User) -> IdentityBefore:
    return IdentityBefore(
        email=user.email, login_method=user.login_method, identities=identity_snapshot(user)
    )


@audit.change("login_method_change")
def change_to_password(actor: Actor, user: User, password_hash: str) -> None:
    """M4: the password (checked and hashed by :func:`hash_new_password`) becomes the login
    method; the old upstream identities are removed and the user is signed out everywhere
    (the menu then shows the login page)."""
    _check_may_change(actor, user)
    if user.login_method == LoginMethod.PASSWORD:
        raise MethodChangeError("the login method is already password", "same_method")
    before = _before(user)
    db.session.query(UpstreamIdentity).filter_by(user_id=user.id).delete()
    user.login_method = LoginMethod.PASSWORD
    user.password_hash = password_hash
    user.failed_logins = 0
    user.state_version = user.state_version + 1  # voids older links and every session
    db.session.commit()
    _finish(actor, user, before)
    audit.record(
        "login_method_change",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
        details={"from": before.login_method, "to": LoginMethod.PASSWORD.value},
    )


def binding_refusal(user: User, provider: str, issuer: str, subject: str) -> str | None:
    """L7, M5: why this upstream identity cannot become the user's method, before anything
    changes (so a link stays usable): ``identity_taken`` (bound to another account, which
    is never named) or ``facebook_rebind`` (a different Facebook account than the one
    bound); ``None`` when it can."""
    bound = (
        db.session.query(UpstreamIdentity)
        .filter_by(provider=provider, issuer=issuer, subject=subject)
        .one_or_none()
    )
    if bound is not None and bound.user_id != user.id:
        return "identity_taken"
    if provider == LoginMethod.FACEBOOK:
        current = db.session.query(UpstreamIdentity).filter_by(
            user_id=user.id, provider=LoginMethod.FACEBOOK
        )
        if not all(is_facebook_rebind_allowed(i.subject, subject) for i in current):
            return "facebook_rebind"
    return None


def stage_new_password(link: MailLink, user: User, password: str) -> None:
    """M4, M6: keep the new password's hash (never the password) on the unused link between
    the password form and the confirmation screen; changes no account."""
    password_hash = hash_new_password(user, password)
    link.data = {**(link.data or {}), "password_hash": password_hash}
    db.session.commit()


def _ad_connection_for(user: User, issuer: str) -> AdConnection:
    """D1, L8: the contract's AD FS, whose issuer the identity must come from."""
    connection = ad_connection_of(user.contract_id)
    if connection is None or connection.settings.get("issuer") != issuer:
        raise MethodChangeError("not the contract's Active Directory", "other_directory")
    return connection


@audit.change("login_method_change")
def change_to_upstream(
    actor: Actor,
    user: User,
    provider: str,
    issuer: str,
    subject: str,
    email: str | None = None,
) -> None:
    """M5 (and M3 for ``ad``): the upstream identity the person just signed in with becomes
    the login method, bound by (provider, issuer, subject), never by email.

    Refused before anything changes: a method M3 does not allow, an identity bound to
    another account (``identity_taken``), a different Facebook account than the one bound
    (M5: change to another method first). A change to ``ad`` mails the AD login URLs (D2).
    """
    _check_may_change(actor, user)
    if provider == LoginMethod.PASSWORD:
        raise MethodChangeError("a password is not an upstream", "unknown_method")
    _check_choice(user, provider)
    connection = _ad_connection_for(user, issuer) if provider == LoginMethod.AD else None
    if not subject:
        raise MethodChangeError("the upstream named no subject", "no_subject")
    refusal = binding_refusal(user, provider, issuer, subject)
    if refusal == "identity_taken":
        raise MethodChangeError("this upstream account is already registered", refusal)
    if refusal is not None:
        raise MethodChangeError(
            "M5: change to another login method before binding a different Facebook account",
            refusal,
        )
    current = db.session.query(UpstreamIdentity).filter_by(user_id=user.id).all()
    before = _before(user)
    for old in current:
        db.session.delete(old)
    db.session.flush()
    db.session.add(
        UpstreamIdentity(
            user_id=user.id, provider=provider, issuer=issuer, subject=subject, email=email
        )
    )
    user.login_method = provider
    user.password_hash = None
    user.failed_logins = 0
    user.state_version = user.state_version + 1
    try:
        db.session.commit()
    except IntegrityError:
        # Bound to someone else since the check (the unique key decides): nothing changed.
        db.session.rollback()
        raise MethodChangeError(
            "this upstream account is already registered", "identity_taken"
        ) from None
    _finish(actor, user, before)
    if connection is not None:
        mail_ad_login_urls(user, connection)  # D2
    audit.record(
        "login_method_change",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
        details={"from": before.login_method, "to": provider, "issuer": issuer},
    )


@audit.change("method_change_link")
def send_method_change_link(actor: Actor, user: User) -> str:
    """M2, M6: mail the user "【WORKSDRIVEログイン方法の設定変更】" with a single-use link,
    valid 14 days, that opens the method choice for the user's role. Nothing changes until
    the link is used; an expired link changes nothing (M6: the change is cancelled).

    :returns: the stored link's id (for the operator; never the URL, which is a secret).
    """
    _check_may_change(actor, user)
    link, url = new_link(user, LinkPurpose.METHOD_CHANGE)
    send_mail(user.email, "method_change", user.locale, user=user, url=url, days=LINK_VALIDITY.days)
    audit.record(
        "method_change_link",
        "ok",
        None,
        user_id=user.id,
        contract_id=user.contract_id,
        actor=actor,
        details={"link": link.id},
    )
    return link.id
