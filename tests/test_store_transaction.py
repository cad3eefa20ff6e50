"""Issue 13, DESIGN.md State: the SQL store's one transaction per request
(``EphemeralStore.transaction``). Inside the block the store's operations run on the
request's database session and commit with it; each stays atomic (parallel claims of one
value: one wins), its writes are seen by others once committed (``commit()`` before slow
work), a page for the person (``IdpError``) keeps what the request wrote, and an unexpected
error writes nothing. Outside the block (tests/test_store.py) every operation commits
itself. On SQLite and PostgreSQL, as the provider runs them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from idp import extensions
from idp.errors import TransactionError
from idp.models import EphemeralEntry
from idp.models import db
from tests.conftest import Provider
from tests.conftest import build_provider

pytestmark = pytest.mark.covers("K1", "L2")

_TABLE = EphemeralEntry.__table__


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def provider(
    request: pytest.FixtureRequest,
    services: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Provider]:
    built = build_provider(request.param, tmp_path_factory.mktemp(request.param), services)
    yield built
    built.close()


def _committed(provider: Provider, key: str) -> str | None:
    """The value as another connection sees it (committed writes only)."""
    with provider.app.app_context():
        with db.engine.connect() as conn:
            row = conn.execute(select(_TABLE.c.value).where(_TABLE.c.key == key)).first()
    return None if row is None else str(row[0])


def test_writes_inside_commit_with_the_block_and_are_read_back_before(provider):
    with provider.app.test_request_context():
        store = extensions.store()
        with store.transaction():
            store.set("k:inside", "one", 60)
            assert store.get("k:inside") == "one"  # the request reads its own write
            assert _committed(provider, "k:inside") is None  # others do not, yet
        assert _committed(provider, "k:inside") == "one"


def test_K1_commit_makes_the_writes_so_far_seen_before_the_block_ends(provider):
    """What the sign-in does before the hash: the counters are seen by parallel attempts."""
    with provider.app.test_request_context():
        store = extensions.store()
        with store.transaction():
            assert store.incr("fail-ip:192.0.2.7", 60) == 1
            store.commit()
            assert _committed(provider, "fail-ip:192.0.2.7") == "1"
            store.set("k:after", "x", 60)
            assert _committed(provider, "k:after") is None
        assert _committed(provider, "k:after") == "x"


def test_a_page_for_the_person_keeps_the_writes_and_an_unexpected_error_drops_them(provider):
    with provider.app.test_request_context():
        store = extensions.store()
        with pytest.raises(TransactionError), store.transaction():
            store.set("k:page", "kept", 60)
            raise TransactionError("finished")
        assert _committed(provider, "k:page") == "kept"
    with provider.app.test_request_context():
        store = extensions.store()
        with pytest.raises(RuntimeError), store.transaction():
            store.set("k:crash", "dropped", 60)
            raise RuntimeError("unexpected")
        db.session.rollback()  # what the request's teardown does
        assert _committed(provider, "k:crash") is None


def test_the_database_work_of_the_request_commits_with_the_store(provider):
    """``defer_commit``: the caller's own database writes wait for the block's commit."""
    with provider.app.test_request_context():
        store = extensions.store()
        with store.transaction():
            db.session.execute(
                _TABLE.insert().values(key="k:db", value="row", counter=0, expires_at=9e9)
            )
            assert store.defer_commit() is True
            assert _committed(provider, "k:db") is None
        assert _committed(provider, "k:db") == "row"
        assert store.defer_commit() is False  # outside the block: the caller commits


def test_another_thread_does_not_join_the_block(provider):
    """A job started inside (mail, SMS) writes on its own, at once."""
    app = provider.app
    with app.test_request_context():
        store = extensions.store()
        with store.transaction():

            def job() -> None:
                with app.app_context():
                    store.set("k:thread", "own", 60)

            worker = threading.Thread(target=job)
            worker.start()
            worker.join(30)
            assert _committed(provider, "k:thread") == "own"


def test_O1_parallel_claims_inside_blocks_give_the_value_once(provider):
    """A double-clicked finish: each request pops the transaction inside its own block; the
    pop locks the row until its commit, so exactly one gets it."""
    app = provider.app
    with app.app_context():
        extensions.store().set("tx:claimed", "payload", 60)
    barrier = threading.Barrier(4)

    def claim(_: int) -> str | None:
        with app.test_request_context():
            store = extensions.store()
            barrier.wait()
            with store.transaction():
                return store.pop("tx:claimed")

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(claim, range(4)))
    assert results.count("payload") == 1 and results.count(None) == 3, results
