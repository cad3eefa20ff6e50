"""Mail not sent yet (the queue) and mailed links (SPEC Links, X4)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON
from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import LargeBinary
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.models.base import db
from idp.models.base import new_id
from idp.models.base import utcnow


class QueuedMail(db.Model):  # type: ignore[name-defined,misc]
    """A mail not sent yet (issue 13, "Faults"): every mail is queued here first, in the
    database all nodes share, and deleted once the SMTP server has accepted it
    (``idp/mail/queue.py``). While the server is down or answers 4xx it is retried with
    backoff; a 5xx answer or too many attempts drop it (audited).

    ``message`` is the whole RFC 5322 message, built once (its Message-ID stays the same on
    every attempt). It holds a link's secret: the row lives only until it is sent, and no
    log line carries it."""

    __tablename__ = "mail_queue"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    #: The mail's kind (``reset``, ``lock``, ...): counts and logs, never the address.
    purpose: Mapped[str] = mapped_column(String(40))
    recipient: Mapped[str] = mapped_column(String(320))
    message: Mapped[bytes] = mapped_column(LargeBinary)
    #: The user the mail is about (for the audit event when it is dropped); no foreign key,
    #: so that a deleted user's queued mail does not stop the deletion.
    user_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Due at or after this time; an attempt in progress pushes it out (a lease).
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    #: Why the last attempt failed (``SMTPServerDisconnected``, ``SMTP 451``): never the text.
    last_error: Mapped[str | None] = mapped_column(String(200))


class MailLink(db.Model):  # type: ignore[name-defined,misc]
    """A mailed link, stored as its SHA-256, single-use and bound to purpose, user and the
    account's ``state_version`` when sent (SPEC Links, X4)."""

    __tablename__ = "mail_links"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(24))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state_version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
