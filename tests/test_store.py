"""DESIGN.md State: both ephemeral-store backends pass the same contract, atomically."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine

from idp.models import db
from idp.store.redis import RedisStore
from idp.store.sql import SqlStore


@pytest.fixture(params=["sqlite", "postgresql", "redis"])
def store(request, tmp_path, services):
    if request.param == "redis":
        backend = RedisStore(services["redis"].url(1), prefix=f"t{uuid.uuid4().hex[:6]}:")
        yield backend
        backend.close()
        return
    if request.param == "sqlite":
        engine = create_engine(
            f"sqlite:///{tmp_path / 'store.sqlite3'}",
            connect_args={"timeout": 30, "check_same_thread": False},
        )
    else:
        name = "store_" + uuid.uuid4().hex[:8]
        engine = create_engine(services["postgres"].create_database(name))
    db.metadata.create_all(engine)
    yield SqlStore(engine)
    engine.dispose()


def test_set_get_delete_and_ttl(store):
    store.set("a", "1", 60)
    assert store.get("a") == "1"
    store.set("a", "2", 60)
    assert store.get("a") == "2"
    store.delete("a")
    assert store.get("a") is None
    store.set("short", "x", 1)
    time.sleep(1.2)
    assert store.get("short") is None
    assert store.pop("short") is None


def test_add_only_if_absent(store):
    assert store.add("k", "first", 60) is True
    assert store.add("k", "second", 60) is False
    assert store.get("k") == "first"
    store.set("gone", "x", 1)
    time.sleep(1.2)
    assert store.add("gone", "new", 60) is True


def test_json_helpers(store):
    store.set_json("j", {"a": [1, "ü"]}, 60)
    assert store.get_json("j") == {"a": [1, "ü"]}
    assert store.pop_json("j") == {"a": [1, "ü"]}
    assert store.get_json("j") is None


def test_pop_is_atomic_under_contention(store):
    store.set("once", "value", 60)
    barrier = threading.Barrier(16)

    def take():
        barrier.wait()
        return store.pop("once")

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda _: take(), range(16)))
    assert results.count("value") == 1


def test_incr_is_atomic_and_expires(store):
    barrier = threading.Barrier(20)

    def bump():
        barrier.wait()
        return store.incr("count", 60)

    with ThreadPoolExecutor(20) as pool:
        results = sorted(pool.map(lambda _: bump(), range(20)))
    assert results == list(range(1, 21))
    assert store.incr("brief", 1) == 1
    time.sleep(1.2)
    assert store.incr("brief", 1) == 1
