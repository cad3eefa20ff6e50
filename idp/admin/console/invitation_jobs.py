"""G3: invitations from a CSV upload. The invitations page's upload form starts a job
(:func:`idp.users.bulk_invite.start_bulk_invite`) and answers at once with the job's page,
which follows the job every 2 seconds in place (static/js/job-progress.js; without script, its
"Refresh" link) until the job is done, then
shows the result of each row and offers the refused rows as a CSV error report. Another
contract's job id is the 404 page (G8)."""

from __future__ import annotations

from itertools import islice

from flask import Response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp.admin.console.guard import Admin
from idp.admin.console.guard import bp
from idp.admin.console.guard import console_page
from idp.admin.console.invitations import invitations_page
from idp.admin.console.words import role_labels
from idp.admin.console.words import upload_file_texts
from idp.admin.console.words import upload_row_texts
from idp.errors import ForbiddenError
from idp.errors import ProvisioningError
from idp.i18n import SUPPORTED_LOCALES
from idp.i18n import gettext as _
from idp.users.bulk_invite import FINISHED
from idp.users.bulk_invite import MAX_BYTES
from idp.users.bulk_invite import error_report
from idp.users.bulk_invite import get_job
from idp.users.bulk_invite import job_rows
from idp.users.bulk_invite import start_bulk_invite
from idp.web import body_limit

#: Rows shown on the job page; the error report holds every refused row.
SHOWN_ROWS = 1000


def _refused(admin: Admin, reason: str, status: int = 400) -> BaseResponse:
    message = upload_file_texts().get(reason, _("The file could not be read."))
    form = {"role": "user", "locale": "ja"}
    return invitations_page(admin, form, {"file": [message]}, status)


# Files up to twice the largest accepted are read, so that the page can say why one is refused;
# a larger body is the 413 page before the view runs.
@bp.post("/invitations/upload")
@body_limit(2 * MAX_BYTES)
@console_page()
def upload_invitations(admin: Admin) -> BaseResponse:
    upload = request.files.get("file")
    locale = request.form.get("upload_locale", "ja")
    data = upload.stream.read(MAX_BYTES + 1) if upload is not None else b""
    if not data:
        return _refused(admin, "no_file")
    if locale not in SUPPORTED_LOCALES:
        locale = "ja"
    try:
        job = start_bulk_invite(admin.actor, admin.contract.id, data, locale=locale)
    except ForbiddenError:
        return _refused(admin, "role_forbidden", 403)
    except ProvisioningError as error:
        return _refused(admin, error.reason)
    return redirect(url_for("admin_console.invitation_job", job_id=job.id), code=303)


@bp.get("/invitation-jobs/<job_id>")
@console_page()
def invitation_job(admin: Admin, job_id: str) -> BaseResponse:
    job = get_job(admin.contract.id, job_id)
    rows = list(islice(job_rows(job), SHOWN_ROWS))
    return Response(
        render_template(
            "admin/invitation_job.html",
            admin=admin,
            job=job,
            is_finished=job.status == FINISHED,
            rows=rows,
            is_cut=job.total > len(rows),
            words=upload_row_texts(),
            roles=role_labels(),
        )
    )


def _report_words(reason: str) -> str:
    return upload_row_texts().get(reason, reason)


@bp.get("/invitation-jobs/<job_id>/errors.csv")
@console_page()
def invitation_job_errors(admin: Admin, job_id: str) -> BaseResponse:
    """The refused rows with their reason in the admin's language (UTF-8 with a BOM, as
    Excel reads it)."""
    job = get_job(admin.contract.id, job_id)
    header = [_("Line"), "email", "name", "role", _("Reason")]
    body = error_report(job_rows(job, errors_only=True), header, _report_words)
    response = Response(body, mimetype="text/csv")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="invitation-errors-{job.id}.csv"'
    )
    return response
