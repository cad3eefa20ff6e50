"""Housekeeping (domain): the schema and keys at installation, and ``idp purge``, which a
timer runs now and then so that nothing expired is kept for ever."""

from __future__ import annotations

from dataclasses import asdict
from dataclasses import dataclass
from datetime import datetime

from flask import Flask
from sqlalchemy import delete

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.models import MailLink
from idp.models import RememberedBrowser
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
    db.session.commit()
    report = PurgeReport(ephemeral, rowcount(links), rowcount(browsers))
    audit.record("purge", "ok", None, actor=actor, details=asdict(report))
    return report


@audit.change("signing_key_rotate")
def rotate_signing_key(actor: Actor) -> str:
    """Add a new signing key and sign with it; older keys stay in the JWKS until the tokens
    they signed expire. Returns the new key's ``kid``."""
    kid = str(extensions.keys().rotate())
    audit.record("signing_key_rotate", "ok", None, actor=actor, target=kid)
    return kid
