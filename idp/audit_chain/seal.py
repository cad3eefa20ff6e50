"""X8: chaining unsealed audit events, one chain at a time under that chain's lock.

The lock is the chain's head row: the first statement of a seal is an UPDATE of that row,
which PostgreSQL holds as a row lock and SQLite as its one write lock until the commit. A
second sealer of the same chain (another thread, worker or node) waits there and then finds
the rows already chained; sealers of different chains do not wait for each other."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import bindparam
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from idp.audit_chain.canonical import HASHED_COLUMNS
from idp.audit_chain.canonical import genesis_hash
from idp.audit_chain.canonical import link_hash
from idp.models import AuditChainHead
from idp.models import AuditEvent
from idp.models import db
from idp.models import utcnow

log = logging.getLogger("idp.audit")

#: Most events chained in one transaction (the lock is held for one batch at a time).
SEAL_BATCH = 500
#: The columns read to hash an event.
EVENT_COLUMNS = tuple(getattr(AuditEvent, column) for column in HASHED_COLUMNS)


@dataclass(frozen=True)
class SealReport:
    #: Events chained by this run.
    events: int = 0
    #: Chains that had unsealed events.
    chains: int = 0


def chain_of(contract_id: str | None) -> str:
    """The chain an event of this contract belongs to (``""``: events of no contract)."""
    return contract_id or ""


def in_chain(chain: str) -> ColumnElement[bool]:
    """The events of one chain."""
    if chain:
        return AuditEvent.contract_id == chain
    return AuditEvent.contract_id.is_(None)


@dataclass(frozen=True)
class Head:
    """A chain's head row as its lock returned it (:func:`lock_head`)."""

    seq: int
    hash: str
    checkpoint_seq: int
    checkpoint_hash: str


_HEADS = AuditChainHead.__table__
_EVENTS = AuditEvent.__table__
#: The lock: stamping the head row, which returns it as committed by the previous holder.
_STAMP_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.chain == bindparam("head_chain"))
    .values(sealed_at=bindparam("head_now"))
    .returning(_HEADS.c.seq, _HEADS.c.hash, _HEADS.c.checkpoint_seq, _HEADS.c.checkpoint_hash)
)
#: The chain's new end, under the lock.
_MOVE_HEAD = (
    update(_HEADS)
    .where(_HEADS.c.chain == bindparam("head_chain"))
    .values(seq=bindparam("head_seq"), hash=bindparam("head_hash"))
)
#: One event's place in its chain (run once per event, as one executemany).
_LINK_EVENT = (
    update(_EVENTS)
    .where(_EVENTS.c.id == bindparam("event_id"))
    .values(seq=bindparam("event_seq"), hash=bindparam("event_hash"))
)

_FIELDS = tuple(_EVENTS.c[column] for column in HASHED_COLUMNS)
#: A chain's unsealed events, in the order they are chained.
_UNSEALED_OF = (
    select(*_FIELDS)
    .where(_EVENTS.c.contract_id == bindparam("chain"), _EVENTS.c.seq.is_(None))
    .order_by(_EVENTS.c.id)
    .limit(bindparam("limit"))
)
_UNSEALED_OF_NO_CONTRACT = (
    select(*_FIELDS)
    .where(_EVENTS.c.contract_id.is_(None), _EVENTS.c.seq.is_(None))
    .order_by(_EVENTS.c.id)
    .limit(bindparam("limit"))
)


