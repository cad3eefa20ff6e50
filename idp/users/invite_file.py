"""G3: the uploaded invitation file — decoded strictly, parsed with its header row, every
row validated at once — before anything is stored (:mod:`idp.users.bulk_invite` runs the job).

UTF-8 with or without a BOM, else Shift_JIS as Excel's Japanese default writes it (CP932); a
file in neither is refused. Rows are checked for address, role, name length, duplicates within
the file and addresses in use (one query per chunk of addresses, not one per row). An address
this contract has already invited (pending) is "already invited"; one in use otherwise gets the
same words either way, naming nobody (G8).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from email_validator import EmailNotValidError
from email_validator import validate_email

from idp.actor import Actor
from idp.errors import DomainError
from idp.errors import ProvisioningError
from idp.models import Invitation
from idp.models import User
from idp.models import db
from idp.users.add import MAX_EMAIL
from idp.users.authority import authorise_invite
from idp.users.find import email_key
from idp.users.invitations import INVITABLE_ROLES
from idp.users.invitations import MAX_NAME
from idp.vocabulary import Role

#: The largest upload accepted, and the most data rows (G3, issue 12).
MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 100_000
#: Addresses per "in use" query (well under every database's bound-parameter limit).
_CHUNK = 900
BOM = b"\xef\xbb\xbf"

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
    if data.startswith(BOM):
        data = data[len(BOM) :]
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
