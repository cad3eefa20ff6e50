"""SQL backend of the ephemeral store: one table, atomic statements (SQLite and PostgreSQL)."""

from __future__ import annotations

import time

from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from idp.models import EphemeralEntry
from idp.store.base import EphemeralStore

_TABLE = EphemeralEntry.__table__


class SqlStore(EphemeralStore):
    """Each operation is one statement in its own transaction, so it is atomic on its row."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert

    def set(self, key: str, value: str, ttl: int) -> None:
        stmt = self._insert(_TABLE).values(
            key=key, value=value, counter=0, expires_at=time.time() + ttl
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={
                "value": stmt.excluded.value,
                "counter": 0,
                "expires_at": stmt.excluded.expires_at,
            },
        )
        with self._engine.begin() as conn:
            conn.execute(stmt)

    def get(self, key: str) -> str | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(_TABLE.c.value).where(_TABLE.c.key == key, _TABLE.c.expires_at > time.time())
            ).first()
        return None if row is None else row[0]

    def pop(self, key: str) -> str | None:
        stmt = (
            delete(_TABLE).where(_TABLE.c.key == key).returning(_TABLE.c.value, _TABLE.c.expires_at)
        )
        with self._engine.begin() as conn:
            row = conn.execute(stmt).first()
        if row is None or row[1] <= time.time():
            return None
        return row[0]

    def add(self, key: str, value: str, ttl: int) -> bool:
        now = time.time()
        stmt = self._insert(_TABLE).values(key=key, value=value, counter=0, expires_at=now + ttl)
        # Take over an expired row; leave a live one alone.
        stmt = stmt.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={
                "value": stmt.excluded.value,
                "counter": 0,
                "expires_at": stmt.excluded.expires_at,
            },
            where=_TABLE.c.expires_at <= now,
        ).returning(_TABLE.c.key)
        with self._engine.begin() as conn:
            return conn.execute(stmt).first() is not None

    def incr(self, key: str, ttl: int) -> int:
        now = time.time()
        stmt = self._insert(_TABLE).values(key=key, value="", counter=1, expires_at=now + ttl)
        expired = _TABLE.c.expires_at <= now
        stmt = stmt.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={
                "counter": case((expired, 1), else_=_TABLE.c.counter + 1),
                "expires_at": case((expired, stmt.excluded.expires_at), else_=_TABLE.c.expires_at),
            },
        ).returning(_TABLE.c.counter)
        with self._engine.begin() as conn:
            return int(conn.execute(stmt).scalar_one())

    def delete(self, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(_TABLE).where(_TABLE.c.key == key))

    def purge_expired(self) -> int:
        """Delete expired rows; returns how many (run now and then, e.g. from ``idp`` CLI)."""
        with self._engine.begin() as conn:
            result = conn.execute(delete(_TABLE).where(_TABLE.c.expires_at <= time.time()))
        return result.rowcount or 0
