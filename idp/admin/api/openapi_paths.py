"""G7: the paths of the admin API's OpenAPI document beyond the user list and detail — the
what-if, the audit log, the per-user operations and invitations, the invitation jobs — built
for ``openapi.document`` (idp/admin/api/openapi.py)."""

from __future__ import annotations

from typing import Any

from idp.admin.api.auth import WRITE
from idp.admin.api.openapi_schemas import NO_NUL
from idp.admin.api.openapi_schemas import PROBLEM
from idp.admin.api.openapi_schemas import TIME
from idp.admin.api.what_if import MAX_ACR_LENGTH
from idp.admin.api.what_if import MAX_BROWSER_ID_LENGTH
from idp.admin.api.what_if import MAX_LINE_LENGTH
from idp.audit_log import CSV_COLUMNS
from idp.audit_log import MAX_CODE_LENGTH
from idp.audit_log import MAX_PAGE_SIZE as MAX_AUDIT_PAGE_SIZE
from idp.audit_log import MAX_USER_ID_LENGTH
from idp.users.what_if import AREAS


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def what_if_operation(read: list[Any], errors: dict[str, Any]) -> dict[str, Any]:
    return {
        "operationId": "whatIf",
        "summary": (
            "X3: which steps a sign-in of this user would need and why, for a route and a "
            "browser state, computed by the rules the login uses; another contract's user is "
            "404 (G8)."
        ),
        "security": read,
        "parameters": [
            {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}},
            _query(
                "route",
                {"enum": ["internet", "line"], "default": "internet"},
                "The internet, or line authentication (then `line` is required).",
            ),
            _query(
                "line",
                {"type": "string", "minLength": 1, "maxLength": MAX_LINE_LENGTH, "pattern": NO_NUL},
                "The line number (A2: CAF + 10 or COP + 8), with route=line only.",
            ),
            _query(
                "area",
                {"enum": list(AREAS), "default": "east"},
                "The line's area (L9: West Japan shows the line notice once).",
            ),
            _query(
                "browser",
                {"enum": ["new", "remembered"], "default": "new"},
                "A new browser, or one remembered for this user (L3, X2).",
            ),
            _query(
                "browser_id",
                {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": MAX_BROWSER_ID_LENGTH,
                    "pattern": NO_NUL,
                },
                "Which remembered browser (an id of the user's `remembered_browsers`), with "
                "browser=remembered only; default: the one used last.",
            ),
            _query(
                "target",
                {"enum": ["frontend", "account"], "default": "frontend"},
                "The storage frontend, or the account menu's own sign-in (A3, C1).",
            ),
            _query(
                "acr_values",
                {"type": "string", "minLength": 1, "maxLength": MAX_ACR_LENGTH, "pattern": NO_NUL},
                "acr_values as a relying party would send them (space-separated).",
            ),
        ],
        "responses": {
            "200": {
                "description": "The steps, in order.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/WhatIf"}}
                },
            },
            "404": PROBLEM,
            **errors,
        },
    }


def _audit_filters() -> list[dict[str, Any]]:
    text = {"type": "string", "minLength": 1, "pattern": NO_NUL}
    return [
        _query(
            "user_id",
            {**text, "maxLength": MAX_USER_ID_LENGTH},
            "Events about this user (a deleted user's id too).",
        ),
        _query("event", {**text, "maxLength": MAX_CODE_LENGTH}, "The event, e.g. `login`."),
        _query(
            "reason",
            {**text, "maxLength": MAX_CODE_LENGTH},
            "The reason code (X3), e.g. `wrong_password`.",
        ),
        _query("since", TIME, "From this instant (included)."),
        _query(
            "until",
            TIME,
            "To this instant (excluded); a range that ends before it starts holds nothing.",
        ),
    ]


def audit_operations(read: list[Any], errors: dict[str, Any]) -> dict[str, Any]:
    """G6: the contract's audit log, a page at a time or all of it as CSV."""
    return {
        "/audit-events": {
            "get": {
                "operationId": "listAuditEvents",
                "summary": (
                    "One page of the contract's audit events, newest first (G6, keyset "
                    "paging); never another contract's (G8)."
                ),
                "security": read,
                "parameters": [
                    *_audit_filters(),
                    _query(
                        "cursor",
                        {"type": "string", "minLength": 1, "maxLength": 1000},
                        "`next_cursor` of the page before.",
                    ),
                    _query(
                        "limit",
                        {
                            "type": "integer",
                            "minimum": 1,
                            "maximum": MAX_AUDIT_PAGE_SIZE,
                            "default": 50,
                        },
                        "Events per page.",
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "A page of events.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/AuditEventPage"}
                            }
                        },
                    },
                    **errors,
                },
            }
        },
        "/audit-events.csv": {
            "get": {
                "operationId": "exportAuditEvents",
                "summary": (
                    "Every matching event of the contract as CSV, newest first, streamed "
                    "(G6): UTF-8 with a byte-order mark (for Excel), an attachment. Cells a "
                    "spreadsheet would read as a formula start with `'`."
                ),
                "security": read,
                "parameters": _audit_filters(),
                "responses": {
                    "200": {
                        "description": f"Columns: {', '.join(CSV_COLUMNS)} (details as JSON).",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **errors,
                },
            }
        },
    }


