"""Invitations (L10, G3) and CSV invitation uploads (G3)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from idp.models.base import db
from idp.models.base import new_id
from idp.models.base import utcnow


class Invitation(db.Model):  # type: ignore[name-defined,misc]
    """L10, G3: an invited user who has not registered yet (``registered_at`` None). The user
    row exists from the invitation on, without a method bound (no password hash, no upstream
    identity), so it cannot sign in and its email is taken; the mailed link is a
    ``mail_links`` row of purpose ``invite``. Resending and revoking (G3) act on this row."""

    __tablename__ = "invitations"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    #: The inviter as the audit names it (``kind:id``), for the pending list of G3.
    invited_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: When the last invitation mail was sent (G3 resend sends another).
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InvitationJob(db.Model):  # type: ignore[name-defined,misc]
    """G3: a CSV upload of invitations, validated at upload and then invited row by row off
    the request thread (``idp/users/bulk_invite.py``). ``done`` counts rows with their final
    result (invited, already invited, or refused), ``failed`` the refused ones."""

    __tablename__ = "invitation_jobs"
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(
        ForeignKey("contracts.id", ondelete="CASCADE"), index=True
    )
    #: The actor as the audit names it (``kind:id``); the job invites in its name.
    actor: Mapped[str] = mapped_column(String(100))
    #: queued, running, finished.
    status: Mapped[str] = mapped_column(String(16), default="queued")
    #: The language of the invitation mails.
    locale: Mapped[str] = mapped_column(String(8), default="ja")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class InvitationJobRow(db.Model):  # type: ignore[name-defined,misc]
    """G3: one data row of an invitation upload and its result: ``pending`` (valid, to be
    invited), ``invited``, ``already_invited`` (nothing to do, no second mail) or
    ``error`` with a reason code."""

    __tablename__ = "invitation_job_rows"
    job_id: Mapped[str] = mapped_column(
        ForeignKey("invitation_jobs.id", ondelete="CASCADE"), primary_key=True
    )
    #: The row's line in the file (the header is line 1).
    line: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(400), default="")
    name: Mapped[str] = mapped_column(String(400), default="")
    role: Mapped[str] = mapped_column(String(40), default="")
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(40))
