"""Housekeeping (domain): the schema and keys at installation, and ``idp purge``, which a
timer runs now and then so that nothing expired is kept for ever.

C3 retention: a cancelled contract's users and everything hanging off them (second factors,
upstream identities, remembered browsers, token families, mailed links), its line numbers
and its AD connection are deleted ``IDP_CANCELLED_RETENTION_DAYS`` after the cancellation,
and its contract information is cleared. What stays: the contract row (id, name, plan,
status, dates) and the audit events, which hold ids and reason codes but no secret.

Audit retention (X8): events older than ``IDP_AUDIT_RETENTION_DAYS`` are deleted from each
chain (a cancelled contract's too) and the chain keeps a checkpoint, so that
``idp audit verify`` still holds (``idp.audit_chain.retention``)."""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from flask import Flask
from sqlalchemy import delete
from sqlalchemy import select

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.audit_chain.retention import delete_events_before
from idp.contracts.life import INFORMATION_FIELDS
from idp.models import AdConnection
from idp.models import Contract
from idp.models import LineNumber
from idp.models import MailLink
from idp.models import RememberedBrowser
from idp.models import SsoSessionRecord
from idp.models import User
from idp.models import db
from idp.models import rowcount
from idp.models import utcnow
from policies.links import LINK_VALIDITY
from policies.two_factor import REMEMBER_FOR


@dataclass(frozen=True)
class PurgeReport:
    #: Expired rows of the SQL ephemeral store (transactions, codes, counters); 0 on Redis.
    ephemeral: int
    #: Mailed links past their 14 days, used or not.
    links: int
    #: Remembered browsers not used for 30 days (they can never count again, L3).
    remembered_browsers: int
    #: Cancelled contracts whose retention period ended: their users and data are deleted.
    cancelled_contracts: int = 0
    #: The users those contracts had.
    cancelled_users: int = 0
    #: Listed SSO sessions (X2) that ended or outlived the session lifetime.
    sessions: int = 0
    #: Audit events past ``IDP_AUDIT_RETENTION_DAYS`` (0 when that setting is 0: kept).
    audit_events: int = 0


def init_database(app: Flask) -> bool:
    """Migrate the schema to head and create signing keys; True if keys were created.

    Not audited: it runs before the audit table exists."""
    from idp.migrations import upgrade

    with app.app_context():
        upgrade(db.engine)
    return bool(extensions.keys.of(app).ensure())


@audit.change("purge")
def purge(actor: Actor, now: datetime | None = None) -> PurgeReport:
    """Delete what has expired. A used link is kept until its 14 days are over, so that
    opening it again still says "already used" rather than "unknown"."""
    now = now or utcnow()
    ephemeral = extensions.store().purge_expired()
    links = db.session.execute(delete(MailLink).where(MailLink.created_at <= now - LINK_VALIDITY))
    browsers = db.session.execute(
        delete(RememberedBrowser).where(RememberedBrowser.last_used_at < now - REMEMBER_FOR)
    )
    session_lifetime = timedelta(seconds=extensions.settings().sso_session_ttl)
    sessions = db.session.execute(
        delete(SsoSessionRecord).where(
            SsoSessionRecord.ended_at.is_not(None)
            | (SsoSessionRecord.created_at < now - session_lifetime)
        )
    )
    db.session.commit()
    contracts, users = _purge_cancelled_contracts(now)
    retention_days = extensions.settings().audit_retention_days
    events = delete_events_before(now - timedelta(days=retention_days)) if retention_days else 0
    report = PurgeReport(
        ephemeral,
        rowcount(links),
        rowcount(browsers),
        contracts,
        users,
        rowcount(sessions),
        events,
    )
    audit.record("purge", "ok", None, actor=actor, details=asdict(report))
    return report


def _purge_cancelled_contracts(now: datetime) -> tuple[int, int]:
    """C3: delete the users and data of contracts cancelled more than the retention period
    ago (see the module's docstring for what stays). Returns (contracts, users)."""
    retention = timedelta(days=extensions.settings().cancelled_retention_days)
    ids = list(
        db.session.scalars(
            select(Contract.id).where(
                Contract.status == "cancelled",
                Contract.cancelled_at <= now - retention,
                Contract.purged_at.is_(None),
            )
        )
    )
    if not ids:
        return 0, 0
    # The foreign keys cascade from users to their factors, identities, browsers, token
    # families (and their refresh tokens) and mailed links.
    users = db.session.execute(delete(User).where(User.contract_id.in_(ids)))
    db.session.execute(delete(LineNumber).where(LineNumber.contract_id.in_(ids)))
    db.session.execute(delete(AdConnection).where(AdConnection.contract_id.in_(ids)))
    for contract in db.session.scalars(select(Contract).where(Contract.id.in_(ids))):
        for field in INFORMATION_FIELDS:
            setattr(contract, field, "")
        contract.purged_at = now
    db.session.commit()
    return len(ids), rowcount(users)


@audit.change("signing_key_rotate")
def rotate_signing_key(actor: Actor) -> str:
    """Add a new signing key and sign with it; older keys stay in the JWKS until the tokens
    they signed expire. Returns the new key's ``kid``."""
    kid = str(extensions.keys().rotate())
    audit.record("signing_key_rotate", "ok", None, actor=actor, target=kid)
    return kid
