"""SQL backend of the ephemeral store: one table, atomic statements (SQLite and PostgreSQL).

A row holds its string in ``value``; when that string is a decimal integer, ``counter`` holds
the same number, so that ``incr`` and ``decr`` are one atomic statement each and keep both
columns equal (``value = CAST(counter AS TEXT)`` marks a counter). Every read answers from
``value``, as Redis answers ``GET`` after ``INCR``.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from sqlalchemy import Text
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import cast
from sqlalchemy import delete
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
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
    """Each operation is one statement in its own transaction, so it is atomic on its row.

    The statements are built once (values bound at execution): building and cache-keying a
    statement per call cost more CPU than running it (issue 13)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        t = _TABLE
        key = t.c.key == bindparam("k")
        live = t.c.expires_at > bindparam("now")
        expired = t.c.expires_at <= bindparam("now")
        row = insert(t).values(
            key=bindparam("k"),
            value=bindparam("v"),
            counter=bindparam("n"),
            expires_at=bindparam("exp"),
        )
        replace = {
            "value": row.excluded.value,
            "counter": row.excluded.counter,
            "expires_at": row.excluded.expires_at,
        }
        self._set = row.on_conflict_do_update(index_elements=[t.c.key], set_=replace)
        self._get = select(t.c.value).where(key, live)
        self._pop = delete(t).where(key).returning(t.c.value, t.c.expires_at)
        # Take over an expired row; leave a live one alone.
        self._add = row.on_conflict_do_update(
            index_elements=[t.c.key], set_=replace, where=expired
        ).returning(t.c.key)
        first = insert(t).values(
            key=bindparam("k"), value="1", counter=1, expires_at=bindparam("exp")
        )
        counted = case((expired, 1), else_=t.c.counter + 1)
        self._incr = first.on_conflict_do_update(
            index_elements=[t.c.key],
            set_={
                "counter": counted,
                "value": cast(counted, Text),
                "expires_at": case((expired, first.excluded.expires_at), else_=t.c.expires_at),
            },
            # A live row holding a string that is not an integer is left alone (ValueError).
            where=or_(expired, _IS_COUNTER),
        ).returning(t.c.counter)
        self._decr = (
            update(t)
            .where(and_(key, live, t.c.counter > 0, _IS_COUNTER))
            .values(counter=t.c.counter - 1, value=cast(t.c.counter - 1, Text))
            .returning(t.c.counter)
        )
        # Take: the ``counter`` column of a value that is not a counter (0) counts the takes,
        # in one statement (the row is locked while it runs); the first take gives the
        # tombstone its life.
        self._take = (
            update(t)
            .where(and_(key, live, ~_IS_COUNTER))
            .values(
                counter=t.c.counter + 1,
                expires_at=case((t.c.counter == 0, bindparam("exp")), else_=t.c.expires_at),
            )
            .returning(t.c.value, t.c.counter)
        )
        self._ttl = select(t.c.expires_at).where(key, live)
        self._delete = delete(t).where(key)

    def set(self, key: str, value: str, ttl: int) -> None:
        values = {"k": key, "v": value, "n": _counter_of(value), "exp": time.time() + max(1, ttl)}
        with self._engine.begin() as conn:
            conn.execute(self._set, values)

    def set_json_in(self, connection: Connection, key: str, value: Any, ttl: int) -> bool:
        """One statement on the caller's transaction (the token endpoint's: one commit for
        the grant's rows and its access token, issue 13), when that is this database."""
        if connection.engine is not self._engine:
            return False
        raw = json.dumps(value, separators=(",", ":"))
        values = {"k": key, "v": raw, "n": _counter_of(raw), "exp": time.time() + max(1, ttl)}
        connection.execute(self._set, values)
        return True

    def get(self, key: str) -> str | None:
        with self._engine.connect() as conn:
            row = conn.execute(self._get, {"k": key, "now": time.time()}).first()
        return None if row is None else row[0]

    def pop(self, key: str) -> str | None:
        with self._engine.begin() as conn:
            row = conn.execute(self._pop, {"k": key}).first()
        if row is None or row[1] <= time.time():
            return None
        return str(row[0])

    def take(self, key: str, ttl: int) -> tuple[str, bool] | None:
        now = time.time()
        with self._engine.begin() as conn:
            row = conn.execute(self._take, {"k": key, "now": now, "exp": now + max(1, ttl)}).first()
        return None if row is None else (str(row[0]), row[1] == 1)

    def add(self, key: str, value: str, ttl: int) -> bool:
        now = time.time()
        values = {
            "k": key,
            "v": value,
            "n": _counter_of(value),
            "exp": now + max(1, ttl),
            "now": now,
        }
        with self._engine.begin() as conn:
            return conn.execute(self._add, values).first() is not None

    def incr(self, key: str, ttl: int) -> int:
        now = time.time()
        with self._engine.begin() as conn:
            row = conn.execute(self._incr, {"k": key, "exp": now + max(1, ttl), "now": now}).first()
        if row is None:
            raise ValueError(f"{key!r} does not hold an integer")
        return int(row[0])

    def decr(self, key: str) -> int:
        with self._engine.begin() as conn:
            row = conn.execute(self._decr, {"k": key, "now": time.time()}).first()
        # Not decremented: absent, expired, at or below zero, or not an integer (ValueError).
        return int(row[0]) if row is not None else self.count(key)

    def ttl(self, key: str) -> int | None:
        now = time.time()
        with self._engine.connect() as conn:
            row = conn.execute(self._ttl, {"k": key, "now": now}).first()
        return None if row is None else max(1, math.ceil(row[0] - now))

    def delete(self, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(self._delete, {"k": key})

    def purge_expired(self) -> int:
        """Delete expired rows; returns how many (``idp purge``, scheduled)."""
        with self._engine.begin() as conn:
            result = conn.execute(delete(_TABLE).where(_TABLE.c.expires_at <= time.time()))
        return result.rowcount or 0
