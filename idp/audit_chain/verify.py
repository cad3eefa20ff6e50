"""X8: ``idp audit verify``: walk each chain from its checkpoint to its head and name the
first event that was edited (its hash does not match) or is missing (a gap in ``seq``, or a
tail cut off before the head). Reads in keyset pages of ``seq``, never a whole chain at once,
and writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import and_
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select

from idp.audit_chain.canonical import chain_hash
from idp.audit_chain.canonical import genesis_hash
from idp.audit_chain.seal import EVENT_COLUMNS
from idp.audit_chain.seal import chain_of
from idp.audit_chain.seal import in_chain
from idp.errors import NotFoundError
from idp.models import AuditChainHead
from idp.models import AuditEvent
from idp.models import db
from idp.models import utcnow

#: Events read per query.
PAGE = 1000
#: An event still unsealed after this long is reported: the sealer is not running.
UNSEALED_GRACE = timedelta(minutes=5)


@dataclass(frozen=True)
class Problem:
    #: ``edited``, ``missing``, ``duplicate``, ``no_head``, ``beyond_head`` or ``unsealed``.
    kind: str
    chain: str
    #: The position the problem is at, and the event there when there is one.
    seq: int | None
    event_id: int | None
    text: str


@dataclass(frozen=True)
class ChainReport:
    chain: str
    #: Sealed events checked (from the checkpoint to the head).
    events: int
    head_seq: int
    checkpoint_seq: int
    problem: Problem | None = None


@dataclass(frozen=True)
class VerifyReport:
    chains: list[ChainReport] = field(default_factory=list)
    #: Events not sealed yet, and of those the ones older than the grace period.
    unsealed: int = 0
    stale: Problem | None = None

    @property
    def problems(self) -> list[Problem]:
        found = [chain.problem for chain in self.chains if chain.problem is not None]
        return found + ([self.stale] if self.stale else [])

    @property
    def events(self) -> int:
        return sum(chain.events for chain in self.chains)


def _name(chain: str) -> str:
    return f"contract {chain}" if chain else "events of no contract"


def _page(chain: str, start: int, after: tuple[int, int] | None, bound: int) -> list[Any]:
    """The next page of sealed events past the checkpoint ``start``, ordered by (seq, id);
    ``after`` is the last (seq, id) read (the id keeps a repeated seq in the page order)."""
    query = (
        select(AuditEvent.seq, AuditEvent.hash, *EVENT_COLUMNS)
        .where(in_chain(chain), AuditEvent.seq > start, AuditEvent.seq <= bound)
        .order_by(AuditEvent.seq, AuditEvent.id)
        .limit(PAGE)
    )
    if after is not None:
        seq, event_id = after
        query = query.where(
            or_(AuditEvent.seq > seq, and_(AuditEvent.seq == seq, AuditEvent.id > event_id))
        )
    return list(db.session.execute(query).mappings())


def verify_chain(chain: str) -> ChainReport:
    """Check one chain; the report names its first problem, if any."""
    head = db.session.get(AuditChainHead, chain, populate_existing=True)
    start = head.checkpoint_seq if head else 0
    previous = head.checkpoint_hash if head else genesis_hash(chain)
    # Events sealed after the head was read are left to the next run.
    bound = head.seq if head else 0
    expected, events, last_id = start + 1, 0, None

    def report(problem: Problem | None) -> ChainReport:
        return ChainReport(chain, events, head.seq if head else 0, start, problem)

    after: tuple[int, int] | None = None
    while rows := _page(chain, start, after, bound):
        for row in rows:
            seq, event_id = int(row["seq"]), int(row["id"])
            if seq < expected:
                text = f"{_name(chain)}: event id={event_id} repeats seq={seq}"
                return report(Problem("duplicate", chain, seq, event_id, text))
            if seq > expected:
                where = f"after event id={last_id}" if last_id else "at the start"
                text = f"{_name(chain)}: event seq={expected} is missing ({where})"
                return report(Problem("missing", chain, expected, None, text))
            if chain_hash(previous, seq, row) != row["hash"]:
                text = f"{_name(chain)}: event id={event_id} seq={seq} was edited"
                return report(Problem("edited", chain, seq, event_id, text))
            previous, expected, events, last_id = row["hash"], expected + 1, events + 1, event_id
        after = (int(rows[-1]["seq"]), int(rows[-1]["id"]))
    if head is not None and expected <= head.seq:
        where = f"after event id={last_id}" if last_id else "at the start"
        text = f"{_name(chain)}: event seq={expected} is missing ({where}; head seq={head.seq})"
        return report(Problem("missing", chain, expected, None, text))
    if head is not None and previous != head.hash:
        text = f"{_name(chain)}: the chain head does not match event seq={head.seq}"
        return report(Problem("edited", chain, head.seq, last_id, text))
    return report(_past_head(chain))


def _past_head(chain: str) -> Problem | None:
    """Sealed events past the head as it is now: a head set back to hide a tail, or no head
    at all. One statement, so that both are read at one moment (a sealer that ran meanwhile
    moved the head with its events)."""
    head_seq = select(AuditChainHead.seq).where(AuditChainHead.chain == chain).scalar_subquery()
    query = select(func.min(AuditEvent.seq), head_seq).where(
        in_chain(chain), AuditEvent.seq > func.coalesce(head_seq, 0)
    )
    beyond, seq_now = db.session.execute(query).one()
    if beyond is None:
        return None
    if seq_now is None:
        return Problem("no_head", chain, None, None, f"{_name(chain)}: sealed events, no head")
    text = f"{_name(chain)}: event seq={beyond} lies beyond the chain head (seq={seq_now})"
    return Problem("beyond_head", chain, int(beyond), None, text)


def _verify_chain_again_after_a_purge(chain: str) -> ChainReport:
    """A purge that moved the checkpoint while the chain was read looks like missing events:
    read the chain again from the new checkpoint."""
    report = verify_chain(chain)
    while report.problem is not None and report.problem.kind == "missing":
        head = db.session.get(AuditChainHead, chain, populate_existing=True)
        if head is None or head.checkpoint_seq <= report.checkpoint_seq:
            break
        report = verify_chain(chain)
    return report


def _chains() -> list[str]:
    heads = set(db.session.scalars(select(AuditChainHead.chain)))
    sealed = select(AuditEvent.contract_id).where(AuditEvent.seq.is_not(None)).distinct()
    return sorted(heads | {chain_of(c) for c in db.session.scalars(sealed)})


def _unsealed(chain: str | None, now: datetime, grace: timedelta) -> tuple[int, Problem | None]:
    condition: ColumnElement[bool] = AuditEvent.seq.is_(None)
    if chain is not None:
        condition = and_(condition, in_chain(chain))
    total = db.session.scalar(select(func.count()).where(condition)) or 0
    stale = select(func.count(), func.min(AuditEvent.id)).where(
        condition, AuditEvent.at < now - grace
    )
    count, oldest = db.session.execute(stale).one()
    if not count:
        return int(total), None
    text = (
        f"{count} events unsealed for more than {int(grace.total_seconds())} s "
        f"(oldest id={oldest}): is the sealer running? `idp audit seal` chains them"
    )
    return int(total), Problem("unsealed", chain or "", None, int(oldest), text)


def verify(
    contract_id: str | None = None,
    grace: timedelta = UNSEALED_GRACE,
    now: datetime | None = None,
) -> VerifyReport:
    """Check one contract's chain, or every chain; seals nothing.

    :param grace: how long an event may stay unsealed before it is reported."""
    now = now or utcnow()
    if contract_id is not None:
        exists = db.session.get(AuditChainHead, contract_id) or db.session.scalar(
            select(AuditEvent.id).where(AuditEvent.contract_id == contract_id).limit(1)
        )
        if not exists:
            raise NotFoundError(f"no audit events for contract {contract_id}")
        chains = [contract_id]
    else:
        chains = _chains()
    reports = [_verify_chain_again_after_a_purge(chain) for chain in chains]
    unsealed, stale = _unsealed(contract_id, now, grace)
    db.session.commit()  # end the read transaction
    return VerifyReport(reports, unsealed, stale)
