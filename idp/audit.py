"""Audit events (X3): one row per security-relevant action, with a reason code on every
refusal; never a password, code or token. Each event is also logged as a JSON line."""

from __future__ import annotations

import logging
from typing import Any

from flask import has_request_context
from flask import request

from idp.metrics import count_event
from idp.models import AuditEvent
from idp.models import db

log = logging.getLogger("idp.audit")


def record(
    event: str,
    outcome: str,
    reason: str | None,
    *,
    user_id: str | None = None,
    contract_id: str | None = None,
    client_id: str | None = None,
    details: dict[str, Any] | None = None,
    commit: bool = True,
) -> None:
    """Store one audit event, in its own commit unless ``commit`` is False (then it goes
    with the caller's next commit: one write instead of two on the token path).

    :param outcome: ``ok``, ``refused`` or ``info``.
    :param reason: reason code such as ``wrong_password``; required when refused.
    """
    ip = request.remote_addr if has_request_context() else None
    event_row = AuditEvent(
        event=event,
        outcome=outcome,
        reason=reason,
        user_id=user_id,
        contract_id=contract_id,
        client_id=client_id,
        ip=ip,
        details=details or {},
    )
    db.session.add(event_row)
    if commit:
        db.session.commit()
    count_event(event, outcome, reason)
    log.info(
        "audit",
        extra={
            "audit": {
                "event": event,
                "outcome": outcome,
                "reason": reason,
                "user_id": user_id,
                "client_id": client_id,
                "ip": ip,
            }
        },
    )
