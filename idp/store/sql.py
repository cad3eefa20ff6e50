"""SQL backend of the ephemeral store: one table, atomic statements (SQLite and PostgreSQL).

Outside :meth:`SqlStore.transaction` each operation is its own transaction. Inside it (the
sign-in's hot requests, issue 13) the operations run on the request's database session, so
that the request's store and database writes commit together: fewer commits, one
connection, and on SQLite no second writer waiting for the lock its own request holds.

A row holds its string in ``value``; when that string is a decimal integer, ``counter`` holds
the same number, so that ``incr`` and ``decr`` are one atomic statement each and keep both
columns equal (``value = CAST(counter AS TEXT)`` marks a counter). Every read answers from
``value``, as Redis answers ``GET`` after ``INCR``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Text
from sqlalchemy import and_
from sqlalchemy import bindparam
from sqlalchemy import case
from sqlalchemy import cast
from sqlalchemy import delete
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Executable

from idp.errors import IdpError
from idp.models import EphemeralEntry
from idp.models import db
from idp.store.base import INTEGER
from idp.store.base import EphemeralStore

_TABLE = EphemeralEntry.__table__
#: Counters fit the ``counter`` column (32 bits on PostgreSQL).
_MAX_DIGITS = 9
#: The row holds a counter: its string is the counter column's number.
_IS_COUNTER = _TABLE.c.value == cast(_TABLE.c.counter, Text)


class _Joined:
    """The store's state inside one :meth:`SqlStore.transaction` block."""

    def __init__(self) -> None:
        #: Only the thread that opened the block joins (a job it starts has its own session).
        self.thread = threading.get_ident()
        #: The session transaction holding writes not yet committed, if any.
        self.pending: Any = None


_JOINED: ContextVar[_Joined | None] = ContextVar("idp_sql_store_joined", default=None)


def _counter_of(value: str) -> int:
    """The ``counter`` column for ``value``: its number when it is an integer, else 0."""
    is_counter = INTEGER.fullmatch(value) and len(value.lstrip("-")) <= _MAX_DIGITS
    return int(value) if is_counter else 0


