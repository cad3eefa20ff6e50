"""X8: after a transaction that wrote audit events commits, ask the app's sealer to run
(``sealer.mark_unsealed`` flags the transaction; ``audit.record`` calls it)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask import current_app
from flask import has_app_context
from sqlalchemy import event
from sqlalchemy.orm import Session

from idp import extensions
from idp.audit_chain.sealer import UNSEALED
from idp.audit_chain.sealer import Sealer
from idp.models import db


def _after_commit(session: Session) -> None:
    if session.info.pop(UNSEALED, False) and has_app_context():
        app: Any = current_app
        extensions.audit_sealer.of(app).request(app._get_current_object())


def _after_rollback(session: Session) -> None:
    session.info.pop(UNSEALED, None)


def setup_audit_chain(app: Flask) -> None:
    """Register the app's sealer; listen (once per process) for commits of audit events."""
    extensions.audit_sealer.register(app, Sealer())
    if not event.contains(db.session, "after_commit", _after_commit):
        event.listen(db.session, "after_commit", _after_commit)
        event.listen(db.session, "after_rollback", _after_rollback)
