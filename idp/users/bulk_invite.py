"""G3: invitations from a CSV upload, as a job.

The upload is parsed and every row validated at once (:mod:`idp.users.invite_file`), then
stored with its result in ``invitation_job_rows``. The valid rows are invited off the request
thread (``extensions.invite_jobs``), each through
:func:`idp.users.admin_operations.admin_invite_user` with the uploading actor, as the single
invitation is; the page and the API answer at once and show the job's progress.

Re-uploading the same file changes nothing twice: an address this contract has already
invited (pending) is "already invited" — neither an error nor a second mail.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence

from flask import current_app
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from idp import audit
from idp import extensions
from idp.actor import Actor
from idp.actor import ActorKind
from idp.contracts.contract import get_contract
from idp.errors import DomainError
from idp.errors import NotFoundError
from idp.errors import ProvisioningError
from idp.models import InvitationJob
from idp.models import InvitationJobRow
from idp.models import db
from idp.models import utcnow
from idp.users.admin_operations import admin_invite_user
from idp.users.authority import authorise_invite
from idp.users.invite_file import ALREADY_INVITED
from idp.users.invite_file import BOM
from idp.users.invite_file import ERROR
from idp.users.invite_file import INVITED
from idp.users.invite_file import MAX_BYTES
from idp.users.invite_file import PENDING
from idp.users.invite_file import ROW_REASONS
from idp.users.invite_file import UploadError
from idp.users.invite_file import parse_upload
from idp.users.invite_file import validate_rows
from idp.vocabulary import ContractStatus
from idp.vocabulary import Role

__all__ = ["MAX_BYTES", "ROW_REASONS", "UploadError", "start_bulk_invite"]

#: Job statuses.
QUEUED = "queued"
RUNNING = "running"
FINISHED = "finished"


@audit.change("bulk_invite")
def start_bulk_invite(
    actor: Actor, contract_id: str, data: bytes, *, locale: str = "ja"
) -> InvitationJob:
    """G3: validate the upload, store the job with a result per row, and invite its valid
    rows off the request thread. Returns at once with the (queued) job.

    :raises NotFoundError, ForbiddenError: the actor may not invite into ``contract_id``.
    :raises UploadError: the file as a whole is refused (nothing stored)."""
    authorise_invite(actor, contract_id, Role.USER)
    if get_contract(contract_id).status != ContractStatus.ACTIVE:
        raise ProvisioningError("the contract is not active", "contract_not_active")
    if locale not in ("ja", "en"):
        raise ProvisioningError(f"unknown language {locale}", "bad_locale")
    rows = validate_rows(actor, contract_id, parse_upload(data))
    if not rows:
        raise UploadError("the file has no data rows", "empty")
    failed = sum(1 for row in rows if row.status == ERROR)
    skipped = sum(1 for row in rows if row.status == ALREADY_INVITED)
    job = InvitationJob(
        contract_id=contract_id,
        actor=actor.as_text()[:100],
        status=QUEUED,
        locale=locale,
        total=len(rows),
        done=failed + skipped,
        failed=failed,
    )
    db.session.add(job)
    db.session.flush()
    db.session.execute(
        insert(InvitationJobRow),
        [
            {
                "job_id": job.id,
                "line": row.line,
                "email": row.email,
                "name": row.name,
                "role": row.role,
                "status": row.status,
                "reason": row.reason,
            }
            for row in rows
        ],
    )
    db.session.commit()
    audit.record(
        "bulk_invite",
        "ok",
        None,
        contract_id=contract_id,
        actor=actor,
        details={"job": job.id, "rows": len(rows), "refused": failed, "already": skipped},
    )
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    job_id = job.id
    extensions.invite_jobs().submit(app, lambda: _run_job(actor, job_id))
    return job


def _actor_of(job: InvitationJob) -> Actor:
    """The uploader, as stored (``kind:id``), in the job's contract."""
    kind, _, actor_id = job.actor.partition(":")
    return Actor(ActorKind(kind), actor_id or None, job.contract_id)


def resume_jobs() -> list[str]:
    """Finish the jobs a stopped process left queued or running (the pool is in memory): their
    pending rows are invited in the uploader's name, now, in this process. A row a dying
    process had already sent is "already invited", so nobody gets a second mail. Returns the
    ids of the jobs finished. Run it from one node (``idp users resume-invitation-jobs``)."""
    jobs = db.session.scalars(
        select(InvitationJob.id).where(InvitationJob.status.in_((QUEUED, RUNNING)))
    ).all()
    finished = []
    for job_id in jobs:
        job = db.session.get(InvitationJob, job_id)
        if job is None:  # pragma: no cover - deleted with its contract meanwhile
            continue
        _run_job(_actor_of(job), job_id)
        finished.append(job_id)
    return finished


