"""Redis backend of the ephemeral store, on one server, a Sentinel-watched master or a Redis
Cluster alike (idp/store/redis_url.py reads which from ``IDP_REDIS_URL``).

Keys live together by subject. A key is ``kind:subject[:detail]`` (idp/store/base.py); here it
becomes ``<prefix>kind:{subject}[:detail]`` (a subject the caller wrote in braces, because it
holds ``:``, keeps them: ``fail-ip:{2001:db8:1:2::/64}``). The braces are Redis Cluster's hash
tag: all keys of one subject -- a login transaction's record, its SMS code, its attempt counter
and its WebAuthn challenge (``tx:T``, ``sms-code:T``, ``sms-attempts:T:N``, ``webauthn:T``), an
authorization code (and its tombstone, in its own key), a ``sid``'s index and touch marks, a
user's counters -- share one hash slot, hence one node, so an operation over them may be made atomic
(one script or MULTI) on a cluster as on one server. Every operation today touches one key (and
every script below one ``KEYS[1]``); a counter's window is its own expiry.

When Redis cannot answer, every operation raises :class:`RedisUnavailable`
(idp/store/redis_outage.py). redis-py first retries a dropped connection (with backoff),
which rides over a restart; an operation whose reply was lost may then have run twice: a
counter counts one more (stricter), a claim (``add``), ``pop`` or ``take`` answers as if
another request had won (the step is refused, never granted twice; a code so taken twice counts
as reused and revokes its family, which had issued nothing).
"""

from __future__ import annotations

import math
import threading

import redis as redis_lib
from redis import exceptions as redis_errors
from redis.cluster import RedisCluster
from redis.commands.core import Script

from idp.store.base import EphemeralStore
from idp.store.redis_outage import OUTAGES
from idp.store.redis_outage import RedisUnavailable
from idp.store.redis_outage import is_outage
from idp.store.redis_url import connect
from idp.store.redis_url import parse_redis_url

__all__ = ["RedisStore", "RedisUnavailable"]

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

# Take a value once: the first call turns it into its tombstone (a NUL byte before it, which
# no stored string starts with) living ARGV[1] seconds; later calls find the tombstone.
_TAKE_SCRIPT = """
local v = redis.call('GET', KEYS[1])
if not v then return false end
if string.sub(v, 1, 1) == '\\0' then return {string.sub(v, 2), 0} end
redis.call('SET', KEYS[1], '\\0' .. v, 'EX', ARGV[1])
return {v, 1}
"""


class RedisStore(EphemeralStore):
    _incr: Script
    _decr: Script
    _take: Script

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
                self._take = client.register_script(_TAKE_SCRIPT)
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
        if rest.startswith("{"):
            # A subject in braces (idp/store/base.py's ``subject``): already the hash tag.
            end = rest.find("}")
            if end > 1 and rest[end + 1 : end + 2] in ("", ":"):
                return self._prefix + key
        subject, colon, detail = rest.partition(":")
        return f"{self._prefix}{kind}:{{{subject}}}{colon}{detail}"

    def set(self, key: str, value: str, ttl: int) -> None:
        with OUTAGES:
            self._redis.set(self._k(key), value, ex=max(1, ttl))

    def set_many(self, values: dict[str, str], ttl: int) -> None:
        # One round trip; no MULTI: the keys may live on different Cluster nodes.
        with OUTAGES:
            pipe = self._redis.pipeline(transaction=False)
            for key, value in values.items():
                pipe.set(self._k(key), value, ex=max(1, ttl))
            pipe.execute()

    def get(self, key: str) -> str | None:
        with OUTAGES:
            return self._redis.get(self._k(key))  # type: ignore[return-value]

    def pop(self, key: str) -> str | None:
        with OUTAGES:
            return self._redis.getdel(self._k(key))  # type: ignore[return-value]

    def take(self, key: str, ttl: int) -> tuple[str, bool] | None:
        with OUTAGES:
            client = self._redis
            taken = self._take(keys=[self._k(key)], args=[max(1, ttl)], client=client)
        return None if taken is None else (str(taken[0]), bool(taken[1]))

    def add(self, key: str, value: str, ttl: int) -> bool:
        with OUTAGES:
            return bool(self._redis.set(self._k(key), value, ex=max(1, ttl), nx=True))

    def incr(self, key: str, ttl: int) -> int:
        with OUTAGES:
            client = self._redis
            try:
                return int(self._incr(keys=[self._k(key)], args=[max(1, ttl)], client=client))
            except redis_errors.ResponseError as error:
                if is_outage(error):
                    raise
                raise ValueError(f"{key!r} does not hold an integer") from error

    def decr(self, key: str) -> int:
        with OUTAGES:
            client = self._redis
            try:
                return int(self._decr(keys=[self._k(key)], client=client))
            except redis_errors.ResponseError as error:
                if is_outage(error):
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
        if self._client is None:
            return
        self._client.close()
        # A Sentinel-watched master's pool holds the clients that ask the sentinels.
        sentinels = getattr(
            getattr(self._client, "connection_pool", None), "sentinel_manager", None
        )
        if sentinels is not None:
            sentinels.close()
