"""Registered clients, cached per process (issue 13: every grant authenticates its client).

A client's registration is read once and kept for :data:`CLIENT_TTL` seconds: its secret's
hash, redirect URIs, grants, scopes, algorithm, and whether its contract is active (a
service client lives only while its contract does, C3), all by one statement. An unknown
``client_id`` is not cached, so a client registered on one node works on every node at once.

Staleness: a change committed through this process's session (the ORM) to a contract or a
client -- C3's cancellation sets the contract's status so -- drops the clients concerned from
every cache of this process as the change commits (:func:`_forget_committed_changes`); a
read that raced with it is not kept. Another process or node (``idp`` on the command line,
a second worker, a second node) sees the change within :data:`CLIENT_TTL`: a cancelled
contract's service client gets its last token at most that long after the cancellation,
and the tokens it holds stop at once anyway (``IssuedToken.is_revoked`` reads the contract).
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import event
from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.models import Client
from idp.models import Contract
from idp.models import db
from idp.vocabulary import ContractStatus

#: Seconds a cached registration is trusted.
CLIENT_TTL = 30.0

_CLIENTS = Client.__table__
_CONTRACTS = Contract.__table__
_CONTRACT_STATUS = "contract_status"
#: The registration and its contract's status, in one statement.
_READ = (
    select(_CLIENTS, _CONTRACTS.c.status.label(_CONTRACT_STATUS))
    .select_from(_CLIENTS.outerjoin(_CONTRACTS, _CONTRACTS.c.id == _CLIENTS.c.contract_id))
    .where(_CLIENTS.c.client_id == bindparam("client_id"))
)
#: ``Session.info`` key: contracts and clients this transaction changed.
_CHANGED = "idp.client_cache_changed"
#: Every cache of this process (a test process may hold several apps).
_CACHES: weakref.WeakSet[ClientCache] = weakref.WeakSet()


class ClientCache:
    def __init__(self, ttl: float = CLIENT_TTL, clock: Callable[[], float] = time.monotonic):
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        #: client_id -> (expiry, registration, is its contract active)
        self._entries: dict[str, tuple[float, Client, bool]] = {}
        #: Bumped by every forget: a read begun before it is not stored.
        self._generation = 0
        _CACHES.add(self)
        _listen_once()

    def registration(self, client_id: str) -> tuple[Client, bool] | None:
        """The client's registration (a transient ``Client``: columns only) and whether its
        contract is active (True without a contract), cached."""
        now = self.clock()
        entry = self._entries.get(client_id)
        if entry is not None and entry[0] > now:
            return entry[1], entry[2]
        generation = self._generation
        row = db.session.connection().execute(_READ, {"client_id": client_id}).mappings().first()
        if row is None:
            self.forget(client_id)
            return None
        values = dict(row)
        status = values.pop(_CONTRACT_STATUS)
        client = Client(**values)
        is_live = client.contract_id is None or status == ContractStatus.ACTIVE
        with self._lock:
            if generation == self._generation:
                self._entries[client_id] = (now + self.ttl, client, is_live)
        return client, is_live

    def forget(self, client_id: str) -> None:
        with self._lock:
            self._generation += 1
            self._entries.pop(client_id, None)

    def forget_changed(self, contract_ids: Iterable[str], client_ids: Iterable[str]) -> None:
        """Drop the clients of these contracts and these clients."""
        contracts, clients = set(contract_ids), set(client_ids)
        with self._lock:
            self._generation += 1
            for client_id, (_expiry, client, _live) in list(self._entries.items()):
                if client_id in clients or client.contract_id in contracts:
                    del self._entries[client_id]

    def query_client(self, client_id: str) -> Client | None:
        """The registered client; a service client lives only while its contract does (C3:
        an ended contract's directory sync authenticates no more: ``invalid_client``)."""
        if not isinstance(client_id, str) or not client_id or len(client_id) > 64:
            return None
        found = self.registration(client_id)
        if found is None or not found[1]:
            return None
        return found[0]


def _note_changes(session: Session, _flush_context: Any) -> None:
    """After a flush: the contracts and clients it updated or deleted, for the commit."""
    for instance in (*session.dirty, *session.deleted):
        if isinstance(instance, Contract | Client):
            changed = session.info.setdefault(_CHANGED, (set(), set()))
            if isinstance(instance, Contract):
                changed[0].add(instance.id)
            else:
                changed[1].add(instance.client_id)


def _forget_committed_changes(session: Session) -> None:
    changed = session.info.pop(_CHANGED, None)
    if changed is not None:
        for cache in list(_CACHES):
            cache.forget_changed(*changed)


def _discard_changes(session: Session) -> None:
    session.info.pop(_CHANGED, None)


def _listen_once() -> None:
    if not event.contains(db.session, "after_flush", _note_changes):
        event.listen(db.session, "after_flush", _note_changes)
        event.listen(db.session, "after_commit", _forget_committed_changes)
        event.listen(db.session, "after_rollback", _discard_changes)
