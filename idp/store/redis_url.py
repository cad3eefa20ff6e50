"""Where the Redis store's data lives: ``IDP_REDIS_URL`` names one server, a master watched by
Redis Sentinel, or a Redis Cluster (issue 13: growing past one Redis is configuration, not
code), and :func:`connect` makes the client for it.

* ``redis://[[user]:password@]host:port/db`` (``rediss://``, ``unix://``): one server.
* ``redis+sentinel://[[user]:password@]host:port[,host:port…]/service[/db]``: the sentinels
  name the master of ``service``; after a failover the client follows them to the new one.
* ``redis+cluster://[[user]:password@]host:port[,host:port…]``: a Redis Cluster; the nodes
  listed are where discovery starts (one reachable node is enough).

Sentinel and cluster URLs take ``socket_timeout`` and ``socket_connect_timeout`` (seconds) as
query parameters; the password in the URL is the data nodes' (sentinels without a password).
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import unquote
from urllib.parse import urlsplit

import redis as redis_lib
from redis.backoff import ExponentialBackoff
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"
#: Seconds to connect and to wait for a reply; query parameters of the URL override them.
#: Every operation is one key and answers in well under a millisecond, so two seconds without
#: an answer means a server that is gone (a host that no longer answers does not refuse).
TIMEOUTS = {"socket_timeout": 2.0, "socket_connect_timeout": 2.0}


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