def _finish_row(job_id: str, line: int, status: str, reason: str | None) -> None:
    db.session.execute(
        update(InvitationJobRow)
        .where(InvitationJobRow.job_id == job_id, InvitationJobRow.line == line)
        .values(status=status, reason=reason)
    )
    failed = 1 if status == ERROR else 0
    db.session.execute(
        update(InvitationJob)
        .where(InvitationJob.id == job_id)
        .values(done=InvitationJob.done + 1, failed=InvitationJob.failed + failed)
    )
    db.session.commit()


def _run_job(actor: Actor, job_id: str) -> None:
    """Invite the job's pending rows, one by one, through the single invitation's domain
    function (each writes its own audit event and sends its mail)."""
    job = db.session.get(InvitationJob, job_id)
    if job is None:  # pragma: no cover - deleted with its contract meanwhile
        return
    contract_id, locale = job.contract_id, job.locale
    job.status = RUNNING
    db.session.commit()
    try:
        _invite_rows(actor, job_id, contract_id, locale)
    except Exception:
        # The database or the mailer failed under the job: the rows not reached are refused
        # (not sent), so that the job ends and the page says so; the error is logged.
        db.session.rollback()
        db.session.execute(
            update(InvitationJobRow)
            .where(InvitationJobRow.job_id == job_id, InvitationJobRow.status == PENDING)
            .values(status=ERROR, reason="not_sent")
        )
        _finish_job(job_id)
        raise
    _finish_job(job_id)


def _invite_rows(actor: Actor, job_id: str, contract_id: str, locale: str) -> None:
    pending = [
        (row.line, row.email, row.name, row.role)
        for row in db.session.query(InvitationJobRow)
        .filter_by(job_id=job_id, status=PENDING)
        .order_by(InvitationJobRow.line)
    ]
    for line, email, name, role in pending:
        status, reason = INVITED, None
        try:
            admin_invite_user(actor, contract_id, email, name, role, locale=locale)
        except ProvisioningError as error:
            # Invited meanwhile by this contract (another upload, the single form): nothing
            # to do, as at validation.
            if error.reason == "already_invited":
                status = ALREADY_INVITED
            elif error.reason in ("email_taken", "email_unavailable"):
                status, reason = ERROR, "email_unavailable"
            elif error.reason == "contract_not_active":
                status, reason = ERROR, "contract_not_active"
            else:
                status, reason = ERROR, "not_sent"
        except DomainError:
            # The actor lost the right to invite (demoted, disabled) while the job ran.
            status, reason = ERROR, "role_forbidden"
        except IntegrityError:
            db.session.rollback()
            status, reason = ERROR, "email_unavailable"
        _finish_row(job_id, line, status, reason)


def _finish_job(job_id: str) -> None:
    """The job is finished; its counts are recounted from its rows."""
    counts = dict(
        db.session.query(InvitationJobRow.status, func.count())
        .filter_by(job_id=job_id)
        .group_by(InvitationJobRow.status)
        .all()
    )
    db.session.execute(
        update(InvitationJob)
        .where(InvitationJob.id == job_id)
        .values(
            status=FINISHED,
            finished_at=utcnow(),
            done=sum(n for status, n in counts.items() if status != PENDING),
            failed=counts.get(ERROR, 0),
        )
    )
    db.session.commit()


def get_job(contract_id: str, job_id: str) -> InvitationJob:
    """The job of ``contract_id``; ``NotFoundError`` for any other (another contract's
    included, G8)."""
    job = db.session.get(InvitationJob, job_id[:32])
    if job is None or job.contract_id != contract_id:
        raise NotFoundError(f"no invitation job {job_id}", "job_not_found")
    return job


def job_rows(job: InvitationJob, *, errors_only: bool = False) -> Iterator[InvitationJobRow]:
    """The job's rows in file order (only the refused ones with ``errors_only``)."""
    query = db.session.query(InvitationJobRow).filter_by(job_id=job.id)
    if errors_only:
        query = query.filter_by(status=ERROR)
    yield from query.order_by(InvitationJobRow.line).yield_per(1000)


def error_report(
    rows: Iterator[InvitationJobRow], header: Sequence[str], words: Callable[[str], str]
) -> bytes:
    """The refused rows as a CSV file (UTF-8 with a BOM, so that Excel reads it): line,
    email, name, role and the reason in ``words``, under ``header``."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [row.line, _cell(row.email), _cell(row.name), _cell(row.role), words(row.reason or "")]
        )
    return BOM + out.getvalue().encode("utf-8")


def _cell(value: str) -> str:
    """A cell that a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
