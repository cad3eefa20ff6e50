"""The token request's one transaction (issue 13): a Core connection of its own rather than
the ORM session's. The grant's statements (:mod:`idp.oidc.grant_statements`) were prebuilt
Core already, yet each ran through ``scoped_session.connection()`` and the commit through
``SessionTransaction``: about a tenth of a grant's CPU.

:func:`grant_transaction` wraps the token endpoint (``idp.oidc.server``); inside it,
:func:`connection` is the grant's connection, opened at its first statement and closed when
the grant ends (rolled back unless :func:`commit` ran, or :func:`keep` did and the grant was
refused with an OAuth error: then committed). Outside one, the session's."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy.engine import Connection

from idp.audit import seal_soon
from idp.models import db


class _Grant:
    connection: Connection | None = None
    #: What the transaction holds must be committed even when the grant then fails (the
    #: authorization code's take: a code presented once is spent, :func:`keep`).
    keep: bool = False
    committed: bool = False


_GRANT: ContextVar[_Grant | None] = ContextVar("idp_grant", default=None)


@contextmanager
def grant_transaction() -> Iterator[None]:
    """The token request's one transaction, on a Core connection of its own rather than the
    ORM session's (issue 13: the session's transaction machinery around these prebuilt
    statements was a tenth of a grant's CPU). Opened at its first statement; closed when
    the request's grant ends, rolled back unless :func:`commit` ran."""
    grant = _Grant()
    token = _GRANT.set(grant)
    try:
        yield
        if grant.keep and not grant.committed and grant.connection is not None:
            # The grant was refused (an OAuth error answer) after a write that stands.
            grant.connection.commit()
    finally:
        _GRANT.reset(token)
        if grant.connection is not None:
            grant.connection.close()


def connection() -> Connection:
    """The connection of the request's grant (the session's outside one)."""
    grant = _GRANT.get()
    if grant is None:
        return db.session.connection()
    if grant.connection is None:
        grant.connection = db.engine.connect()
    return grant.connection


def keep() -> None:
    """What the grant's transaction holds so far commits even when the grant is then refused
    with an OAuth error (a code's take on the SQL store: the code is spent once presented,
    as when the take committed on its own); an exception (a 500) still rolls it back."""
    grant = _GRANT.get()
    if grant is not None:
        grant.keep = True


def commit() -> None:
    """Commit the grant's transaction; its audit event is then sealed (X8) as a session's
    commit would have it."""
    grant = _GRANT.get()
    if grant is None:
        db.session.commit()
        return
    if grant.connection is not None:
        grant.connection.commit()
        grant.committed = True
        seal_soon()


def rollback() -> None:
    """End the grant's transaction without a write (a refresh token not claimed)."""
    grant = _GRANT.get()
    if grant is None:
        db.session.rollback()
    elif grant.connection is not None:
        grant.connection.rollback()
