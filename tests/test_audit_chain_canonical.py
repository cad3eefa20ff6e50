"""X8: what an audit event's hash covers is pinned byte for byte. A chain sealed by one
version must verify under the next: a faster serializer (issue 13) that changed one byte
would report every stored event as edited. No app, no database."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest

from idp.audit_chain.canonical import HASHED_COLUMNS
from idp.audit_chain.canonical import canonical_event
from idp.audit_chain.canonical import canonical_values
from idp.audit_chain.canonical import chain_hash
from idp.audit_chain.canonical import genesis_hash
from idp.audit_chain.canonical import link_hash

#: An event as SQLite hands it back (a naive datetime, stored as UTC).
EVENT = {
    "id": 42,
    "at": datetime(2026, 12, 3, 9, 30, 1, 5),
    "event": "login",
    "outcome": "refused",
    "reason": "wrong_password",
    "user_id": "u1",
    "contract_id": "c1",
    "client_id": None,
    "ip": "198.51.100.7",
    "actor": "admin:u0",
    "details": {"z": "日本語", "a": {"y": 1, "b": [True, None, 1.5]}},
}
#: The bytes and the hash the first version of the chain (worksdrive-audit-v1) gave.
PINNED_BYTES = (
    '["worksdrive-audit-v1",7,42,"2026-12-03T09:30:01.000005+00:00","login","refused",'
    '"wrong_password","u1","c1",null,"198.51.100.7","admin:u0",'
    '{"a":{"b":[true,null,1.5],"y":1},"z":"日本語"}]'
).encode()
PINNED_HASH = "c0acf8d6e56a1de2858d5f72338c5a240ab3eebbbb4fc619fa75ef5bc717d12e"
#: The same moment as PostgreSQL may hand it back (aware, in the session's time zone).
IN_TOKYO = datetime(2026, 12, 3, 18, 30, 1, 5, tzinfo=timezone(timedelta(hours=9)))


@pytest.mark.parametrize("at", [EVENT["at"], EVENT["at"].replace(tzinfo=UTC), IN_TOKYO])
def test_X8_an_events_serialization_and_hash_are_pinned_on_both_databases(at):
    """X8: the same event gives the same bytes and hash whether its time comes back naive
    (SQLite) or aware in any zone (PostgreSQL), by name or as a selected row."""
    event = {**EVENT, "at": at}
    values = [event[column] for column in HASHED_COLUMNS]
    assert canonical_event(7, event) == PINNED_BYTES
    assert canonical_values(7, values) == PINNED_BYTES
    assert chain_hash(genesis_hash("c1"), 7, event) == PINNED_HASH
    assert link_hash(genesis_hash("c1"), 7, values) == PINNED_HASH


def test_X8_the_order_of_keys_in_details_is_not_content():
    """X8: ``details`` is a JSON object; the order its keys come back in changes nothing."""
    reordered = {**EVENT, "details": {"a": {"b": [True, None, 1.5], "y": 1}, "z": "日本語"}}
    assert canonical_event(7, reordered) == PINNED_BYTES
