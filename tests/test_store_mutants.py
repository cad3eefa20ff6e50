"""Edges of the ephemeral-store contract that mutation testing (``make mutation``) found
unasserted by tests/test_store.py: one key never answers for another, absent keys read as
None, expiry falls at the exact second on every operation, the purge removes exactly the
expired rows, and Redis is told to forget every key.

The SQL backends read ``time.time()`` in this process, so their clock is travelled with
time_machine; Redis keeps its own clock, so its expiry is read back from Redis itself.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import time_machine
from sqlalchemy import create_engine
from sqlalchemy import func
from sqlalchemy import select

from idp.models import EphemeralEntry
from idp.models import db
from idp.store.redis import RedisStore
from idp.store.sql import SqlStore

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@contextmanager
def open_sql_store(kind: str, tmp_path: Path, services: dict[str, Any]) -> Iterator[SqlStore]:
    if kind == "sqlite":
        engine = create_engine(
            f"sqlite:///{tmp_path / 'store.sqlite3'}",
            connect_args={"timeout": 30, "check_same_thread": False},
        )
    else:
        engine = create_engine(services["postgres"].create_database("mut_" + uuid.uuid4().hex[:8]))
    db.metadata.create_all(engine)
    try:
        yield SqlStore(engine)
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store(request, tmp_path, services):
    with open_sql_store(request.param, tmp_path, services) as backend:
        yield backend


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def store(request, tmp_path, services):
    if request.param == "redis":
        backend = RedisStore(services["redis"].url(2), prefix=f"m{uuid.uuid4().hex[:6]}:")
        yield backend
        backend.close()
        return
    with open_sql_store(request.param, tmp_path, services) as sql:
        yield sql


@pytest.fixture()
def redis_store(services):
    backend = RedisStore(services["redis"].url(2), prefix=f"m{uuid.uuid4().hex[:6]}:")
    yield backend
    backend.close()


@pytest.fixture()
def raw_redis(services):
    client = redis_lib.Redis.from_url(services["redis"].url(2), decode_responses=True)
    yield client
    client.close()


def rows(store: SqlStore) -> int:
    with store._engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(EphemeralEntry.__table__)).scalar_one()
        )


def test_each_key_answers_only_for_itself_and_absent_keys_are_none(store):
    store.set("a", "1", 60)
    store.set("b", "2", 60)
    assert (store.get("a"), store.get("b")) == ("1", "2")
    assert store.get("absent") is None
    assert store.get_json("absent") is None
    assert store.pop("absent") is None
    assert store.pop_json("absent") is None
    assert store.pop("b") == "2"
    assert store.get("a") == "1"


@pytest.mark.covers("L4", "L6")  # the wrong-code limits count in these windows
def test_sql_expiry_falls_at_the_exact_second_on_every_operation(sql_store):
    with time_machine.travel(T0, tick=False) as clock:
        for key in ("get", "pop", "add"):
            sql_store.set(key, "v", 60)
        assert sql_store.incr("count", 60) == 1
        assert sql_store.incr("count", 60) == 2

        clock.move_to(T0 + timedelta(seconds=59))
        assert sql_store.get("get") == "v"
        assert sql_store.add("add", "taken", 60) is False
        assert sql_store.incr("count", 60) == 3

        clock.move_to(T0 + timedelta(seconds=60))
        assert sql_store.get("get") is None
        assert sql_store.pop("pop") is None
        assert sql_store.add("add", "taken", 60) is True
        assert sql_store.get("add") == "taken"
        assert sql_store.incr("count", 60) == 1  # a new window, not the old count


def test_sql_purge_removes_exactly_the_expired_rows(sql_store):
    with time_machine.travel(T0, tick=False) as clock:
        sql_store.set("old", "v", 10)
        sql_store.set("edge", "v", 60)
        sql_store.set("live", "v", 61)
        sql_store.incr("count", 10)
        assert rows(sql_store) == 4

        clock.move_to(T0 + timedelta(seconds=60))
        assert sql_store.purge_expired() == 3
        assert rows(sql_store) == 1
        assert sql_store.get("live") == "v"
        assert sql_store.purge_expired() == 0


def test_redis_keys_live_under_the_idp_prefix_by_default(services, raw_redis):
    """Operators find (and flush) the provider's keys in a shared Redis by ``idp:``."""
    store = RedisStore(services["redis"].url(2))
    key = uuid.uuid4().hex
    try:
        store.set(key, "v", 60)
        assert raw_redis.get(f"idp:{key}") == "v"
        assert store.get(key) == "v"
    finally:
        store.delete(key)
        store.close()


def test_redis_forgets_every_key_within_its_ttl(redis_store, raw_redis):
    redis_store.set("set", "v", 60)
    assert redis_store.add("add", "v", 60) is True
    redis_store.incr("incr", 60)
    for key in ("set", "add", "incr"):
        assert 0 < raw_redis.ttl(redis_store._k(key)) <= 60, key
    # A TTL under one second is rounded up to one second, not to more (and never to none).
    redis_store.set("set1", "v", 0)
    assert redis_store.add("add1", "v", 1) is True
    redis_store.incr("incr1", 0)
    for key in ("set1", "add1", "incr1"):
        assert raw_redis.pttl(redis_store._k(key)) != -1, key  # -2: already gone, fine
        assert raw_redis.pttl(redis_store._k(key)) <= 1000, key


def test_redis_ping_answers_true_while_the_server_is_up(redis_store):
    assert redis_store.ping() is True
