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
from collections.abc import Sequence
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


#: The serializer, built once: ``json.dumps`` with these options builds an encoder per call,
#: which was a fifth of the sealer's hashing (issue 13); ``encode`` keeps no state between calls.
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
#: Where ``at`` is among :data:`HASHED_COLUMNS`.
_AT = HASHED_COLUMNS.index("at")


def _utc_text(moment: datetime) -> str:
    if moment.tzinfo is None:  # SQLite hands back naive datetimes (stored as UTC)
        return moment.isoformat(timespec="microseconds") + "+00:00"
    return moment.astimezone(UTC).isoformat(timespec="microseconds")  # PostgreSQL: aware


def canonical_values(seq: int, values: Sequence[Any]) -> bytes:
    """The bytes the hash covers for the event at position ``seq`` of its chain.

    :param values: the event's :data:`HASHED_COLUMNS`, in that order (a row as selected)."""
    listed = [VERSION, seq, *values]
    listed[2 + _AT] = _utc_text(values[_AT])
    return _ENCODER.encode(listed).encode()


def canonical_event(seq: int, row: Mapping[str, Any]) -> bytes:
    """:func:`canonical_values` of an event given by its columns' names (at least
    :data:`HASHED_COLUMNS`)."""
    return canonical_values(seq, [row[column] for column in HASHED_COLUMNS])


def link_hash(previous: str, seq: int, values: Sequence[Any]) -> str:
    """SHA-256 over the previous event's hash and this event's canonical serialization
    (:func:`canonical_values`)."""
    return hashlib.sha256(
        b"%s\n%s" % (previous.encode("ascii"), canonical_values(seq, values))
    ).hexdigest()


def chain_hash(previous: str, seq: int, row: Mapping[str, Any]) -> str:
    """:func:`link_hash` of an event given by its columns' names."""
    return link_hash(previous, seq, [row[column] for column in HASHED_COLUMNS])
