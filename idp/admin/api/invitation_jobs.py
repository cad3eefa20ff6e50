"""G3, G7: invitations from a CSV file through the admin API. ``POST /invitations/bulk`` takes
the file as the body (``text/csv``), validates it and answers 202 with the job at once; the
rows are invited off the request thread (:mod:`idp.users.bulk_invite`).
``GET /invitation-jobs/{id}`` tells the job's progress and its refused rows with a reason.
Another contract's job is 404 (G8)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from itertools import islice
from typing import Any

from flask import Response
from flask import jsonify
from flask import request
from flask import url_for

from idp.actor import Actor
from idp.admin.api.auth import READ
from idp.admin.api.auth import WRITE
from idp.admin.api.auth import caller
from idp.admin.api.auth import requires
from idp.admin.api.blueprint import bp
from idp.models import InvitationJob
from idp.problems import Problem
from idp.users.bulk_invite import MAX_BYTES
from idp.users.bulk_invite import ROW_REASONS
from idp.users.bulk_invite import get_job
from idp.users.bulk_invite import job_rows
from idp.users.bulk_invite import start_bulk_invite
from idp.web import body_limit

#: Refused rows listed in a job's answer; past this, ``errors_truncated`` is true.
MAX_LISTED_ERRORS = 1000


def _time(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).isoformat()


def _job(job: InvitationJob) -> dict[str, Any]:
    errors = list(islice(job_rows(job, errors_only=True), MAX_LISTED_ERRORS + 1))
    return {
        "id": job.id,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "failed": job.failed,
        "created_at": _time(job.created_at),
        "finished_at": _time(job.finished_at),
        "errors": [
            {
                "line": row.line,
                "email": row.email,
                "reason": row.reason or "",
                "detail": ROW_REASONS.get(row.reason or "", ""),
            }
            for row in errors[:MAX_LISTED_ERRORS]
        ],
        "errors_truncated": len(errors) > MAX_LISTED_ERRORS,
    }


@bp.post("/invitations/bulk")
@body_limit(MAX_BYTES)
@requires(WRITE)
def invitations_bulk() -> Response:
    if request.mimetype != "text/csv":
        raise Problem(415, "unsupported_media_type", "Send the file as text/csv.", "")
    locale = request.args.get("locale", "ja")
    data = request.get_data(cache=False)
    actor = Actor.client(caller().client_id, caller().contract_id)
    job = start_bulk_invite(actor, caller().contract_id, data, locale=locale)
    response = jsonify(_job(job))
    response.status_code = 202
    response.headers["Location"] = url_for("admin_api.invitation_job", job_id=job.id)
    return response


@bp.get("/invitation-jobs/<job_id>")
@requires(READ)
def invitation_job(job_id: str) -> Response:
    return jsonify(_job(get_job(caller().contract_id, job_id)))
