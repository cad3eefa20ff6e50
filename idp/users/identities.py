"""Upstream identities (L7, M5): (provider, issuer, subject) bound to a user; the user is
found by this binding at every brokered sign-in, never by email."""

from __future__ import annotations

from idp import audit
from idp.actor import Actor
from idp.errors import ProvisioningError
from idp.models import UpstreamIdentity
from idp.models import db
from idp.users.find import get_user
from idp.vocabulary import LoginMethod
from policies.login_method import is_facebook_rebind_allowed


@audit.change("identity_link")
def link_identity(
    actor: Actor,
    user_id: str,
    provider: str,
    issuer: str,
    subject: str,
    email: str | None = None,
) -> UpstreamIdentity:
    """Bind an upstream identity to a user (by administrators now; by invitation later),
    replacing the user's earlier identity of that provider.

    M5: a user bound to one Facebook identity cannot be bound directly to another one."""
    user = get_user(user_id)
    if provider != user.login_method:
        raise ProvisioningError(
            f"the user's login method is {user.login_method}, not {provider}", "wrong_method"
        )
    taken = (
        db.session.query(UpstreamIdentity)
        .filter_by(provider=provider, issuer=issuer, subject=subject)
        .one_or_none()
    )
    if taken is not None:
        raise ProvisioningError("this upstream identity is already bound to a user", "taken")
    current = db.session.query(UpstreamIdentity).filter_by(user_id=user_id, provider=provider).all()
    if provider == LoginMethod.FACEBOOK and not all(
        is_facebook_rebind_allowed(i.subject, subject) for i in current
    ):
        raise ProvisioningError(
            "M5: change to another login method before binding a different Facebook account",
            "M5",
        )
    for old in current:
        db.session.delete(old)
    identity = UpstreamIdentity(
        user_id=user_id, provider=provider, issuer=issuer, subject=subject, email=email
    )
    db.session.add(identity)
    db.session.commit()
    audit.record(
        "identity_link",
        "ok",
        None,
        user_id=user_id,
        contract_id=user.contract_id,
        actor=actor,
        details={"provider": provider, "issuer": issuer},
    )
    return identity