class SqlStore(EphemeralStore):
    """Each operation is one statement, so it is atomic on its row: in its own transaction,
    or inside :meth:`transaction` in the request's.

    The statements are built once (values bound at execution): building and cache-keying a
    statement per call cost more CPU than running it (issue 13)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        #: ``set_many``'s upsert of n rows, by n (built at its first use).
        self._set_rows: dict[int, Executable] = {}
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

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if _JOINED.get() is not None:
            yield  # already inside one: the outer block commits
            return
        token = _JOINED.set(_Joined())
        try:
            yield
            self.commit()
        except IdpError:
            # A page for the person (an expired or finished transaction): what the request
            # wrote stands, as when each operation committed itself.
            self.commit()
            raise
        finally:
            _JOINED.reset(token)

    def commit(self) -> None:
        joined = _JOINED.get()
        if joined is None or joined.pending is None:
            return
        pending, joined.pending = joined.pending, None
        # Committed meanwhile by the request's own commit: nothing left to do.
        if db.session().get_transaction() is pending:
            db.session.commit()

    def defer_commit(self) -> bool:
        joined = self._joined()
        if joined is None:
            return False
        joined.pending = db.session().get_transaction()
        return True

    @staticmethod
    def _joined() -> _Joined | None:
        joined = _JOINED.get()
        return joined if joined is not None and joined.thread == threading.get_ident() else None

    def _first(self, statement: Executable, values: dict[str, Any], *, write: bool = True) -> Any:
        """Run one statement; its first row (a ``Row``) when it returns rows, else None."""
        joined = self._joined()
        if joined is not None:
            session = db.session()
            result = session.connection().execute(statement, values)
            if write:
                joined.pending = session.get_transaction()
            return result.first() if result.returns_rows else None
        with self._engine.begin() if write else self._engine.connect() as conn:
            result = conn.execute(statement, values)
            return result.first() if result.returns_rows else None

    def set(self, key: str, value: str, ttl: int) -> None:
        values = {"k": key, "v": value, "n": _counter_of(value), "exp": time.time() + max(1, ttl)}
        self._first(self._set, values)

    def set_many(self, values: dict[str, str], ttl: int) -> None:
        """One upsert of all the rows: one statement (so the keys are written together)."""
        if len(values) <= 1:
            for key, value in values.items():
                self.set(key, value, ttl)
            return
        expires_at = time.time() + max(1, ttl)
        bound: dict[str, Any] = {}
        for i, (key, value) in enumerate(values.items()):
            bound.update(
                {f"k{i}": key, f"v{i}": value, f"n{i}": _counter_of(value), f"exp{i}": expires_at}
            )
        self._first(self._upsert_of(len(values)), bound)

    def _upsert_of(self, size: int) -> Executable:
        """The upsert of ``size`` rows, as text: SQLAlchemy compiles a Core insert of several
        rows on every execution (it never caches one), which cost more than the second
        statement it saves; a ``text()`` is compiled once. The same SQL on SQLite and
        PostgreSQL (``ON CONFLICT … DO UPDATE``, ``excluded``)."""
        statement = self._set_rows.get(size)
        if statement is None:
            quote = self._engine.dialect.identifier_preparer.quote
            t = _TABLE
            names = [quote(c.name) for c in (t.c.key, t.c.value, t.c.counter, t.c.expires_at)]
            rows = ", ".join(f"(:k{i}, :v{i}, :n{i}, :exp{i})" for i in range(size))
            replace = ", ".join(f"{name} = excluded.{name}" for name in names[1:])
            statement = text(
                f"INSERT INTO {quote(t.name)} ({', '.join(names)}) VALUES {rows} "
                f"ON CONFLICT ({names[0]}) DO UPDATE SET {replace}"
            )
            self._set_rows[size] = statement
        return statement

    def set_json_in(self, connection: Connection, key: str, value: Any, ttl: int) -> bool:
        """One statement on the caller's transaction (the token endpoint's: one commit for
        the grant's rows and its access token, issue 13), when that is this database."""
        if connection.engine is not self._engine:
            return False
        raw = json.dumps(value, separators=(",", ":"))
        values = {"k": key, "v": raw, "n": _counter_of(raw), "exp": time.time() + max(1, ttl)}
        connection.execute(self._set, values)
        return True

    def take_json_in(
        self, connection: Callable[[], Connection], engine: Any, key: str, ttl: int
    ) -> tuple[tuple[Any, bool] | None, bool]:
        if engine is not self._engine:
            return self.take_json(key, ttl), False
        now = time.time()
        values = {"k": key, "now": now, "exp": now + max(1, ttl)}
        row = connection().execute(self._take, values).first()
        return (None if row is None else (json.loads(row[0]), row[1] == 1)), True

    def get(self, key: str) -> str | None:
        row = self._first(self._get, {"k": key, "now": time.time()}, write=False)
        return None if row is None else row[0]

    def pop(self, key: str) -> str | None:
        row = self._first(self._pop, {"k": key})
        if row is None or row[1] <= time.time():
            return None
        return str(row[0])

    def take(self, key: str, ttl: int) -> tuple[str, bool] | None:
        now = time.time()
        row = self._first(self._take, {"k": key, "now": now, "exp": now + max(1, ttl)})
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
        return self._first(self._add, values) is not None

    def incr(self, key: str, ttl: int) -> int:
        now = time.time()
        row = self._first(self._incr, {"k": key, "exp": now + max(1, ttl), "now": now})
        if row is None:
            raise ValueError(f"{key!r} does not hold an integer")
        return int(row[0])

    def decr(self, key: str) -> int:
        row = self._first(self._decr, {"k": key, "now": time.time()})
        # Not decremented: absent, expired, at or below zero, or not an integer (ValueError).
        return int(row[0]) if row is not None else self.count(key)

    def ttl(self, key: str) -> int | None:
        now = time.time()
        row = self._first(self._ttl, {"k": key, "now": now}, write=False)
        return None if row is None else max(1, math.ceil(row[0] - now))

    def delete(self, key: str) -> None:
        self._first(self._delete, {"k": key})

    def purge_expired(self) -> int:
        """Delete expired rows; returns how many (``idp purge``, scheduled)."""
        with self._engine.begin() as conn:
            result = conn.execute(delete(_TABLE).where(_TABLE.c.expires_at <= time.time()))
        return result.rowcount or 0
