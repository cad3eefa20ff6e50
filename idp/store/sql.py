"""SQL backend of the ephemeral store: one table, atomic statements (SQLite and PostgreSQL).

A row holds its string in ``value``; when that string is a decimal integer, ``counter`` holds
the same number, so that ``incr`` and ``decr`` are one atomic statement each and keep both
columns equal (``value = CAST(counter AS TEXT)`` marks a counter). Every read answers from
``value``, as Redis answers ``GET`` after ``INCR``.
"""

from __future__ import annotations

import math
import time

from sqlalchemy import Text
from sqlalchemy import and_
from sqlalchemy import case
from sqlalchemy import cast
from sqlalchemy import delete
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

from idp.models import EphemeralEntry
from idp.store.base import INTEGER
from idp.store.base import EphemeralStore

_TABLE = EphemeralEntry.__table__
#: Counters fit the ``counter`` column (32 bits on PostgreSQL).
_MAX_DIGITS = 9
#: The row holds a counter: its string is the counter column's number.
_IS_COUNTER = _TABLE.c.value == cast(_TABLE.c.counter, Text)


def _counter_of(value: str) -> int:
    """The ``counter`` column for ``value``: its number when it is an integer, else 0."""
    is_counter = INTEGER.fullmatch(value) and len(value.lstrip("-")) <= _MAX_DIGITS
    return int(value) if is_counter else 0


class SqlStore(EphemeralStore):
    """Each operation is one statement in its own transaction, so it is atomic on its row."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        # ``set`` is on every hot path (access tokens, codes): its upsert is built once.
        upsert = self._insert(_TABLE)
        self._set = upsert.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={
                "value": upsert.excluded.value,
                "counter": upsert.excluded.counter,
                "expires_at": upsert.excluded.expires_at,
            },
        )

    def set(self, key: str, value: str, ttl: int) -> None:
        row = {
            "key": key,
            "value": value,
            "counter": _counter_of(value),
            "expires_at": time.time() + max(1, ttl),
        }
        with self._engine.begin() as conn:
            conn.execute(self._set, row)

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
        return str(row[0])

    def add(self, key: str, value: str, ttl: int) -> bool:
        now = time.time()
        stmt = self._insert(_TABLE).values(
            key=key, value=value, counter=_counter_of(value), expires_at=now + max(1, ttl)
        )
        # Take over an expired row; leave a live one alone.
        upsert = stmt.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={
                "value": stmt.excluded.value,
                "counter": stmt.excluded.counter,
                "expires_at": stmt.excluded.expires_at,
            },
            where=_TABLE.c.expires_at <= now,
        ).returning(_TABLE.c.key)
        with self._engine.begin() as conn:
            return conn.execute(upsert).first() is not None

    def incr(self, key: str, ttl: int) -> int:
        now = time.time()
        stmt = self._insert(_TABLE).values(
            key=key, value="1", counter=1, expires_at=now + max(1, ttl)
        )
        expired = _TABLE.c.expires_at <= now
        counted = case((expired, 1), else_=_TABLE.c.counter + 1)
        upsert = stmt.on_conflict_do_update(
            index_elements=[_TABLE.c.key],
            set_={
                "counter": counted,
                "value": cast(counted, Text),
                "expires_at": case((expired, stmt.excluded.expires_at), else_=_TABLE.c.expires_at),
            },
            # A live row holding a string that is not an integer is left alone (ValueError).
            where=or_(expired, _IS_COUNTER),
        ).returning(_TABLE.c.counter)
        with self._engine.begin() as conn:
            row = conn.execute(upsert).first()
        if row is None:
            raise ValueError(f"{key!r} does not hold an integer")
        return int(row[0])

    def decr(self, key: str) -> int:
        stmt = (
            update(_TABLE)
            .where(
                and_(
                    _TABLE.c.key == key,
                    _TABLE.c.expires_at > time.time(),
                    _TABLE.c.counter > 0,
                    _IS_COUNTER,
                )
            )
            .values(counter=_TABLE.c.counter - 1, value=cast(_TABLE.c.counter - 1, Text))
            .returning(_TABLE.c.counter)
        )
        with self._engine.begin() as conn:
            row = conn.execute(stmt).first()
        # Not decremented: absent, expired, at or below zero, or not an integer (ValueError).
        return int(row[0]) if row is not None else self.count(key)

    def ttl(self, key: str) -> int | None:
        now = time.time()
        with self._engine.connect() as conn:
            row = conn.execute(
                select(_TABLE.c.expires_at).where(_TABLE.c.key == key, _TABLE.c.expires_at > now)
            ).first()
        return None if row is None else max(1, math.ceil(row[0] - now))

    def delete(self, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(delete(_TABLE).where(_TABLE.c.key == key))

    def purge_expired(self) -> int:
        """Delete expired rows; returns how many (``idp purge``, scheduled)."""
        with self._engine.begin() as conn:
            result = conn.execute(delete(_TABLE).where(_TABLE.c.expires_at <= time.time()))
        return result.rowcount or 0
