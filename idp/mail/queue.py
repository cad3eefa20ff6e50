"""The mail queue (issue 13, "Faults"): every mail is written to the ``mail_queue`` table
first and sent from there, so that a mail the SMTP server could not take (down, refusing
connections, answering 4xx) is kept and sent later, also after a restart of every node.

Why the database and not a spool folder: every node shares it, so whichever node is up
sends what another node queued, and a row is claimed by one statement (``FOR UPDATE SKIP
LOCKED`` on PostgreSQL; SQLite runs one writer at a time), so that two nodes never send one
mail twice. A claim is a lease: a node that dies mid-attempt leaves the row due again when
the lease runs out.

Retries back off exponentially from ``IDP_MAIL_RETRY_BACKOFF`` seconds up to an hour; after
:data:`MAX_ATTEMPTS` attempts, or at once when the server refuses the mail for good (5xx),
the row is dropped with an audit event ``mail_dropped`` and a log line (purpose and
attempts, never the address or the body).

Mail bodies hold link secrets: a row lives only until the mail is accepted, the table is the
application's own (no other role reads the database), and neither logs nor the command line
ever print a body."""

from __future__ import annotations

import logging
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update

from idp import audit
from idp import extensions
from idp.models import QueuedMail
from idp.models import db
from idp.models import utcnow

log = logging.getLogger("idp.mail")

#: Backoff between attempts doubles up to this.
MAX_BACKOFF = timedelta(hours=1)
#: After this many failed attempts (about 14 hours with the default backoff) a mail is
#: dropped: its links would be old, and a mail stuck this long needs an operator.
MAX_ATTEMPTS = 20
#: An attempt holds its row this long (SMTP connect + send, 10 s timeouts each).
LEASE = timedelta(minutes=2)
#: Most mails one sweep takes on.
BATCH = 100


@dataclass(frozen=True)
class QueueReport:
    sent: int = 0
    #: Still queued for a later attempt.
    pending: int = 0
    #: Dropped: refused for good, or too many attempts.
    dropped: int = 0


def enqueue(message: EmailMessage, purpose: str, user_id: str | None) -> str:
    """Queue a built message, due now; commits (callers queue after their change is
    committed, as they sent before). Returns the row's id."""
    row = QueuedMail(
        purpose=purpose,
        recipient=str(message["To"]),
        message=bytes(message),
        user_id=user_id,
        attempts=0,
        next_attempt_at=utcnow(),
    )
    db.session.add(row)
    db.session.commit()
    return row.id


def backoff(attempts: int) -> timedelta:
    """Wait after attempt number ``attempts``: the base, doubling, at most an hour."""
    base = timedelta(seconds=extensions.settings().mail_retry_backoff)
    wait: timedelta = base * (2 ** min(max(attempts - 1, 0), 20))
    return min(wait, MAX_BACKOFF)


def claim_due(limit: int = BATCH, only: list[str] | None = None) -> list[str]:
    """Take up to ``limit`` due mails for this node in one statement (each claim adds an
    attempt and leases the row); another node's claim skips them."""
    now = utcnow()
    due = select(QueuedMail.id).where(QueuedMail.next_attempt_at <= now)
    if only is not None:
        due = due.where(QueuedMail.id.in_(only))
    due = due.order_by(QueuedMail.next_attempt_at).limit(limit)
    if db.engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    # The outer condition again: a row another node claimed meanwhile is no longer due when
    # PostgreSQL re-checks it after waiting for that node's lock.
    claimed = db.session.scalars(
        update(QueuedMail)
        .where(QueuedMail.id.in_(due.scalar_subquery()), QueuedMail.next_attempt_at <= now)
        .values(next_attempt_at=now + LEASE, attempts=QueuedMail.attempts + 1)
        .returning(QueuedMail.id)
    ).all()
    db.session.commit()
    return list(claimed)


def _classify(error: Exception) -> tuple[str, str]:
    """``("retry" | "refused", what to log)`` for a failed attempt: a 5xx answer refuses the
    mail for good (RFC 5321 §4.2.1); anything else (no connection, a timeout, a 4xx, a full
    outbox disk) may pass later."""
    code = getattr(error, "smtp_code", None)
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [answer[0] for answer in error.recipients.values()]
        code = codes[0] if codes else None
    if isinstance(code, int):
        return ("refused" if 500 <= code < 600 else "retry"), f"SMTP {code}"
    return "retry", type(error).__name__


def send_one(row_id: str) -> str | None:
    """Attempt one claimed mail: ``sent``, ``pending`` or ``dropped`` (None: gone)."""
    row = db.session.get(QueuedMail, row_id, populate_existing=True)
    if row is None:
        return None
    try:
        extensions.mailer().transmit(row.message)
    except (smtplib.SMTPException, OSError) as error:
        outcome, row.last_error = _classify(error)
    else:
        db.session.delete(row)
        db.session.commit()
        return "sent"
    if outcome == "refused" or row.attempts >= MAX_ATTEMPTS:
        reason = "smtp_refused" if outcome == "refused" else "too_many_attempts"
        db.session.delete(row)
        db.session.commit()
        audit.record(
            "mail_dropped",
            "refused",
            reason,
            user_id=row.user_id,
            details={"purpose": row.purpose, "attempts": row.attempts, "error": row.last_error},
        )
        log.error(
            "mail %s (%s) dropped after %d attempts: %s",
            row.id,
            row.purpose,
            row.attempts,
            row.last_error,
        )
        return "dropped"
    row.next_attempt_at = utcnow() + backoff(row.attempts)
    db.session.commit()
    log.warning(
        "mail %s (%s) not sent (attempt %d, retried later): %s",
        row.id,
        row.purpose,
        row.attempts,
        row.last_error,
    )
    return "pending"


def send_due(only: list[str] | None = None) -> QueueReport:
    """Claim and attempt every due mail (or the given ones if due); ``pending`` counts every
    mail still queued afterwards, due or not."""
    counts = {"sent": 0, "pending": 0, "dropped": 0}
    while True:
        claimed = claim_due(BATCH, only)
        for row_id in claimed:
            outcome = send_one(row_id)
            if outcome is not None:
                counts[outcome] += 1
        if len(claimed) < BATCH:
            break
    counts["pending"] = queued_count()
    return QueueReport(**counts)


def queued_count() -> int:
    return int(db.session.scalar(select(func.count()).select_from(QueuedMail)) or 0)


def queue_summary() -> dict[str, int]:
    """Queued mails by purpose (``idp mail queue``): counts only."""
    rows = db.session.execute(
        select(QueuedMail.purpose, func.count()).group_by(QueuedMail.purpose)
    ).all()
    return {str(purpose): int(count) for purpose, count in rows}


def make_all_due() -> int:
    """``idp mail queue --retry-now``: every queued mail is due now (the SMTP server is back);
    returns how many."""
    result = db.session.execute(update(QueuedMail).values(next_attempt_at=utcnow()))
    db.session.commit()
    return int(getattr(result, "rowcount", 0) or 0)
