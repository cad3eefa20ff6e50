"""Delivering logout tokens (OIDC Back-Channel Logout 1.0 §2.5, §2.8): a form POST of
``logout_token`` to the client's ``backchannel_logout_uri``, off the request thread, with a
timeout per request (``IDP_BACKCHANNEL_LOGOUT_TIMEOUT``).

A client that is down (no answer, a 5xx, 408 or 429) is tried again with exponential backoff
by a worker thread (``IDP_BACKCHANNEL_RETRY_INTERVAL``) and by ``idp backchannel deliver``,
for a day; a client that refuses the token (another 4xx) is not asked again. Each delivery
is claimed by one conditional UPDATE, so that several workers or nodes never send it twice.
The token is never logged or stored: each attempt signs a fresh one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import requests
from flask import Flask
from sqlalchemy import select
from sqlalchemy import update

from idp import audit
from idp import extensions
from idp.backchannel.dispatcher import Dispatcher
from idp.backchannel.logout_token import build_logout_token
from idp.models import BackchannelLogout
from idp.models import Client
from idp.models import User
from idp.models import db
from idp.models import rowcount
from idp.models import utcnow

log = logging.getLogger("idp.backchannel")

#: First retry after this long, then doubling up to :data:`MAX_BACKOFF`.
FIRST_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)
#: A delivery not done after this long is dropped (and audited).
GIVE_UP_AFTER = timedelta(days=1)
#: §2.8: "If the logout succeeded, the RP MUST respond with HTTP 200 OK. ... OPs should be
#: prepared to also process an HTTP 204 No Content response as a successful response."
DELIVERED = frozenset({200, 204})
#: Answers that say "later": the client is down or busy, not refusing the token.
TRY_AGAIN = frozenset({408, 425, 429})
#: Most deliveries one retry sweep takes on.
SWEEP_LIMIT = 500


@dataclass(frozen=True)
class DeliveryReport:
    delivered: int = 0
    #: Still queued for a later attempt.
    pending: int = 0
    #: Dropped: refused by the client, or past :data:`GIVE_UP_AFTER`.
    dropped: int = 0


def backoff(attempts: int) -> timedelta:
    """Wait before attempt ``attempts + 1``: 30 s, 1 min, 2 min … at most an hour."""
    wait: timedelta = FIRST_BACKOFF * (2 ** max(attempts - 1, 0))
    return min(wait, MAX_BACKOFF)


def _claim(row_id: str, now: datetime, lease: timedelta) -> BackchannelLogout | None:
    """Take one due delivery for this attempt, or None when it is not due or another worker
    took it (the lease covers the attempt; a crashed worker's lease runs out)."""
    result = db.session.execute(
        update(BackchannelLogout)
        .where(BackchannelLogout.id == row_id, BackchannelLogout.next_attempt_at <= now)
        .values(next_attempt_at=now + lease, attempts=BackchannelLogout.attempts + 1)
    )
    db.session.commit()
    if rowcount(result) != 1:
        return None
    row = db.session.get(BackchannelLogout, row_id, populate_existing=True)
    return row


def _post(client: Client, row: BackchannelLogout, timeout: int) -> tuple[str, str | None]:
    """One attempt: ``("delivered" | "retry" | "refused", error)``. Redirects are not followed
    (the registered URI is the only one that may receive the token)."""
    token = build_logout_token(client, row.subject, row.sid)
    try:
        response = requests.post(
            str(client.backchannel_logout_uri),
            data={"logout_token": token},
            timeout=timeout,
            allow_redirects=False,
        )
    except requests.RequestException as failure:
        return "retry", type(failure).__name__
    if response.status_code in DELIVERED:
        return "delivered", None
    answer = f"HTTP {response.status_code}"
    if 400 <= response.status_code < 500 and response.status_code not in TRY_AGAIN:
        return "refused", answer
    return "retry", answer


def _audit(row: BackchannelLogout, outcome: str, reason: str | None) -> None:
    user = db.session.get(User, row.subject)
    audit.record(
        "backchannel_logout_sent",
        outcome,
        reason,
        user_id=row.subject,
        contract_id=user.contract_id if user else None,
        client_id=row.client_id,
        details={"attempts": row.attempts, "reason": row.reason, "error": row.last_error},
    )


def deliver_one(row_id: str, timeout: int) -> str | None:
    """Attempt one queued delivery if it is due: ``delivered``, ``pending``, ``dropped``, or
    None when it was not due or is gone."""
    now = utcnow()
    row = _claim(row_id, now, timedelta(seconds=2 * timeout + 30))
    if row is None:
        return None
    client = db.session.get(Client, row.client_id)
    if client is None or not client.backchannel_logout_uri:
        db.session.delete(row)
        db.session.commit()
        return "dropped"
    outcome, error = _post(client, row, timeout)
    row.last_error = error
    if outcome == "delivered":
        db.session.delete(row)
        db.session.commit()
        _audit(row, "ok", None)
        return "delivered"
    given_up = utcnow() - _aware(row.created_at) >= GIVE_UP_AFTER
    if outcome == "refused" or given_up:
        db.session.delete(row)
        db.session.commit()
        _audit(row, "refused", "rp_refused" if outcome == "refused" else "rp_unreachable")
        log.warning(
            "back-channel logout to client %s dropped after %d attempts: %s",
            row.client_id,
            row.attempts,
            error,
        )
        return "dropped"
    row.next_attempt_at = utcnow() + backoff(row.attempts)
    db.session.commit()
    log.warning(
        "back-channel logout to client %s failed (attempt %d, retried later): %s",
        row.client_id,
        row.attempts,
        error,
    )
    return "pending"


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes (stored as UTC)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def deliver(row_ids: list[str]) -> DeliveryReport:
    """Attempt the given deliveries (those due); count the outcomes."""
    timeout = extensions.settings().backchannel_logout_timeout
    counts = {"delivered": 0, "pending": 0, "dropped": 0}
    for row_id in row_ids:
        outcome = deliver_one(row_id, timeout)
        if outcome is not None:
            counts[outcome] += 1
    return DeliveryReport(**counts)


def deliver_due() -> DeliveryReport:
    """Attempt every delivery that is due (the worker thread, ``idp backchannel deliver``).

    ``pending`` counts every delivery still queued afterwards, due or not."""
    due = db.session.scalars(
        select(BackchannelLogout.id)
        .where(BackchannelLogout.next_attempt_at <= utcnow())
        .order_by(BackchannelLogout.next_attempt_at)
        .limit(SWEEP_LIMIT)
    ).all()
    report = deliver(list(due))
    queued = db.session.scalar(select(db.func.count()).select_from(BackchannelLogout)) or 0
    return DeliveryReport(report.delivered, int(queued), report.dropped)


def setup_backchannel(app: Flask) -> None:
    """Register the dispatcher; the first request delivers what an earlier run left."""
    dispatcher = Dispatcher(
        extensions.settings.of(app).backchannel_retry_interval,
        lambda row_ids: deliver(row_ids).pending,
        lambda: deliver_due().pending,
    )
    extensions.backchannel.register(app, dispatcher)

    @app.before_request
    def _sweep_once() -> None:
        dispatcher.sweep_once(app)
