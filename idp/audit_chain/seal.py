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
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from idp.audit_chain.canonical import HASHED_COLUMNS
from idp.audit_chain.canonical import chain_hash
from idp.audit_chain.canonical import genesis_hash
from idp.models import AuditChainHead
from idp.models import AuditEvent
from idp.models import db
from idp.models import rowcount
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


def lock_head(chain: str, now: datetime | None = None) -> AuditChainHead:
    """Lock the chain's head row for the rest of the transaction (creating it at the chain's
    genesis when missing) and return it as committed by the previous holder."""
    now = now or utcnow()
    stamp = update(AuditChainHead).where(AuditChainHead.chain == chain).values(sealed_at=now)
    if rowcount(db.session.execute(stamp)) == 0:
        genesis = genesis_hash(chain)
        insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
        db.session.execute(
            insert(AuditChainHead)
            .values(chain=chain, seq=0, hash=genesis, checkpoint_seq=0, checkpoint_hash=genesis)
            .on_conflict_do_nothing(index_elements=["chain"])
        )
        db.session.execute(stamp)
    head = db.session.get(AuditChainHead, chain, populate_existing=True)
    if head is None:  # pragma: no cover - inserted or present above, in this transaction
        raise RuntimeError(f"audit chain head {chain!r} vanished")
    return head


def _unsealed(chain: str, limit: int) -> list[dict[str, Any]]:
    rows = db.session.execute(
        select(*EVENT_COLUMNS)
        .where(in_chain(chain), AuditEvent.seq.is_(None))
        .order_by(AuditEvent.id)
        .limit(limit)
    )
    return [dict(row) for row in rows.mappings()]


def _has_unsealed(chain: str) -> bool:
    query = select(AuditEvent.id).where(in_chain(chain), AuditEvent.seq.is_(None)).limit(1)
    return db.session.scalar(query) is not None


def _seal_batch(chain: str, limit: int) -> int:
    """Chain up to ``limit`` unsealed events of ``chain`` in one transaction."""
    if not _has_unsealed(chain):  # no lock taken for nothing
        db.session.commit()
        return 0
    try:
        head = lock_head(chain)
        rows = _unsealed(chain, limit)  # again, under the lock: another sealer may have run
        seq, previous = head.seq, head.hash
        links = []
        for row in rows:
            seq += 1
            previous = chain_hash(previous, seq, row)
            links.append({"id": row["id"], "seq": seq, "hash": previous})
        if links:
            db.session.execute(update(AuditEvent), links)
            head.seq, head.hash = seq, previous
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    if links:
        # Kept elsewhere, these lines pin the chain down (see the package's docstring).
        log.info("audit chain sealed: chain=%s seq=%d hash=%s", chain or "-", seq, previous)
    return len(links)


def seal_chain(chain: str, batch: int = SEAL_BATCH) -> int:
    """Chain every unsealed event of one chain, in id order; returns how many."""
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
    chains = set(db.session.scalars(UNSEALED_CHAINS))
    db.session.commit()  # end the read before the chains lock one by one
    return sorted(chains)


def seal_all() -> SealReport:
    """Chain every unsealed event of every chain (the sealer, ``idp audit seal``)."""
    events = chains = 0
    for chain in unsealed_chains():
        sealed = seal_chain(chain)
        events += sealed
        chains += 1 if sealed else 0
    return SealReport(events, chains)
