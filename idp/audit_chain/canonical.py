"""X8: what an audit event's hash covers, as pure functions over plain values.

The serialization is a JSON array of every column that says something (a version tag,
``seq``, ``id``, ``at`` in UTC with microseconds, ``event``, ``outcome``, ``reason``,
``user_id``, ``contract_id``, ``client_id``, ``ip``, ``actor``, ``details``), keys sorted
and without spaces, so that the same event gives the same bytes on SQLite and PostgreSQL.
The order of keys inside ``details`` is not content (it is JSON: an object is unordered)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import Any

#: Changes whenever the serialization does (old chains then need their own verifier).
VERSION = "worksdrive-audit-v1"

#: The event's columns the hash covers, in this order (``seq`` comes first, before them).
HASHED_COLUMNS = (
    "id",
    "at",
    "event",
    "outcome",
    "reason",
    "user_id",
    "contract_id",
    "client_id",
    "ip",
    "actor",
    "details",
)


def genesis_hash(chain: str) -> str:
    """The "previous hash" of a chain's first event: it names the chain, so that a chain
    cannot be passed off as another contract's."""
    return hashlib.sha256(f"{VERSION}:genesis:{chain}".encode()).hexdigest()


def _utc_text(moment: datetime) -> str:
    # SQLite hands back naive datetimes (stored as UTC); PostgreSQL aware ones.
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_event(seq: int, row: Mapping[str, Any]) -> bytes:
    """The bytes the hash covers for the event ``row`` at position ``seq`` of its chain.

    :param row: the event's columns by name (at least :data:`HASHED_COLUMNS`)."""
    values: list[Any] = [VERSION, seq]
    for column in HASHED_COLUMNS:
        value = row[column]
        values.append(_utc_text(value) if column == "at" else value)
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(previous: str, seq: int, row: Mapping[str, Any]) -> str:
    """SHA-256 over the previous event's hash and this event's canonical serialization."""
    digest = hashlib.sha256(previous.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical_event(seq, row))
    return digest.hexdigest()
