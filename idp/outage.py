"""Outages of the services the provider stands on (issue 13, "Faults"): the database, the
ephemeral store (Redis or its SQL table) and the disk of the local outboxes.

A request that meets one gets a clear "try again" answer instead of a 500 (``idp/web.py``):
a 503 page in the person's language, OAuth ``temporarily_unavailable`` for a client, an RFC
9457 problem for the admin API, each with ``Retry-After``. Nothing is decided on a check
that could not be made: the error leaves the step that met it, so the sign-in stops there
(fail closed: no lockout, 2FA, route or permission check is skipped).

Only the kind of failure is logged (the service and the exception's class), never its text:
SQLAlchemy's message holds the statement's parameters (hashes, link digests) and a Redis
error may name a key."""

from __future__ import annotations

import errno
from enum import StrEnum

from sqlalchemy import exc as sql_errors

from idp.store import StoreUnavailable

#: Seconds a client is asked to wait (RFC 9110 §10.2.3 ``Retry-After``): a restart of
#: PostgreSQL or Redis takes about this long.
RETRY_AFTER = 30


class Service(StrEnum):
    DATABASE = "database"
    STORE = "store"
    DISK = "disk"


#: The database did not answer (refused, restarted, dropped the connection, locked): the
#: DBAPI's OperationalError and InterfaceError, and the pool's timeout.
DATABASE_OUTAGES: tuple[type[Exception], ...] = (
    sql_errors.OperationalError,
    sql_errors.InterfaceError,
    sql_errors.TimeoutError,
)
#: The disk is full, over quota, or the file over its size limit (RLIMIT_FSIZE).
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def outage_of(error: BaseException) -> Service | None:
    """Which service's outage ``error`` is, or None when it is something else (a bug).

    The Redis store raises :class:`~idp.store.StoreUnavailable` for every outage of Redis,
    Sentinel or Cluster (idp/store/redis_outage.py); the SQL ephemeral store fails with the
    database's errors: both are "database" then.
    A disconnect the pool noticed (``connection_invalidated``) counts whatever its class."""
    if isinstance(error, StoreUnavailable):
        return Service.STORE
    if isinstance(error, DATABASE_OUTAGES):
        return Service.DATABASE
    if isinstance(error, sql_errors.DBAPIError) and error.connection_invalidated:
        return Service.DATABASE
    if isinstance(error, OSError) and error.errno in DISK_FULL:
        return Service.DISK
    return None
