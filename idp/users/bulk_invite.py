"""G3: invitations from a CSV upload, as a job.

The upload (bytes) is decoded strictly — UTF-8 with or without a BOM, else Shift_JIS as
Excel's Japanese default writes it (CP932); a file in neither is refused — and parsed with a
header row (``email,name,role``, or メールアドレス,氏名,権限). Every data row is validated at
once (address, role, name length, duplicates within the file, addresses in use: one query per
chunk of addresses, not one per row) and stored with its result in ``invitation_job_rows``.
The valid rows are then invited off the request thread (``extensions.invite_jobs``), each
through :func:`idp.users.admin_operations.admin_invite_user` with the uploading actor, as the
single invitation is; the page and the API answer at once and show the job's progress.

Re-uploading the same file changes nothing twice: an address this contract has already
invited (pending) is "already invited" — neither an error nor a second mail. An address in
use otherwise (a registered user of this contract or anyone of another contract) gets the same
words either way, naming nobody (G8).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
from dataclasses import dataclass

from email_validator import EmailNotValidError
from email_validator import validate_email
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
from idp.models import Invitation
from idp.models import InvitationJob
from idp.models import InvitationJobRow
from idp.models import User
from idp.models import db
from idp.models import utcnow
from idp.users.add import MAX_EMAIL
from idp.users.admin_operations import admin_invite_user
from idp.users.authority import authorise_invite
from idp.users.find import email_key
from idp.users.invitations import INVITABLE_ROLES
from idp.users.invitations import MAX_NAME
from idp.vocabulary import ContractStatus
from idp.vocabulary import Role

#: The largest upload accepted, and the most data rows (G3, issue 12).
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 100_000
#: Addresses per "in use" query (well under every database's bound-parameter limit).
_CHUNK = 900
_BOM = b"\xef\xbb\xbf"

#: The header names each column may have (compared case-insensitively, spaces trimmed).
HEADERS = {
    "email": ("email", "e-mail", "mail", "メールアドレス", "メール"),
    "name": ("name", "氏名", "名前"),
    "role": ("role", "権限", "役割"),
}
#: The role cell's accepted values; an empty cell is a user.
ROLE_VALUES = {
    "": Role.USER,
    "user": Role.USER,
    "利用者": Role.USER,
    "一般": Role.USER,
    "admin": Role.ADMIN,
    "administrator": Role.ADMIN,
    "管理者": Role.ADMIN,
}

#: Row statuses.
PENDING = "pending"
INVITED = "invited"
ALREADY_INVITED = "already_invited"
ERROR = "error"

#: Job statuses.
QUEUED = "queued"
RUNNING = "running"
FINISHED = "finished"

#: What each row reason means, in English (the admin API's words; the console has its own
#: translated words for the same codes).
ROW_REASONS = {
    "email_missing": "The email address is missing.",
    "invalid_email": "The email address is not valid.",
    "invalid_role": "The role is neither user nor admin.",
    "role_forbidden": "You may not invite a user with this role.",
    "name_too_long": f"The name is longer than {MAX_NAME} characters.",
    "too_many_fields": "The row has more fields than the header.",
    "duplicate": "The address appears on an earlier row of the file.",
    "email_unavailable": "This address cannot be used.",
    "contract_not_active": "The contract is not active.",
    "not_sent": "The invitation could not be sent.",
}


class UploadError(ProvisioningError):
    """The file as a whole is refused (its reason says why); nothing was stored."""


@dataclass
class Row:
    """One data row of the upload and its validation result."""

    line: int
    email: str
    name: str
    role: str
    status: str = PENDING
    reason: str | None = None

    def refuse(self, reason: str) -> None:
        self.status, self.reason = ERROR, reason


def decode_upload(data: bytes) -> str:
    """The upload's text: UTF-8 (a leading BOM dropped), else CP932 (Shift_JIS as Excel
    writes it), each decoded strictly.

    :raises UploadError: ``too_large``, ``empty``, ``encoding`` (neither, or binary)."""
    if len(data) > MAX_BYTES:
        raise UploadError("the file is larger than 5 MB", "too_large")
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    if not data.strip():
        raise UploadError("the file is empty", "empty")
    if b"\x00" in data:
        raise UploadError("the file is not text (UTF-8 or Shift_JIS)", "encoding")
    for encoding in ("utf-8", "cp932"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UploadError("the file is neither UTF-8 nor Shift_JIS", "encoding")


def _columns(header: list[str]) -> dict[str, int]:
    names = {alias.casefold(): column for column, aliases in HEADERS.items() for alias in aliases}
    columns: dict[str, int] = {}
    for index, cell in enumerate(header):
        column = names.get(cell.strip().casefold())
        if column is None or column in columns:
            raise UploadError(f"unknown or repeated column {cell.strip()[:40]!r}", "bad_header")
        columns[column] = index
    if "email" not in columns:
        raise UploadError("the header row names no email column", "bad_header")
    return columns


def _cell_of(cells: list[str], columns: dict[str, int], column: str) -> str:
    index = columns.get(column)
    return cells[index].strip() if index is not None and index < len(cells) else ""


def parse_upload(data: bytes) -> list[Row]:
    """The upload's data rows (blank rows skipped), not validated yet.

    :raises UploadError: the file as a whole: size, encoding, not CSV, no header, more than
        ``MAX_ROWS`` rows."""
    text = decode_upload(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[Row] = []
    columns: dict[str, int] | None = None
    try:
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            if columns is None:
                columns = _columns(cells)
                width = len(cells)
                continue
            if len(rows) >= MAX_ROWS:
                raise UploadError("the file has more than 100,000 rows", "too_many_rows")
            email, name, role = (_cell_of(cells, columns, c) for c in ("email", "name", "role"))
            row = Row(reader.line_num, email[:400], name[:400], role[:40])
            if len(cells) > width:
                row.refuse("too_many_fields")
            rows.append(row)
    except csv.Error:
        raise UploadError("the file is not a CSV file", "not_csv") from None
    if columns is None:
        raise UploadError("the file has no header row", "bad_header")
    return rows


def _check_row(row: Row) -> str | None:
    """The row's email key when its cells are valid; else refuse it and return None."""
    if row.status == ERROR:
        return None
    role = ROLE_VALUES.get(row.role.casefold())
    if not row.email:
        row.refuse("email_missing")
        return None
    try:
        if len(row.email) > MAX_EMAIL:
            raise EmailNotValidError("too long")
        row.email = str(validate_email(row.email, check_deliverability=False).normalized)
    except EmailNotValidError:
        row.refuse("invalid_email")
        return None
    if role not in INVITABLE_ROLES:
        row.refuse("invalid_role")
        return None
    row.role = role
    if len(row.name) > MAX_NAME:
        row.refuse("name_too_long")
        return None
    return email_key(row.email)


