"""Redis backend of the ephemeral store."""

from __future__ import annotations

import math

import redis as redis_lib

from idp.store.base import EphemeralStore

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


class RedisStore(EphemeralStore):
    def __init__(self, url: str, prefix: str = "idp:") -> None:
        self._redis = redis_lib.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._incr = self._redis.register_script(_INCR_SCRIPT)
        self._decr = self._redis.register_script(_DECR_SCRIPT)

    def _k(self, key: str) -> str:
        return self._prefix + key

    def set(self, key: str, value: str, ttl: int) -> None:
        self._redis.set(self._k(key), value, ex=max(1, ttl))

    def get(self, key: str) -> str | None:
        return self._redis.get(self._k(key))  # type: ignore[return-value]

    def pop(self, key: str) -> str | None:
        return self._redis.getdel(self._k(key))  # type: ignore[return-value]

    def add(self, key: str, value: str, ttl: int) -> bool:
        return bool(self._redis.set(self._k(key), value, ex=max(1, ttl), nx=True))

    def incr(self, key: str, ttl: int) -> int:
        try:
            return int(self._incr(keys=[self._k(key)], args=[max(1, ttl)]))
        except redis_lib.ResponseError as error:
            raise ValueError(f"{key!r} does not hold an integer") from error

    def decr(self, key: str) -> int:
        try:
            return int(self._decr(keys=[self._k(key)]))
        except redis_lib.ResponseError as error:
            raise ValueError(f"{key!r} does not hold an integer") from error

    def ttl(self, key: str) -> int | None:
        # PTTL: -2 absent, -1 no expiry (never set through this interface).
        left = int(self._redis.pttl(self._k(key)))
        return None if left < 0 else max(1, math.ceil(left / 1000))

    def delete(self, key: str) -> None:
        self._redis.delete(self._k(key))

    def ping(self) -> bool:
        return bool(self._redis.ping())

    def close(self) -> None:
        self._redis.close()