def lock_head(chain: str, now: datetime | None = None) -> Head:
    """Lock the chain's head row for the rest of the transaction (creating it at the chain's
    genesis when missing) and return it as committed by the previous holder."""
    connection = db.session.connection()
    stamp = {"head_chain": chain, "head_now": now or utcnow()}
    row = connection.execute(_STAMP_HEAD, stamp).first()
    if row is None:
        genesis = genesis_hash(chain)
        insert = pg_insert if connection.dialect.name == "postgresql" else sqlite_insert
        connection.execute(
            insert(_HEADS)
            .values(chain=chain, seq=0, hash=genesis, checkpoint_seq=0, checkpoint_hash=genesis)
            .on_conflict_do_nothing(index_elements=["chain"])
        )
        row = connection.execute(_STAMP_HEAD, stamp).first()
    if row is None:  # pragma: no cover - inserted or present above, in this transaction
        raise RuntimeError(f"audit chain head {chain!r} vanished")
    return Head(int(row.seq), str(row.hash), int(row.checkpoint_seq), str(row.checkpoint_hash))


def _unsealed(chain: str, limit: int) -> list[Any]:
    """The chain's first ``limit`` unsealed events in id order, as rows of
    :data:`~idp.audit_chain.canonical.HASHED_COLUMNS`."""
    if chain:
        rows = db.session.connection().execute(_UNSEALED_OF, {"chain": chain, "limit": limit})
    else:
        rows = db.session.connection().execute(_UNSEALED_OF_NO_CONTRACT, {"limit": limit})
    return list(rows)


def _has_unsealed(chain: str) -> bool:
    query = select(AuditEvent.id).where(in_chain(chain), AuditEvent.seq.is_(None)).limit(1)
    return db.session.scalar(query) is not None


def _seal_batch(chain: str, limit: int) -> int:
    """Chain up to ``limit`` unsealed events of ``chain`` in one transaction."""
    try:
        head = lock_head(chain)
        rows = _unsealed(chain, limit)  # read under the lock: another sealer may have run
        seq, previous = head.seq, head.hash
        links = []
        for row in rows:
            seq += 1
            previous = link_hash(previous, seq, row)
            links.append({"event_id": row.id, "event_seq": seq, "event_hash": previous})
        if links:
            connection = db.session.connection()
            connection.execute(_LINK_EVENT, links)
            move = {"head_chain": chain, "head_seq": seq, "head_hash": previous}
            connection.execute(_MOVE_HEAD, move)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    if links:
        # Kept elsewhere, these lines pin the chain down (see the package's docstring).
        log.info("audit chain sealed: chain=%s seq=%d hash=%s", chain or "-", seq, previous)
    return len(links)


def seal_chain(chain: str, batch: int = SEAL_BATCH, *, is_known_unsealed: bool = False) -> int:
    """Chain every unsealed event of one chain, in id order; returns how many.

    :param is_known_unsealed: the caller has just seen unsealed events in the chain (else a
        read first makes sure, so that no lock is taken for nothing)."""
    if not is_known_unsealed and not _has_unsealed(chain):
        db.session.commit()
        return 0
    sealed = 0
    while True:
        done = _seal_batch(chain, batch)
        sealed += done
        if done < batch:
            return sealed


#: The chains that have unsealed events, as :func:`chain_of` names them. Selecting the
#: chain's name rather than the bare column makes SQLite's planner find them through the
#: partial index of unsealed events: ``DISTINCT contract_id`` alone had it scan the whole
#: ``(contract_id, seq)`` index, every event ever written, on every seal (~10 ms at 80,000
#: events, twice a second per worker; issue 13).
UNSEALED_CHAINS = (
    select(func.coalesce(AuditEvent.contract_id, "")).where(AuditEvent.seq.is_(None)).distinct()
)


def unsealed_chains() -> list[str]:
    """The chains that have unsealed events (found through the partial index)."""
    chains = set(db.session.connection().execute(UNSEALED_CHAINS).scalars())  # Core: no ORM
    db.session.commit()  # end the read before the chains lock one by one
    return sorted(chains)


def seal_all() -> SealReport:
    """Chain every unsealed event of every chain (the sealer, ``idp audit seal``)."""
    events = chains = 0
    for chain in unsealed_chains():
        sealed = seal_chain(chain, is_known_unsealed=True)
        events += sealed
        chains += 1 if sealed else 0
    return SealReport(events, chains)
