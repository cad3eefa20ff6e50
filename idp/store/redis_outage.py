"""Which failures of Redis mean "the store cannot answer now" (issue 13, Faults), and the one
exception the Redis store raises for all of them.

When Redis refuses or drops the connection, times out, is a replica that turned read-only in a
failover, is a master refusing writes for want of replicas, or its cluster is down or moving a
slot, every store operation raises :class:`RedisUnavailable` -- a
:class:`~idp.store.base.StoreUnavailable`, and a redis ``ConnectionError`` for code that
classifies redis's own errors -- never ``ValueError`` and never a guessed answer."""

from __future__ import annotations

from types import TracebackType

from redis import exceptions as redis_errors

from idp.store.base import StoreUnavailable

#: What a failing Redis, Sentinel or Cluster raises when it cannot answer now (the same call
#: may succeed later): the connection errors (also BusyLoadingError, MasterNotFoundError,
#: MaxConnectionsError), timeouts, a demoted master's READONLY, CLUSTERDOWN, TRYAGAIN, a slot
#: no node serves, a cluster none of whose nodes answers (RedisClusterException) and a Redis
#: out of memory (it refuses writes until keys expire).
_OUTAGES: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
    redis_errors.ClusterError,
    redis_errors.TryAgainError,
    redis_errors.SlotNotCoveredError,
    redis_errors.OutOfMemoryError,
)
#: Error replies that mean "not now" whatever class redis-py gives them (a script's error
#: reply, or one it has no class for): a master refusing writes that too few replicas would
#: see (``min-replicas-to-write``), a replica cut off from its master, loading, a script
#: running too long, and the codes above.
_OUTAGE_REPLIES = frozenset(
    {"NOREPLICAS", "MASTERDOWN", "LOADING", "BUSY", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "OOM"}
)


class RedisUnavailable(StoreUnavailable, redis_errors.ConnectionError):
    """Redis cannot answer now; the cause is chained (``__cause__``), its text is not repeated
    (a Redis error may name a key)."""


def is_outage(error: BaseException) -> bool:
    """True when ``error`` means Redis cannot answer now (the same call may succeed later);
    False for our own mistakes (a wrong command, a value that is not an integer).

    The bare RedisClusterException is "Redis Cluster cannot be connected" (no node answers);
    its subclasses other than SlotNotCoveredError are mistakes, not outages."""
    if isinstance(error, _OUTAGES) or type(error) is redis_errors.RedisClusterException:
        return True
    return (
        isinstance(error, redis_errors.ResponseError)
        and str(error).partition(" ")[0] in _OUTAGE_REPLIES
    )


class _Outages:
    """``with OUTAGES:`` turns an outage into :class:`RedisUnavailable`, lets the rest through."""

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is not None and not isinstance(error, RedisUnavailable) and is_outage(error):
            raise RedisUnavailable(f"Redis is unavailable ({type(error).__name__})") from error


#: The context manager around every operation of the Redis store.
OUTAGES = _Outages()
