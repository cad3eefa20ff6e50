"""Redis backend of the ephemeral store: one Redis, a master watched by Redis Sentinel, or a
Redis Cluster, chosen by ``IDP_REDIS_URL`` alone (issue 13: growing past one Redis is
configuration, not code).

* ``redis://[[user]:password@]host:port/db`` (``rediss://``, ``unix://``): one server.
* ``redis+sentinel://[[user]:password@]host:port[,host:port…]/service[/db]``: the sentinels
  name the master of ``service``; after a failover the client follows them to the new one.
* ``redis+cluster://[[user]:password@]host:port[,host:port…]``: a Redis Cluster; the nodes
  listed are where discovery starts (one reachable node is enough).

Sentinel and cluster URLs take ``socket_timeout`` and ``socket_connect_timeout`` (seconds) as
query parameters; the password in the URL is the data nodes' (sentinels without a password).

Keys live together by subject. A key is ``kind:subject[:detail]`` (idp/store/base.py); here
it becomes ``<prefix>kind:{subject}[:detail]``. The braces are Redis Cluster's hash tag: all
keys of one subject -- a login transaction's record, its SMS code, its attempt counter and
its WebAuthn challenge (``tx:T``, ``sms-code:T``, ``sms-attempts:T:N``, ``webauthn:T``), an
authorization code and its used-code marker, a ``sid``'s index and touch marks, a user's
counters -- share one hash slot, hence one node, so an operation over them may be made atomic
(one script or MULTI) on a cluster as on one server. Every operation today touches one key
(and both scripts below one ``KEYS[1]``); a counter's window is its own expiry.

When the store cannot answer -- Redis refused or dropped the connection, timed out, is a
replica that turned read-only in a failover, or its cluster is down or moving a slot -- every
operation raises :class:`RedisUnavailable` (a :class:`~idp.store.base.StoreUnavailable`), never
``ValueError`` and never a guessed answer. redis-py retries a dropped connection first (with
backoff), which rides over a restart; an operation whose reply was lost may then have run
twice: a counter counts one more (stricter), a claim (``add``) or ``pop`` answers as if
another request had won (the step is refused, never granted twice).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from dataclasses import field
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import unquote
from urllib.parse import urlsplit

import redis as redis_lib
from redis import exceptions as redis_errors
from redis.backoff import ExponentialBackoff
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.retry import Retry
from redis.sentinel import Sentinel

from idp.store.base import EphemeralStore
from idp.store.base import StoreUnavailable

# INCR, and give the key its window only when INCR created it (no expiry yet), in one round
# trip: later increments, and an integer stored with SET, keep their expiry.
_INCR_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) == -1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""
# DECR a live counter, but never below zero; DECR keeps the expiry.
_DECR_SCRIPT = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local n = tonumber(v)
if n == nil then return redis.error_reply('ERR value is not an integer') end
if n <= 0 then return n end
return redis.call('DECR', KEYS[1])
"""

SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"
#: Seconds to connect and to wait for a reply; query parameters of the URL override them.
#: Every operation is one key and answers in well under a millisecond, so two seconds without
#: an answer means a server that is gone (a host that no longer answers does not refuse).
TIMEOUTS = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}
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


def _is_outage(error: BaseException) -> bool:
    # The bare RedisClusterException: "Redis Cluster cannot be connected" (no node answers);
    # its subclasses other than SlotNotCoveredError are our own mistakes, not outages.
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
        if error is not None and not isinstance(error, RedisUnavailable) and _is_outage(error):
            raise RedisUnavailable(f"Redis is unavailable ({type(error).__name__})") from error


OUTAGES = _Outages()


@dataclass(frozen=True)
class RedisTarget:
    """Where the store's data lives, read from ``IDP_REDIS_URL``."""

    #: ``server``, ``sentinel`` or ``cluster``.
    kind: str
    #: The URL as redis-py reads it (``server`` only).
    url: str = ""
    #: The sentinels or the cluster's startup nodes.
    nodes: tuple[tuple[str, int], ...] = ()
    #: The sentinels' name of the master.
    service: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    options: dict[str, float] = field(default_factory=dict)


def parse_redis_url(url: str) -> RedisTarget:
    """Read ``IDP_REDIS_URL``. Raises ValueError with a message that never repeats the URL (it
    may hold a password)."""
    scheme = url.partition("://")[0].lower()
    if scheme not in (SENTINEL_SCHEME, CLUSTER_SCHEME):
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                "expected redis://, rediss://, unix://, redis+sentinel:// or redis+cluster://"
            )
        return RedisTarget("server", url=url)
    parts = urlsplit(url)
    credentials, _, hosts = parts.netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    nodes = tuple(_host_port(item) for item in hosts.split(","))
    path = [unquote(p) for p in parts.path.split("/") if p]
    options: dict[str, float] = {}
    for name, value in parse_qsl(parts.query):
        if name not in TIMEOUTS:
            raise ValueError(f"unknown option {name!r} (known: {', '.join(TIMEOUTS)})")
        try:
            options[name] = float(value)
        except ValueError:
            raise ValueError(f"{name} must be a number of seconds") from None
    target = RedisTarget(
        "sentinel" if scheme == SENTINEL_SCHEME else "cluster",
        nodes=nodes,
        username=unquote(username) or None,
        password=unquote(password) or None,
        options=options,
    )
    if target.kind == "cluster":
        if path:
            raise ValueError("a cluster URL has no path (a cluster has database 0 only)")
        return target
    if not path or len(path) > 2:
        raise ValueError("expected redis+sentinel://host:port[,host:port…]/service[/db]")
    if len(path) == 2 and not path[1].isdigit():
        raise ValueError("the database after the service name must be a number")
    return RedisTarget(
        target.kind,
        nodes=nodes,
        service=path[0],
        db=int(path[1]) if len(path) == 2 else 0,
        username=target.username,
        password=target.password,
        options=options,
    )


