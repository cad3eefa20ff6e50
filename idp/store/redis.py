"""Redis backend of the ephemeral store."""

from __future__ import annotations

import redis as redis_lib

from idp.store.base import EphemeralStore

# INCR then set the expiry only on the first increment, in one round trip.
_INCR_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class RedisStore(EphemeralStore):
    def __init__(self, url: str, prefix: str = "idp:") -> None:
        self._redis = redis_lib.Redis.from_url(url, decode_responses=True)
        self._prefix = prefix
        self._incr = self._redis.register_script(_INCR_SCRIPT)

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
        return int(self._incr(keys=[self._k(key)], args=[max(1, ttl)]))

    def delete(self, key: str) -> None:
        self._redis.delete(self._k(key))

    def ping(self) -> bool:
        return bool(self._redis.ping())

    def close(self) -> None:
        self._redis.close()
