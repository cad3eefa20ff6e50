"""The admin API's blueprint (G7): ``<issuer>/api/admin/v1/``, JSON only, errors as RFC 9457
problem details, no CSRF (bearer tokens, never cookies)."""

from __future__ import annotations

from flask import Blueprint
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from idp.errors import ConflictError
from idp.errors import DomainError
from idp.errors import ForbiddenError
from idp.errors import NotFoundError
from idp.problems import Problem
from idp.problems import problem_response
from idp.web import csrf

PREFIX = "/api/admin/v1"

bp = Blueprint("admin_api", __name__, url_prefix=PREFIX)
csrf.exempt(bp)


@bp.errorhandler(Problem)
def problem(error: Problem) -> BaseResponse:
    return problem_response(error)


@bp.errorhandler(DomainError)
def refused(error: DomainError) -> BaseResponse:
    """A domain refusal: 404 for what this caller cannot see (G8), 403 for what it may not do
    (the rule's reason in the detail), 409 for a state conflict, else 400 with the reason."""
    if isinstance(error, NotFoundError):
        return problem_response(Problem(404, "not_found", "Not found.", str(error)))
    if isinstance(error, ForbiddenError):
        # G8: the rule's reason code as an extension member (RFC 9457 §3.2).
        return problem_response(
            Problem(
                403,
                "forbidden",
                "The operation is forbidden.",
                str(error),
                extensions={"reason": error.reason},
            )
        )
    if isinstance(error, ConflictError):
        return problem_response(
            Problem(409, error.reason, "The user's state conflicts with it.", str(error))
        )
    return problem_response(Problem(400, error.reason, "The request was refused.", str(error)))


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> BaseResponse:
    status = error.code or 500
    return problem_response(Problem(status, f"http_{status}", error.name, error.description or ""))
