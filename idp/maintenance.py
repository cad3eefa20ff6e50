"""Housekeeping (domain): the schema and keys at installation, and ``idp purge``, which a
timer runs now and then so that nothing expired is kept for ever.

C3 retention: a cancelled contract's users and everything hanging off them (second factors,
upstream identities, remembered browsers, token families, mailed links), its line numbers
and its AD connection are deleted ``IDP_CANCELLED_RETENTION_DAYS`` after the cancellation,
and its contract information is cleared. What stays: the contract row (id, name, plan,
status, dates) and the audit events, which hold ids and reason codes but no secret.

Audit retention (X8): events older than ``IDP_AUDIT_RETENTION_DAYS`` are deleted from each
chain (a cancelled contract's too) and the chain keeps a checkpoint, so that
``idp audit verify`` still holds (``idp.audit_chain.retention``).

What has an expiry and where it ends (everything else is kept until a person deletes it):

- SQL ephemeral store rows (login transactions, codes, counters): their own TTL. Redis expires
  its keys itself.
- Mailed links: 14 days after they were sent, used or not.
- Remembered browsers: 30 days unused, or revoked (a revoked one can never count again).
- Listed SSO sessions: ended, or older than the session lifetime.
- Refresh tokens: past their expiry and past the access token issued with them (a used one is
  kept until then for reuse detection).
- Token families: none of their refresh tokens left, and older than the refresh-token
  lifetime, the SSO session lifetime (back-channel logout looks that far back) and an access
  token's lifetime. A family that is gone refuses its tokens, as a revoked one does.
- Signing keys: retired generations, once no token they signed can still be valid.
- Invitation uploads (G3): finished jobs and their per-row results (addresses, names) after
  :data:`INVITATION_JOB_RETENTION`.
- Cancelled contracts (C3) and audit events (X8): their retention settings, see above.

Kept on purpose: an invitation that was not used (the contractor resends or revokes it, G3),
back-channel logout deliveries (their sender drops them after its give-up time)."""

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
from idp.models import InvitationJob
from idp.models import LineNumber
from idp.models import MailLink
from idp.models import RefreshToken
from idp.models import RememberedBrowser
from idp.models import SsoSessionRecord
from idp.models import TokenFamily
from idp.models import User
from idp.models import db
from idp.models import rowcount
from idp.models import utcnow
from policies.links import LINK_VALIDITY
from policies.two_factor import REMEMBER_FOR

#: How long a finished invitation upload and its per-row results stay viewable (G3).
INVITATION_JOB_RETENTION = timedelta(days=30)


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
    #: Refresh tokens past their expiry (used or not).
    refresh_tokens: int = 0
    #: Token families with no refresh token left, past every lifetime that looks at them.
    token_families: int = 0
    #: Retired signing-key generations no valid token can name any more.
    signing_keys: int = 0
    #: Finished invitation uploads older than :data:`INVITATION_JOB_RETENTION`.
    invitation_jobs: int = 0


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
    settings = extensions.settings()
    ephemeral = extensions.store().purge_expired()
    links = db.session.execute(delete(MailLink).where(MailLink.created_at <= now - LINK_VALIDITY))
    browsers = db.session.execute(
        delete(RememberedBrowser).where(
            (RememberedBrowser.last_used_at < now - REMEMBER_FOR)
            | RememberedBrowser.revoked_at.is_not(None)
        )
    )
    session_lifetime = timedelta(seconds=settings.sso_session_ttl)
    sessions = db.session.execute(
        delete(SsoSessionRecord).where(
            SsoSessionRecord.ended_at.is_not(None)
            | (SsoSessionRecord.created_at < now - session_lifetime)
        )
    )
    refresh_tokens, families = _purge_tokens(now)
    jobs = db.session.execute(
        delete(InvitationJob).where(
            InvitationJob.finished_at.is_not(None),
            InvitationJob.finished_at < now - INVITATION_JOB_RETENTION,
        )
    )
    db.session.commit()
    keys = extensions.keys().prune(now.timestamp())
    contracts, users = _purge_cancelled_contracts(now)
    retention_days = settings.audit_retention_days
    events = delete_events_before(now - timedelta(days=retention_days)) if retention_days else 0
    report = PurgeReport(
        ephemeral,
        rowcount(links),
        rowcount(browsers),
        contracts,
        users,
        rowcount(sessions),
        events,
        refresh_tokens,
        families,
        keys,
        rowcount(jobs),
    )
    audit.record("purge", "ok", None, actor=actor, details=asdict(report))
    return report


def _purge_tokens(now: datetime) -> tuple[int, int]:
    """Expired refresh tokens, then the token families nothing can use or look up any more
    (see the module's docstring). Returns (refresh tokens, families)."""
    settings = extensions.settings()
    moment = now.timestamp()
    tokens = db.session.execute(
        delete(RefreshToken).where(
            RefreshToken.expires_at < moment,
            RefreshToken.issued_at < moment - settings.access_token_ttl,
        )
    )
    looked_at = max(
        settings.refresh_token_ttl,
        settings.sso_session_ttl,
        settings.authorization_code_ttl + settings.access_token_ttl,
    )
    left = select(RefreshToken.token_hash).where(RefreshToken.family_id == TokenFamily.id)
    families = db.session.execute(
        delete(TokenFamily).where(
            TokenFamily.created_at < now - timedelta(seconds=looked_at), ~left.exists()
        )
    )
    return rowcount(tokens), rowcount(families)


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
