"""G4, X7: deleting a user. Every session and token ends first, and the user's clients are
told by back-channel logout: the queued logout tokens name the user by id and are not tied
to the user row, so they are delivered after the row and everything hanging off it (token
families, factors, identities, remembered browsers, links, sessions) are gone. The audit
events stay."""

from __future__ import annotations

from sqlalchemy import delete

from idp import audit
from idp.actor import Actor
from idp.errors import DomainError
from idp.models import User
from idp.models import db
from idp.sso import sign_out_everywhere
from idp.vocabulary import Role

#: The audit reason of the sign-out a deletion makes.
USER_DELETED = "user_deleted"


class DeletionError(DomainError):
    default_reason = "delete_refused"


@audit.change("user_delete")
def delete_user(actor: Actor, user: User) -> int:
    """Delete ``user`` (G4: "revokes every token and session").

    :raises DeletionError: reason ``contractor``: the contractor owns the contract and leaves
        only with it (C3 cancellation, then the purge).
    :returns: how many token families were live and were revoked before the deletion."""
    if user.role == Role.CONTRACTOR:
        raise DeletionError(
            "The contractor cannot be deleted: the contract ends by its cancellation.",
            "contractor",
        )
    user_id, contract_id = user.id, user.contract_id
    # Before the delete: the token families say which clients to tell (X7).
    revoked = sign_out_everywhere(actor, user, USER_DELETED)
    # The foreign keys cascade to the factors, identities, browsers, token families (and
    # their refresh tokens), links, invitation and listed sessions.
    db.session.execute(delete(User).where(User.id == user_id))
    db.session.commit()
    if user in db.session:
        db.session.expunge(user)  # gone: never flushed again
    audit.record(
        "user_delete",
        "ok",
        None,
        user_id=user_id,
        contract_id=contract_id,
        details={"token_families": revoked},
        actor=actor,
    )
    return revoked
