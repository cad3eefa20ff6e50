"""X8 and retention: ``idp purge`` deletes each chain's events older than
``IDP_AUDIT_RETENTION_DAYS`` and keeps a checkpoint, so that verification still holds.

Per chain, under its lock: the newest sealed event older than the cutoff is found (seq S),
every event up to S is deleted, and the head's checkpoint becomes (S, hash of S), from which
``verify`` starts. Chains are cut by ``seq``, not by time, so that no gap can open: an event
sealed before S but written a moment after the cutoff goes with it (seconds early, at most
as late as the sealer ran)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from idp.audit_chain.seal import in_chain
from idp.audit_chain.seal import lock_head
from idp.audit_chain.seal import seal_all
from idp.models import AuditChainHead
from idp.models import AuditEvent
from idp.models import db
from idp.models import rowcount


def delete_events_before(cutoff: datetime) -> int:
    """Delete the sealed events older than ``cutoff`` in every chain; returns how many."""
    seal_all()  # chain what is old and still unsealed, so that it can go too
    # Every chain with a sealed event has a head (the sealer made it); each is asked on its
    # (contract_id, at) index, so that no index on ``at`` alone is written with every event.
    heads = db.session.scalars(select(AuditChainHead.chain).order_by(AuditChainHead.chain))
    chains = [chain for chain in heads.all() if _has_old_sealed(chain, cutoff)]
    db.session.commit()
    return sum(_delete_chain_before(chain, cutoff) for chain in chains)


def _has_old_sealed(chain: str, cutoff: datetime) -> bool:
    old = select(AuditEvent.id).where(
        in_chain(chain), AuditEvent.at < cutoff, AuditEvent.seq.is_not(None)
    )
    return db.session.scalar(old.limit(1)) is not None


def _delete_chain_before(chain: str, cutoff: datetime) -> int:
    try:
        head = lock_head(chain)
        last = db.session.scalar(
            select(func.max(AuditEvent.seq)).where(
                in_chain(chain), AuditEvent.at < cutoff, AuditEvent.seq <= head.seq
            )
        )
        if last is None or last <= head.checkpoint_seq:
            db.session.commit()
            return 0
        last_hash = db.session.scalar(
            select(AuditEvent.hash).where(in_chain(chain), AuditEvent.seq == last)
        )
        deleted = db.session.execute(
            delete(AuditEvent).where(in_chain(chain), AuditEvent.seq <= last)
        )
        db.session.execute(
            update(AuditChainHead)
            .where(AuditChainHead.chain == chain)
            .values(checkpoint_seq=int(last), checkpoint_hash=str(last_hash))
        )
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return rowcount(deleted)