USER_ID = {"name": "user_id", "in": "path", "required": True, "schema": {"type": "string"}}
#: Every write operation's possible refusals (G8: 404 for another contract's ids, 403 with
#: the rule's reason, 409 for a state conflict).
WRITE_ERRORS = {code: PROBLEM for code in ("400", "401", "403", "404", "409")}


def operation(
    operation_id: str,
    summary: str,
    done: str,
    *,
    path_parameter: dict[str, Any] = USER_ID,
    body: str | None = None,
    answer: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """A write operation: 204 when done, or ``answer`` (status, schema name)."""
    responses: dict[str, Any]
    if answer is None:
        responses = {"204": {"description": done}}
    else:
        status, schema = answer
        responses = {
            status: {
                "description": done,
                "content": {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
                },
            }
        }
    operation: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "security": [{"admin": [WRITE]}],
        "parameters": [path_parameter],
        "responses": {**responses, **WRITE_ERRORS},
    }
    if body is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}},
        }
    return operation


def operations() -> dict[str, Any]:
    """G4, G3, M2: the per-user operations and invitations (scope admin:write)."""
    invitation_id = {**USER_ID, "name": "invitation_id"}
    return {
        "/users/{user_id}/unlock": {
            "post": operation("unlockUser", "Unlock the account (K1, G4).", "Unlocked.")
        },
        "/users/{user_id}/reset-two-factor": {
            "post": operation(
                "resetTwoFactor",
                "Reset the 2FA registration and the remembered browsers (T2, X2).",
                "Reset; the next sign-in enrolls again.",
            )
        },
        "/users/{user_id}/sign-out": {
            "post": operation(
                "signOutEverywhere",
                "End every session and token; relying parties are told (X2, X7).",
                "Signed out everywhere.",
            )
        },
        "/users/{user_id}/disable": {
            "post": operation(
                "disableUser",
                "Disable the account: no sign-in; every session and token ends (G4, X7).",
                "Disabled.",
            )
        },
        "/users/{user_id}/enable": {
            "post": operation("enableUser", "Let a disabled user sign in again (G4).", "Enabled.")
        },
        "/users/{user_id}/role": {
            "put": operation(
                "setRole",
                "Grant or revoke the admin privilege (G4; never the contractor's role).",
                "The user's role now.",
                body="RoleChange",
                answer=("200", "Role"),
            )
        },
        "/users/{user_id}/change-link": {
            "post": operation(
                "sendChangeLink",
                "M2's email change screen: a method-change or an email-change link.",
                "The link was mailed.",
                body="ChangeLinkRequest",
                answer=("202", "ChangeLinkSent"),
            )
        },
        "/invitations": {
            "post": {
                **operation(
                    "inviteUser",
                    "Invite one user into the contract (G3, L10).",
                    "Invited; the registration mail is sent.",
                    body="InvitationRequest",
                    answer=("201", "Invitation"),
                ),
                "parameters": [],
            }
        },
        "/invitations/{invitation_id}": {
            "delete": operation(
                "revokeInvitation",
                "Withdraw a pending invitation; the invited user goes with it (G3).",
                "Revoked.",
                path_parameter=invitation_id,
            )
        },
        "/invitations/{invitation_id}/resend": {
            "post": operation(
                "resendInvitation",
                "A new registration link; older ones are void (G3).",
                "Resent.",
                path_parameter=invitation_id,
            )
        },
    }


def invitation_jobs(read: list[dict[str, list[str]]]) -> dict[str, Any]:
    """G3: invitations from a CSV file, as a job."""
    job = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InvitationJob"}}}
    }
    return {
        "/invitations/bulk": {
            "post": {
                "operationId": "inviteFromCsv",
                "summary": (
                    "Invite the rows of a CSV file (G3): header email,name,role (or "
                    "メールアドレス,氏名,権限), UTF-8 (BOM or not) or Shift_JIS, at most 5 MB and "
                    "100,000 rows. Validated at once; the valid rows are invited off the "
                    "request. Addresses already invited by the contract are left as they are."
                ),
                "security": [{"admin": [WRITE]}],
                "parameters": [
                    _query("locale", {"enum": ["ja", "en"]}, "The language of the mails."),
                ],
                "requestBody": {
                    "required": True,
                    "content": {"text/csv": {"schema": {"type": "string"}}},
                },
                "responses": {
                    "202": {"description": "The job, queued.", **job},
                    **WRITE_ERRORS,
                    "413": PROBLEM,
                    "415": PROBLEM,
                },
            }
        },
        "/invitation-jobs/{job_id}": {
            "get": {
                "operationId": "getInvitationJob",
                "summary": "An invitation job's progress and its refused rows (G3).",
                "security": read,
                "parameters": [{**USER_ID, "name": "job_id"}],
                "responses": {
                    "200": {"description": "The job.", **job},
                    "400": PROBLEM,
                    "401": PROBLEM,
                    "403": PROBLEM,
                    "404": PROBLEM,
                },
            }
        },
    }
