"""Which errors of a store backend mean "the store is down, try again later".

Kept beside the backends so that the rest of the code never imports redis (DESIGN.md, State);
redis is imported only when an error is being classified, so a node on the SQL store never
loads it."""

from __future__ import annotations


def is_store_outage(error: BaseException) -> bool:
    """True when Redis is down, restarting, loading, read-only after a failover or its cluster
    is not serving: the same request may succeed later. (A ``ResponseError`` for a wrong
    command is a bug, not an outage.) The SQL store fails with the database's errors."""
    from redis import exceptions as redis_errors

    return isinstance(
        error,
        (
            # also BusyLoadingError and Sentinel's MasterNotFoundError
            redis_errors.ConnectionError,
            redis_errors.TimeoutError,
            redis_errors.ReadOnlyError,
            # also MasterDownError
            redis_errors.ClusterDownError,
            redis_errors.TryAgainError,
        ),
    )
