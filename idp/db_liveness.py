"""Which pooled PostgreSQL connections to test before use (issue 13, "Speed" and "Faults").

SQLAlchemy's ``pool_pre_ping`` sends a statement (``;``) on every checkout: one round trip
more on every request, though the connection was in use a moment before (~0.07 ms of CPU of
a ~1.4 ms grant). Here a checkout pings only a connection that

- has something to read: an idle connection is sent nothing unless the server is going away
  (a restart or ``pg_terminate_backend`` sends a FATAL message and closes the socket, which
  the kernel reports at once), or a rare asynchronous notice; a ``poll`` of the socket tells
  without a round trip (redis-py checks its pooled connections the same way);
- was idle longer than :data:`IDLE_PING_SECONDS`: what a poll cannot see (a firewall or NAT
  that dropped an idle connection without a word) gets the round trip as before.

A failed ping replaces the connection and invalidates the pool as ``pool_pre_ping`` does
(the others are from before the restart too). A connection dropped between this check and
its first statement still fails that request with a clear 503 (``idp/outage.py``), exactly
as with ``pool_pre_ping``, which has the same window.
"""

from __future__ import annotations

import select
import time
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc
from sqlalchemy.engine import Engine

#: A connection idle longer than this is pinged before use whatever its socket says.
IDLE_PING_SECONDS = 5.0

_CHECKED_IN_AT = "idp_checked_in_at"


def ping_when_suspect(engine: Engine) -> None:
    """Install the checks on ``engine``'s pool (PostgreSQL; instead of ``pool_pre_ping``)."""
    dialect = engine.dialect

    @event.listens_for(engine, "checkin")
    def _checked_in(dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # A new connection (no check-in yet; the record's info is cleared on reconnect)
        # was just opened: nothing to test.
        checked_in_at = record.info.get(_CHECKED_IN_AT)
        if checked_in_at is None or not is_suspect(dbapi_connection, checked_in_at):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except dialect.loaded_dbapi.Error as error:
            if dialect.is_disconnect(error, dbapi_connection, None):
                raise exc.InvalidatePoolError() from error
            raise


def is_suspect(dbapi_connection: Any, checked_in_at: float) -> bool:
    """Idle too long, closed, or with something to read from the server."""
    if time.monotonic() - checked_in_at > IDLE_PING_SECONDS or dbapi_connection.closed:
        return True
    poll = select.poll()
    poll.register(dbapi_connection.fileno(), select.POLLIN | select.POLLPRI)
    return bool(poll.poll(0))
