"""A moved clock for the ephemeral store, on both backends, without waiting.

The SQL store and the rest of the provider read ``time.time()``, which time_machine moves (the
in-process server threads see the travelled clock too). Redis expires keys by its own clock,
which no test can move; there, moving the clock by ``s`` seconds also takes ``s`` seconds off
every key of the store (``PEXPIRE``, or ``DEL`` when its time has run out), which is what
Redis itself does as ``s`` seconds pass. So a test states "an hour later" once and both
backends see it; the time to live the store gave each key is what decides, as in production.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import time_machine

from idp.store.redis import RedisStore


class MovedClock:
    def __init__(self, store: Any, traveller: Any) -> None:
        self._store = store
        self._traveller = traveller

    def advance(self, seconds: float) -> None:
        self._traveller.shift(seconds)
        if isinstance(self._store, RedisStore):
            _age_redis_keys(self._store, seconds)


def _age_redis_keys(store: RedisStore, seconds: float) -> None:
    client = store._redis  # the far side of the network: Redis's own commands
    for name in client.scan_iter(match=store._prefix + "*", count=500):
        left = int(client.pttl(name))
        if left < 0:
            continue
        remaining = left - round(seconds * 1000)
        if remaining <= 0:
            client.delete(name)
        else:
            client.pexpire(name, remaining)


@contextmanager
def moved_clock(store: Any, *, tick: bool = True) -> Iterator[MovedClock]:
    """Travel from now (ticking, unless ``tick`` is false); ``advance`` moves the clock on and
    ages the store's keys. A stopped clock is for a test that reads a time to the second: on
    a ticking one, a stalled CI worker moves it on between two statements (Redis's own clock
    still ticks)."""
    with time_machine.travel(time.time(), tick=tick) as traveller:
        yield MovedClock(store, traveller)
