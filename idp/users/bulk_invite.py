"""G3: invitations from a CSV upload, as a job.

The upload is parsed and every row validated at once (:mod:`idp.users.invite_file`), then
stored with its result in ``invitation_job_rows``. The valid rows are invited off the request
thread (``extensions.invite_jobs``), each through
:func:`idp.users.admin_operations.admin_invite_user` with the uploading actor, as the single
invitation is; the page and the API answer at once and show the job's progress.

Re-uploading the same file changes nothing twice: an address this contract has already
invited (pending) is "already invited" — neither an error nor a second mail.

Several nodes (issue 13): the node running a job holds a lease on it in the shared ephemeral
store, renewed as it goes (``IDP_INVITE_JOB_LEASE``). A job whose node stopped (killed, hung)
keeps no lease for long: every serving node sweeps for unfinished jobs without one
(:func:`resume_orphaned_jobs`), takes the lease and finishes the job in the uploader's name. A
node that finds its lease taken stops; a row is finished once (its status moves from pending
only once), and an address already invited is never mailed a second time.
"""

from __future__ import annotations

import csv
import io
import logging
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
from idp.models import rowcount
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
from idp.users.job_lease import Lease
from idp.users.job_lease import LeaseLost
from idp.vocabulary import ContractStatus
from idp.vocabulary import Role

__all__ = ["MAX_BYTES", "ROW_REASONS", "UploadError", "resume_orphaned_jobs", "start_bulk_invite"]

log = logging.getLogger("idp.invite_jobs")

#: Job statuses.
QUEUED = "queued"
RUNNING = "running"
FINISHED = "finished"
#: The ephemeral store's key of a job's lease: the holder's token.
LEASE_PREFIX = "invite-job-lease:"


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
    job_id = job.id
    lease = Lease.take(LEASE_PREFIX + job_id)
    if lease is not None:  # else held already: only a sweep could have found it this soon
        _submit(actor, job_id, lease)
    return job


def _submit(actor: Actor, job_id: str, lease: Lease) -> None:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    extensions.invite_jobs().submit(app, lambda: _run_job(actor, job_id, lease))


def _actor_of(job: InvitationJob) -> Actor:
    """The uploader, as stored (``kind:id``), in the job's contract."""
    kind, _, actor_id = job.actor.partition(":")
    return Actor(ActorKind(kind), actor_id or None, job.contract_id)


def _orphaned_jobs() -> Iterator[tuple[str, Actor, Lease]]:
    """The unfinished jobs no node holds, oldest first, each as its lease is taken here:
    (job id, its uploader, the lease)."""
    unfinished = db.session.scalars(
        select(InvitationJob.id)
        .where(InvitationJob.status.in_((QUEUED, RUNNING)))
        .order_by(InvitationJob.created_at)
    ).all()
    for job_id in unfinished:
        lease = Lease.take(LEASE_PREFIX + job_id)
        if lease is None:  # a running node holds it
            continue
        job = db.session.get(InvitationJob, job_id)
        if job is None:  # pragma: no cover - deleted with its contract meanwhile
            lease.release()
            continue
        yield job_id, _actor_of(job), lease


def resume_jobs() -> list[str]:
    """Finish, here and now, the unfinished jobs no node holds (``idp users
    resume-invitation-jobs``; the nodes' sweeps do it by themselves): each in its uploader's
    name. Returns the ids of the jobs finished."""
    finished = []
    for job_id, actor, lease in _orphaned_jobs():
        _run_job(actor, job_id, lease)
        finished.append(job_id)
    return finished


def resume_orphaned_jobs() -> list[str]:
    """A node's sweep: take every unfinished job no node holds (its node stopped, or its
    lease ran out while it waited behind another job) and run it in this node's job pool.
    Returns the ids taken."""
    taken = []
    for job_id, actor, lease in _orphaned_jobs():
        _submit(actor, job_id, lease)
        taken.append(job_id)
    return taken


def _finish_row(job_id: str, line: int, status: str, reason: str | None) -> None:
    """The row's result, and the job's counts with it; once only (a node that took the job
    over may have finished the row first)."""
    finished = db.session.execute(
        update(InvitationJobRow)
        .where(
            InvitationJobRow.job_id == job_id,
            InvitationJobRow.line == line,
            InvitationJobRow.status == PENDING,
        )
        .values(status=status, reason=reason)
    )
    if not rowcount(finished):
        db.session.commit()
        return
    failed = 1 if status == ERROR else 0
    db.session.execute(
        update(InvitationJob)
        .where(InvitationJob.id == job_id)
        .values(done=InvitationJob.done + 1, failed=InvitationJob.failed + failed)
    )
    db.session.commit()


def _run_job(actor: Actor, job_id: str, lease: Lease) -> None:
    """Invite the job's pending rows, one by one, through the single invitation's domain
    function (each writes its own audit event and sends its mail), while ``lease`` holds."""
    if not lease.keep(now=True):  # taken over while it waited in this pool
        log.info("invitation job %s was taken over by another node", job_id)
        return
    job = db.session.get(InvitationJob, job_id)
    if job is None or job.status == FINISHED:  # finished by a node that took it over
        lease.release()
        log.info("invitation job %s was taken over by another node (finished there)", job_id)
        return
    contract_id, locale = job.contract_id, job.locale
    job.status = RUNNING
    db.session.commit()
    try:
        _invite_rows(actor, job_id, contract_id, locale, lease)
    except LeaseLost:
        db.session.rollback()
        log.info("invitation job %s was taken over by another node; stopped here", job_id)
        return
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
        lease.release()
        raise
    _finish_job(job_id)
    lease.release()


def _invite_rows(actor: Actor, job_id: str, contract_id: str, locale: str, lease: Lease) -> None:
    pending = [
        (row.line, row.email, row.name, row.role)
        for row in db.session.query(InvitationJobRow)
        .filter_by(job_id=job_id, status=PENDING)
        .order_by(InvitationJobRow.line)
    ]
    for line, email, name, role in pending:
        if not lease.keep():
            raise LeaseLost(job_id)
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
    if not lease.keep(now=True):  # the job's end is its holder's to write
        raise LeaseLost(job_id)


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
