"""Registered clients, cached per process (issue 13: every grant authenticates its client).

A client's registration is read once and kept for :data:`CLIENT_TTL` seconds: its secret's
hash, redirect URIs, grants, scopes, algorithm. Invalidation is by that short TTL (the
registration has no version column; a client is registered once and not edited today), and
:meth:`ClientCache.forget` drops one at once in this process (a future edit or deletion
calls it; other processes and nodes see it within the TTL). An unknown ``client_id`` is not
cached, so a client registered on one node works on every node at once.

What may change at any moment is not cached: a service client lives only while its contract
is active (C3), read on every request by one primary-key statement.
"""

from __future__ import annotations

import threading
import time

from sqlalchemy import bindparam
from sqlalchemy import select

from idp.models import Client
from idp.models import db
from idp.oidc.grant_statements import is_contract_active

#: Seconds a cached registration is trusted.
CLIENT_TTL = 30.0

_CLIENTS = Client.__table__
_READ = select(_CLIENTS).where(_CLIENTS.c.client_id == bindparam("client_id"))


class ClientCache:
    def __init__(self, ttl: float = CLIENT_TTL) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, Client]] = {}

    def registration(self, client_id: str) -> Client | None:
        """The client's registration (a transient ``Client``: columns only), cached."""
        now = time.monotonic()
        entry = self._entries.get(client_id)
        if entry is not None and entry[0] > now:
            return entry[1]
        row = db.session.connection().execute(_READ, {"client_id": client_id}).mappings().first()
        if row is None:
            self.forget(client_id)
            return None
        client = Client(**row)
        with self._lock:
            self._entries[client_id] = (now + self.ttl, client)
        return client

    def forget(self, client_id: str) -> None:
        with self._lock:
            self._entries.pop(client_id, None)

    def query_client(self, client_id: str) -> Client | None:
        """The registered client; a service client lives only while its contract does (C3:
        an ended contract's directory sync authenticates no more: ``invalid_client``)."""
        if not isinstance(client_id, str) or not client_id or len(client_id) > 64:
            return None
        client = self.registration(client_id)
        if client is not None and client.contract_id is not None:
            if not is_contract_active(client.contract_id):
                return None
        return client
