"""The interface both ephemeral-store backends implement."""

from __future__ import annotations

import json
import re
from abc import ABC
from abc import abstractmethod
from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: A decimal integer as Redis's INCR reads one: no "+", no leading zeros, no spaces.
INTEGER = re.compile(r"0|-?[1-9][0-9]*")


def subject(text: str) -> str:
    """``text`` as a key's subject: in braces when it holds ``:`` (see :class:`EphemeralStore`),
    else as it is. Raises ValueError for a text with ``{`` or ``}``, which could not be told
    from the braces."""
    if "{" in text or "}" in text:
        raise ValueError(f"a key's subject must not hold {{ or }}: {text!r}")
    return f"{{{text}}}" if ":" in text else text


class StoreUnavailable(Exception):
    """The store cannot answer now (its server is down, restarting or failing over); the same
    call may succeed later. Never raised for a wrong use, and never replaced by a guess.
    Raised by the Redis store (idp/store/redis.py); the SQL store fails with its database's
    errors, which are the database's outage."""


class EphemeralStore(ABC):
    """Keys with a time to live; every operation is atomic on its key.

    A key is ``kind:subject[:detail]`` (``tx:<id>``, ``sms-attempts:<tx id>:<code id>``):
    keys with the same subject live together -- on Redis Cluster in one hash slot (one
    node), so that an operation over one subject's keys can be made atomic there too. A key
    without ``:`` is its own subject. The subject runs to the next ``:``, unless the caller
    writes it in braces, ``kind:{subject}[:detail]``, as :func:`subject` does for a subject
    that holds ``:`` (an IPv6 address or /64, ``fail-ip:{2001:db8:1:2::/64}``): the braces
    say where it ends. Otherwise ``2001`` alone would be the subject, and every IPv6 client
    of a /16 would share one slot. A subject without ``:`` is written bare, so its keys are
    the same as before braces were read. The braces are part of the key on every backend;
    the SQL store keeps them as written.

    A key holds one string. A counter is a key whose string is a decimal integer: ``incr``
    creates and raises it, ``get`` reads it as a string and ``count`` as an int, as Redis does.
    A time to live below one second counts as one second.
    """

    @abstractmethod
    def set(self, key: str, value: str, ttl: int) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any value."""

    @abstractmethod
    def get(self, key: str) -> str | None:
        """The value, or None when absent or expired (a counter reads as its decimal string)."""

    @abstractmethod
    def pop(self, key: str) -> str | None:
        """Remove and return the value atomically: of parallel callers, one gets it."""

    @abstractmethod
    def take(self, key: str, ttl: int) -> tuple[str, bool] | None:
        """Take a live value once, atomically, leaving its tombstone for ``ttl`` seconds: the
        first caller gets ``(value, True)``; every later one -- parallel or not -- gets
        ``(value, False)`` until the tombstone expires; None when absent or expired.

        For a value that must be used once and whose reuse must be noticed (an authorization
        code, RFC 6749 §4.1.2): taking it and marking it used are one step, so no caller can
        fall between them and see neither. A taken key is read only through ``take`` (or
        removed with ``delete``); not for counters."""

    @abstractmethod
    def add(self, key: str, value: str, ttl: int) -> bool:
        """Store only if absent (or expired); True when this call stored it."""

    @abstractmethod
    def incr(self, key: str, ttl: int) -> int:
        """Add one and return the new count. An absent or expired counter starts at 1 and lives
        ``ttl`` seconds from then; later increments keep that expiry (a fixed window), and an
        integer stored with ``set`` keeps its own. Raises ValueError when the key holds a value
        that is not an integer.

        Limits reserve an attempt with ``incr`` *before* checking it, so parallel requests
        cannot pass a limit (DESIGN.md: counters that guard security are atomic)."""

    @abstractmethod
    def decr(self, key: str) -> int:
        """Take one back from a live counter, never below zero, keeping its expiry; returns the
        new count (0 when absent or expired). Hands back an attempt reserved with ``incr``
        that turned out not to count (a right code)."""

    @abstractmethod
    def ttl(self, key: str) -> int | None:
        """Whole seconds until the key expires (rounded up), or None when absent or expired.
        Tells a limited client when to retry (``Retry-After``)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the key if present."""

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the operations inside with the request's database work, in its transaction,
        where the backend can (the SQL store: one transaction per request instead of one per
        operation, issue 13); committed with the database's next commit, or when the block
        ends. Outside it, and on Redis, each operation is answered and durable at once.

        Everything inside stays atomic as before (each statement locks what it changes until
        the commit), but a write is seen by other requests only once committed: code that
        does slow work (a password hash, a network call) after a write that others must see
        first calls :meth:`commit` before it."""
        yield

    def commit(self) -> None:
        """Inside :meth:`transaction`: commit the writes made so far (with the database work
        they joined), so that other requests see them. Elsewhere nothing to do."""
        return None

    def defer_commit(self) -> bool:
        """Inside :meth:`transaction` on a store that joins the database transaction: note
        that the caller's own database writes are to be committed when the block ends, and
        return True. Otherwise False: the caller commits them itself."""
        return False

    def purge_expired(self) -> int:
        """Delete expired entries; returns how many. Redis expires keys itself (0); the SQL
        table needs ``idp purge`` now and then."""
        return 0

    def count(self, key: str) -> int:
        """The counter's value: what ``incr`` last returned, 0 when absent or expired.
        Raises ValueError when the key holds a value that is not an integer."""
        raw = self.get(key)
        if raw is None:
            return 0
        if not INTEGER.fullmatch(raw):
            raise ValueError(f"{key!r} does not hold an integer")
        return int(raw)

    def set_many(self, values: dict[str, str], ttl: int) -> None:
        """``set`` each key to its value for ``ttl`` seconds: each write atomic on its key,
        not all of them together; in one round trip where the backend can (Redis)."""
        for key, value in values.items():
            self.set(key, value, ttl)

    def set_json(self, key: str, value: Any, ttl: int) -> None:
        self.set(key, json.dumps(value, separators=(",", ":")), ttl)

    def set_json_in(self, connection: Any, key: str, value: Any, ttl: int) -> bool:
        """``set_json`` on the caller's open database transaction (a SQLAlchemy
        ``Connection``), so that the value commits with the caller's rows, when this store
        lives in that database (the SQL store); True when written so. False: this store is
        elsewhere (Redis): write with ``set_json`` after the commit."""
        return False

    def take_json_in(
        self, connection: Callable[[], Any], engine: Any, key: str, ttl: int
    ) -> tuple[tuple[Any, bool] | None, bool]:
        """``take_json`` on the caller's database transaction (``connection()``, a
        SQLAlchemy ``Connection`` of ``engine``) when this store lives in that database (the
        SQL store), so that the take commits with the caller's rows; the caller must then
        commit it whatever follows (the take stands). Returns what ``take_json`` returns and
        whether it ran there; elsewhere (Redis) it is ``take_json``'s own step."""
        return self.take_json(key, ttl), False

    def get_json(self, key: str) -> Any:
        raw = self.get(key)
        return None if raw is None else json.loads(raw)

    def take_json(self, key: str, ttl: int) -> tuple[Any, bool] | None:
        taken = self.take(key, ttl)
        return None if taken is None else (json.loads(taken[0]), taken[1])

    def pop_json(self, key: str) -> Any:
        raw = self.pop(key)
        return None if raw is None else json.loads(raw)
