"""G7: the SCIM 2.0 service (RFC 7644) at ``<issuer>/scim/v2``, for a customer's directory
provisioning one contract's users. JSON only (``application/scim+json``), no CSRF (bearer
tokens, never cookies), every error a SCIM ``Error`` message (RFC 7644 §3.12).

Who calls: a bearer token of one contract (``idp scim token``; RFC 6750 §2.1, the header
only: a token in a URL ends up in logs). Every request acts on that contract alone (G8)."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from flask import Blueprint
from flask import Response
from flask import g
from flask import json
from flask import request
from pydantic import ValidationError
from scim2_models import Error
from scim2_models import ForbiddenException
from scim2_models import NotFoundException
from scim2_models import SCIMException
from scim2_models import UnauthorizedException
from werkzeug.exceptions import HTTPException

from idp.actor import Actor
from idp.contracts.scim_tokens import find_scim_token
from idp.errors import ConflictError
from idp.errors import DomainError
from idp.errors import ForbiddenError
from idp.errors import NotFoundError
from idp.outage import RETRY_AFTER
from idp.outage import outage_of
from idp.scim.resources import PREFIX
from idp.web import csrf
from idp.web import log_outage

log = logging.getLogger("idp.scim")

#: RFC 7644 §3.1: the media type of every SCIM message.
SCIM_JSON = "application/scim+json"

bp = Blueprint("scim", __name__, url_prefix=PREFIX)
csrf.exempt(bp)


def scim_response(body: dict[str, Any], status: int = 200, **headers: str) -> Response:
    response = Response(json.dumps(body), status, mimetype=SCIM_JSON)
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


def error_response(error: Error, **headers: str) -> Response:
    status = int(error.status or 500)
    return scim_response(error.model_dump(), status, **headers)


def actor() -> Actor:
    """The SCIM client of this request (set by ``authenticate``)."""
    value: Actor = g.scim_actor
    return value


def contract_id() -> str:
    value = actor().contract_id
    assert value is not None
    return value


@bp.before_request
def authenticate() -> None:
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise UnauthorizedException(detail="A bearer token is required.")
    row = find_scim_token(token.strip())
    if row is None:
        raise UnauthorizedException(detail="The bearer token is not valid.")
    g.scim_actor = Actor.scim(row.id, row.contract_id)


@bp.errorhandler(SCIMException)
def scim_error(error: SCIMException) -> Response:
    headers = {}
    if isinstance(error, UnauthorizedException):
        # RFC 6750 §3: the scheme to use; an error code once a token was sent.
        sent = request.headers.get("Authorization", "").lower().startswith("bearer ")
        headers["WWW_Authenticate"] = 'Bearer realm="scim"' + (
            ', error="invalid_token"' if sent else ""
        )
    return error_response(error.to_error(), **headers)


@bp.errorhandler(ValidationError)
def invalid(error: ValidationError) -> Response:
    """A request scim2-models refused (a filter, a resource, a patch): 400 with its type."""
    errors = error.errors()
    if not errors:
        return error_response(Error(status=400, scim_type="invalidValue", detail=str(error)))
    return error_response(Error.from_validation_error(errors[0]))


@bp.errorhandler(DomainError)
def refused(error: DomainError) -> Response:
    """A domain refusal: not found for what this client cannot see (G8), 409 for an address
    in use (RFC 7644 §3.3 ``uniqueness``), 403 for the contractor, else 400."""
    if isinstance(error, NotFoundError):
        return error_response(NotFoundException(detail="No such resource.").to_error())
    if error.reason in ("email_taken", "email_unavailable", "already_invited"):
        return error_response(Error(status=409, scim_type="uniqueness", detail=str(error)))
    if isinstance(error, ForbiddenError) or error.reason == "contractor":
        return error_response(ForbiddenException(detail=str(error)).to_error())
    if isinstance(error, ConflictError):
        return error_response(Error(status=409, detail=str(error)))
    scim_type = "invalidValue" if error.reason != "not_registered" else "mutability"
    return error_response(Error(status=400, scim_type=scim_type, detail=str(error)))


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    status = error.code or 500
    return error_response(Error(status=status, detail=error.description or error.name))


@bp.errorhandler(Exception)
def unexpected(error: Exception) -> Response:
    service = outage_of(error)
    if service is not None:
        # RFC 7644 §3.12: 503 "Service Unavailable", with RFC 9110's Retry-After.
        error_id = log_outage(service, error)
        detail = f"The service is temporarily unavailable; try again in a moment ({error_id})."
        return error_response(Error(status=503, detail=detail), Retry_After=str(RETRY_AFTER))
    error_id = secrets.token_hex(6)
    log.exception("unexpected error id=%s", error_id)
    return error_response(Error(status=500, detail=f"Internal error {error_id}."))