def _host_port(item: str) -> tuple[str, int]:
    host, _, port = item.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")  # [::1]:26379
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("every node must be host:port")
    return host, int(port)


def connect(target: RedisTarget) -> redis_lib.Redis | RedisCluster:
    """The client for ``target``. Only a cluster connects here (to learn its slots); the
    others connect on first use."""
    common: dict[str, Any] = {"decode_responses": True, **TIMEOUTS, **target.options}
    if target.kind == "server":
        # Query parameters of the URL (socket_timeout=…) win over these defaults.
        return redis_lib.Redis.from_url(target.url, retry=_retry(), **common)
    credentials: dict[str, Any] = {"username": target.username, "password": target.password}
    if target.kind == "sentinel":
        # redis-py's sentinel module and ClusterNode have no type annotations.
        # Each sentinel is asked once per attempt: the next one is the retry.
        asking = {**TIMEOUTS, **target.options, "retry": Retry(NoBackoff(), 0)}
        sentinels = Sentinel(  # type: ignore[no-untyped-call]
            list(target.nodes), sentinel_kwargs=asking, **common
        )
        master: redis_lib.Redis = sentinels.master_for(  # type: ignore[no-untyped-call]
            target.service, db=target.db, retry=_retry(), **credentials
        )
        return master
    nodes = [ClusterNode(host, port) for host, port in target.nodes]  # type: ignore[no-untyped-call]
    return RedisCluster(startup_nodes=nodes, retry=_retry(), **credentials, **common)


def _retry() -> Retry:
    """A dropped connection (a restart, the last moments of a failover) is tried again three
    times within about 0.7 s; past that the request answers "try again later" (503) instead
    of holding a worker for redis-py's default of several seconds."""
    return Retry(ExponentialBackoff(cap=0.4, base=0.05), 3)


class RedisStore(EphemeralStore):
    _incr: Script
    _decr: Script

    def __init__(self, url: str, prefix: str = "idp:") -> None:
        if "{" in prefix or "}" in prefix:
            raise ValueError("the key prefix must not hold a hash tag ({ or })")
        self._target = parse_redis_url(url)
        self._prefix = prefix
        self._client: redis_lib.Redis | RedisCluster | None = None
        self._lock = threading.Lock()
        if self._target.kind != "cluster":
            self._connect()

    def _connect(self) -> redis_lib.Redis | RedisCluster:
        with self._lock:
            if self._client is None:
                with OUTAGES:
                    client = connect(self._target)
                self._incr = client.register_script(_INCR_SCRIPT)
                self._decr = client.register_script(_DECR_SCRIPT)
                self._client = client
            return self._client

    @property
    def _redis(self) -> redis_lib.Redis | RedisCluster:
        """The client; a cluster's is made on first use, so that a node starts while its
        cluster is down (and answers 503 until it is back)."""
        return self._client if self._client is not None else self._connect()

    def _k(self, key: str) -> str:
        kind, colon, rest = key.partition(":")
        if not colon:
            return self._prefix + key
        subject, colon, detail = rest.partition(":")
        return f"{self._prefix}{kind}:{{{subject}}}{colon}{detail}"

    def set(self, key: str, value: str, ttl: int) -> None:
        with OUTAGES:
            self._redis.set(self._k(key), value, ex=max(1, ttl))

    def get(self, key: str) -> str | None:
        with OUTAGES:
            return self._redis.get(self._k(key))  # type: ignore[return-value]

    def pop(self, key: str) -> str | None:
        with OUTAGES:
            return self._redis.getdel(self._k(key))  # type: ignore[return-value]

    def add(self, key: str, value: str, ttl: int) -> bool:
        with OUTAGES:
            return bool(self._redis.set(self._k(key), value, ex=max(1, ttl), nx=True))

    def incr(self, key: str, ttl: int) -> int:
        with OUTAGES:
            client = self._redis
            try:
                return int(self._incr(keys=[self._k(key)], args=[max(1, ttl)], client=client))
            except redis_errors.ResponseError as error:
                if _is_outage(error):
                    raise
                raise ValueError(f"{key!r} does not hold an integer") from error

    def decr(self, key: str) -> int:
        with OUTAGES:
            client = self._redis
            try:
                return int(self._decr(keys=[self._k(key)], client=client))
            except redis_errors.ResponseError as error:
                if _is_outage(error):
                    raise
                raise ValueError(f"{key!r} does not hold an integer") from error

    def ttl(self, key: str) -> int | None:
        # PTTL: -2 absent, -1 no expiry (never set through this interface).
        with OUTAGES:
            left = int(self._redis.pttl(self._k(key)))
        return None if left < 0 else max(1, math.ceil(left / 1000))

    def delete(self, key: str) -> None:
        with OUTAGES:
            self._redis.delete(self._k(key))

    def ping(self) -> bool:
        with OUTAGES:
            return bool(self._redis.ping())

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