def _in_use(contract_id: str, keys: list[str]) -> dict[str, bool]:
    """For each address of ``keys`` already in use: whether it is a pending invitation of
    ``contract_id`` (True) or anything else (False). One query per chunk of addresses."""
    found: dict[str, bool] = {}
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        rows = (
            db.session.query(User.email_key, User.contract_id, Invitation.id)
            .outerjoin(
                Invitation,
                (Invitation.user_id == User.id) & Invitation.registered_at.is_(None),
            )
            .filter(User.email_key.in_(chunk))
        )
        for key, contract, invitation_id in rows:
            found[key] = contract == contract_id and invitation_id is not None
    return found


def validate_rows(actor: Actor, contract_id: str, rows: list[Row]) -> list[Row]:
    """Validate every row in place (and return them): cells, the actor's right to invite
    each role (G4's rule, asked once per role), duplicates within the file, addresses in
    use. Changes nothing."""
    keys: dict[int, str] = {}
    first_line: dict[str, int] = {}
    for row in rows:
        key = _check_row(row)
        if key is None:
            continue
        if key in first_line:
            row.refuse("duplicate")
            continue
        first_line[key] = row.line
        keys[row.line] = key
    allowed: dict[str, bool] = {}
    for role in {row.role for row in rows if row.status == PENDING}:
        try:
            authorise_invite(actor, contract_id, role)
            allowed[role] = True
        except DomainError:
            allowed[role] = False
    in_use = _in_use(contract_id, list(keys.values()))
    for row in rows:
        if row.status != PENDING:
            continue
        if not allowed[row.role]:
            row.refuse("role_forbidden")
            continue
        pending_here = in_use.get(keys[row.line])
        if pending_here is True:
            row.status = ALREADY_INVITED
        elif pending_here is False:
            row.refuse("email_unavailable")
    return rows


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
    return _BOM + out.getvalue().encode("utf-8")


def _cell(value: str) -> str:
    """A cell that a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
