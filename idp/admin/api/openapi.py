"""G7: the admin API's OpenAPI 3.1 document, served at ``<prefix>/openapi.json``. A test
compares it with the routes the blueprint serves and checks every answer against it
(tests/test_admin_api.py), so that the document cannot drift from the API."""

from __future__ import annotations

from typing import Any
from typing import get_args

from flask import Response
from flask import jsonify

from idp import extensions
from idp.admin.api.auth import READ
from idp.admin.api.auth import WRITE
from idp.admin.api.blueprint import PREFIX
from idp.admin.api.blueprint import bp
from idp.admin.api.user_operations import MAX_FIELD
from idp.admin.api.what_if import MAX_ACR_LENGTH
from idp.admin.api.what_if import MAX_BROWSER_ID_LENGTH
from idp.admin.api.what_if import MAX_LINE_LENGTH
from idp.audit_log import CSV_COLUMNS
from idp.audit_log import MAX_CODE_LENGTH
from idp.audit_log import MAX_PAGE_SIZE as MAX_AUDIT_PAGE_SIZE
from idp.audit_log import MAX_USER_ID_LENGTH
from idp.users.listing import MAX_PAGE_SIZE
from idp.users.listing import MAX_SEARCH_LENGTH
from idp.users.listing import UserSort
from idp.users.what_if import AREAS
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role
from policies.what_if import StepName

TIME = {"type": "string", "format": "date-time"}
OPTIONAL_TIME = {"type": ["string", "null"], "format": "date-time"}
PROBLEM = {"$ref": "#/components/responses/Problem"}
#: A string member of a request body (at most ``MAX_FIELD`` characters, no NUL).
SHORT_TEXT = {"maxLength": MAX_FIELD, "pattern": "^[^\\u0000]*$"}
#: No parameter holds NUL (every endpoint refuses it: PostgreSQL cannot store it in text).
NO_NUL = "^[^\\u0000]*$"


def _schemas() -> dict[str, Any]:
    summary_properties: dict[str, Any] = {
        "id": {"type": "string"},
        "email": {"type": "string"},
        "name": {"type": "string"},
        "role": {"enum": [r.value for r in Role]},
        "login_method": {"enum": [m.value for m in LoginMethod]},
        "locked": {"type": "boolean"},
        "two_factor_enrolled": {"type": "boolean"},
        "invited": {"type": "boolean", "description": "Invited, not registered yet (L10)."},
        "disabled": {"type": "boolean", "description": "Disabled by an administrator (G4)."},
        "created_at": TIME,
    }
    summary = {
        "type": "object",
        "required": [
            "id",
            "email",
            "name",
            "role",
            "login_method",
            "locked",
            "two_factor_enrolled",
            "invited",
            "disabled",
            "created_at",
        ],
        "properties": summary_properties,
        "additionalProperties": False,
    }
    sign_in = {
        "type": "object",
        "required": ["at", "event", "outcome", "reason", "client_id", "rules"],
        "properties": {
            "at": TIME,
            "event": {"type": "string"},
            "outcome": {"enum": ["ok", "refused", "info"]},
            "reason": {"type": ["string", "null"], "description": "The reason code (X3)."},
            "client_id": {"type": ["string", "null"]},
            "rules": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The SPEC rules behind the reason (X3), e.g. L2, K1.",
            },
        },
    }
    detail_properties: dict[str, Any] = {
        **{k: v for k, v in summary_properties.items() if k != "invited"},
        "locale": {"enum": ["ja", "en"]},
        "locked_at": OPTIONAL_TIME,
        "disabled_at": OPTIONAL_TIME,
        "two_factor_enrolled_at": OPTIONAL_TIME,
        "second_factors": {"type": "array", "items": {"type": "string"}},
        "upstream_accounts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["provider", "email", "last_used_at"],
                "properties": {
                    "provider": {"type": "string"},
                    "email": {"type": ["string", "null"]},
                    "last_used_at": OPTIONAL_TIME,
                },
            },
        },
        "invitation_sent_at": OPTIONAL_TIME,
        "sessions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["device", "network", "line_auth", "created_at", "last_used_at"],
                "properties": {
                    "device": {"type": "string"},
                    "network": {"type": "string"},
                    "line_auth": {"type": "boolean"},
                    "created_at": TIME,
                    "last_used_at": TIME,
                },
            },
        },
        "remembered_browsers": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "device", "last_used_at"],
                "properties": {
                    "id": {"type": "string"},
                    "device": {"type": "string"},
                    "last_used_at": TIME,
                },
            },
        },
        "last_sign_in_at": OPTIONAL_TIME,
        "recent_sign_ins": {"type": "array", "items": {"$ref": "#/components/schemas/SignIn"}},
    }
    return {
        "UserSummary": summary,
        "UserPage": {
            "type": "object",
            "required": ["users", "next_cursor", "total", "total_capped"],
            "properties": {
                "users": {"type": "array", "items": {"$ref": "#/components/schemas/UserSummary"}},
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "Pass as `cursor` for the next page; null on the last.",
                },
                "total": {"type": "integer", "minimum": 0, "maximum": 1000},
                "total_capped": {
                    "type": "boolean",
                    "description": "More users match than `total` (shown as 1,000+).",
                },
            },
        },
        "SignIn": sign_in,
        "AuditEvent": {
            "type": "object",
            "required": [
                "id",
                "at",
                "event",
                "outcome",
                "reason",
                "rules",
                "actor",
                "user_id",
                "client_id",
                "ip",
                "details",
            ],
            "properties": {
                "id": {"type": "integer"},
                "at": TIME,
                "event": {"type": "string"},
                "outcome": {"enum": ["ok", "refused", "info"]},
                "reason": {"type": ["string", "null"], "description": "The reason code (X3)."},
                "rules": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The SPEC rules behind the reason (X3), e.g. L2, K1.",
                },
                "actor": {
                    "type": ["string", "null"],
                    "description": "Who asked, as `kind:id`; null for a sign-in's own events.",
                },
                "user_id": {"type": ["string", "null"]},
                "client_id": {"type": ["string", "null"]},
                "ip": {"type": ["string", "null"]},
                "details": {"type": "object"},
            },
            "additionalProperties": False,
        },
        "AuditEventPage": {
            "type": "object",
            "required": ["events", "next_cursor", "total", "total_capped"],
            "properties": {
                "events": {
                    "type": "array",
                    "items": {"$ref": "#/components/schemas/AuditEvent"},
                    "description": "Newest first.",
                },
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "Pass as `cursor` for the next (older) page; null on the last.",
                },
                "total": {"type": "integer", "minimum": 0, "maximum": 1000},
                "total_capped": {
                    "type": "boolean",
                    "description": "More events match than `total` (shown as 1,000+).",
                },
            },
        },
        "UserDetail": {
            "type": "object",
            "required": sorted(detail_properties),
            "properties": detail_properties,
            "additionalProperties": False,
        },
        "WhatIfStep": {
            "type": "object",
            "required": ["step", "rules", "reason", "detail"],
            "properties": {
                "step": {"enum": list(get_args(StepName))},
                "rules": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The SPEC requirements behind the step (e.g. L3, K1).",
                },
                "reason": {
                    "type": ["string", "null"],
                    "description": (
                        "refused, second_factor, line_notice, upstream_mfa: the reason code "
                        "the login audits (X3); done: why no second factor of ours is needed."
                    ),
                },
                "detail": {
                    "type": ["string", "null"],
                    "description": (
                        "identify: the login method; second_factor: enroll or challenge."
                    ),
                },
            },
            "additionalProperties": False,
        },
        "WhatIf": {
            "type": "object",
            "required": ["steps", "line", "line_registered", "remembered_browser"],
            "properties": {
                "steps": {
                    "type": "array",
                    "minItems": 2,
                    "items": {"$ref": "#/components/schemas/WhatIfStep"},
                    "description": "In order: identify first, refused or done last.",
                },
                "line": {
                    "type": ["string", "null"],
                    "description": "The line as registered; null for the internet.",
                },
                "line_registered": {"type": "boolean"},
                "remembered_browser": {
                    "type": ["object", "null"],
                    "description": (
                        "The remembered browser assumed (null: a new browser; id null: none "
                        "on record, one remembered now)."
                    ),
                    "required": ["id", "remembered_at", "last_used_at"],
                    "properties": {
                        "id": {"type": ["string", "null"]},
                        "remembered_at": TIME,
                        "last_used_at": TIME,
                    },
                },
            },
            "additionalProperties": False,
        },
        "Problem": {
            "type": "object",
            "description": "RFC 9457 problem details.",
            "required": ["type", "title", "status"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer"},
                "detail": {"type": "string"},
                "reason": {
                    "type": "string",
                    "description": "For 403 `forbidden`: the rule's reason code (G4, G8).",
                },
            },
        },
        "RoleChange": {
            "type": "object",
            "required": ["role"],
            "properties": {"role": {"enum": [Role.ADMIN.value, Role.USER.value]}},
            "additionalProperties": False,
        },
        "Role": {
            "type": "object",
            "required": ["id", "role"],
            "properties": {"id": {"type": "string"}, "role": {"enum": [r.value for r in Role]}},
        },
        "ChangeLinkRequest": {
            "type": "object",
            "description": (
                "M2: without `email`, or with the user's own, a login-method change link goes "
                "to the user; with a new address, an email-change link goes to that address."
            ),
            "properties": {"email": {"type": ["string", "null"], **SHORT_TEXT}},
            "additionalProperties": False,
        },
        "ChangeLinkSent": {
            "type": "object",
            "required": ["sent"],
            "properties": {"sent": {"enum": ["method_change", "email_change"]}},
        },
        "InvitationRequest": {
            "type": "object",
            "required": ["email"],
            "properties": {
                "email": {"type": "string", **SHORT_TEXT},
                "name": {"type": ["string", "null"], **SHORT_TEXT},
                "role": {"enum": [Role.USER.value, Role.ADMIN.value, None], "default": "user"},
                "locale": {"enum": ["ja", "en", None], "default": "ja"},
            },
            "additionalProperties": False,
        },
        "InvitationJob": {
            "type": "object",
            "required": ["id", "status", "total", "done", "failed", "created_at", "errors"],
            "properties": {
                "id": {"type": "string"},
                "status": {"enum": ["queued", "running", "finished"]},
                "total": {"type": "integer", "description": "Data rows in the file."},
                "done": {
                    "type": "integer",
                    "description": "Rows with their final result (invited, already, refused).",
                },
                "failed": {"type": "integer", "description": "Rows not invited."},
                "created_at": TIME,
                "finished_at": OPTIONAL_TIME,
                "errors": {
                    "type": "array",
                    "description": "The rows not invited, in file order (the first 1,000).",
                    "items": {
                        "type": "object",
                        "required": ["line", "email", "reason", "detail"],
                        "properties": {
                            "line": {"type": "integer", "description": "The header is line 1."},
                            "email": {"type": "string"},
                            "reason": {"type": "string"},
                            "detail": {"type": "string"},
                        },
                    },
                },
                "errors_truncated": {"type": "boolean"},
            },
        },
        "Invitation": {
            "type": "object",
            "required": ["id", "user_id"],
            "properties": {"id": {"type": "string"}, "user_id": {"type": "string"}},
        },
    }


def _flag(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"enum": ["true", "false"]},
    }


def document() -> dict[str, Any]:
    issuer = extensions.settings().issuer
    read = [{"admin": [READ]}]
    errors = {"400": PROBLEM, "401": PROBLEM, "403": PROBLEM}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "WORKSDRIVE identity provider — admin API",
            "version": "1",
            "description": (
                "The operations of the admin console for one contract (G7). Authorise with an "
                "access token of a service client of that contract, obtained by the "
                "client-credentials grant at the token endpoint. Errors are RFC 9457 problem "
                "details. A service client has no person behind it: it acts as the "
                "contractor's delegate on every user but the contractor, whose account it "
                "never touches (G4: 403 `forbidden`, reason `target_contractor`)."
            ),
        },
        "servers": [{"url": f"{issuer}{PREFIX}"}],
        "components": {
            "securitySchemes": {
                "admin": {
                    "type": "oauth2",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": f"{issuer}/token",
                            "scopes": {
                                READ: "Read the contract's users and settings.",
                                WRITE: "Change the contract's users and settings.",
                            },
                        }
                    },
                }
            },
            "schemas": _schemas(),
            "responses": {
                "Problem": {
                    "description": "A problem (RFC 9457).",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Problem"}
                        }
                    },
                }
            },
        },
        "paths": {
            "/users": {
                "get": {
                    "operationId": "listUsers",
                    "summary": "One page of the contract's users (G2, keyset paging).",
                    "security": read,
                    "parameters": [
                        {
                            "name": "search",
                            "in": "query",
                            "description": "Part of the name or email (width and case ignored).",
                            "schema": {
                                "type": "string",
                                "maxLength": MAX_SEARCH_LENGTH,
                                "pattern": NO_NUL,
                            },
                        },
                        {
                            "name": "method",
                            "in": "query",
                            "schema": {"enum": [m.value for m in LoginMethod]},
                        },
                        {
                            "name": "role",
                            "in": "query",
                            "schema": {"enum": [r.value for r in Role]},
                        },
                        _flag("locked", "Locked accounts (K1) or the others."),
                        _flag("two_factor_enrolled", "Enrolled in 2FA or not."),
                        _flag("invited", "Invited and not registered yet, or the others."),
                        _flag("disabled", "Disabled by an administrator (G4), or the others."),
                        {
                            "name": "sort",
                            "in": "query",
                            "schema": {"enum": [s.value for s in UserSort], "default": "email"},
                        },
                        {
                            "name": "order",
                            "in": "query",
                            "schema": {"enum": ["asc", "desc"], "default": "asc"},
                        },
                        {
                            "name": "cursor",
                            "in": "query",
                            "description": "`next_cursor` of the page before.",
                            "schema": {"type": "string", "minLength": 1, "maxLength": 1000},
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_PAGE_SIZE,
                                "default": 50,
                            },
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of users.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/UserPage"}
                                }
                            },
                        },
                        **errors,
                    },
                }
            },
            **_operations(),
            **_invitation_jobs(read),
            "/users/{user_id}": {
                "delete": _operation(
                    "deleteUser",
                    "Delete the user after ending every session and token (G4, X7).",
                    "Deleted.",
                ),
                "get": {
                    "operationId": "getUser",
                    "summary": "One user of the contract (G2); another contract's is 404 (G8).",
                    "security": read,
                    "parameters": [
                        {
                            "name": "user_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": {
                            "description": "The user.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/UserDetail"}
                                }
                            },
                        },
                        "404": PROBLEM,
                        **errors,
                    },
                },
            },
            "/users/{user_id}/what-if": {"get": _what_if_operation(read, errors)},
            **_audit_operations(read, errors),
        },
    }


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def _what_if_operation(read: list[Any], errors: dict[str, Any]) -> dict[str, Any]:
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


def _audit_operations(read: list[Any], errors: dict[str, Any]) -> dict[str, Any]:
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


def _operation(
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


def _operations() -> dict[str, Any]:
    """G4, G3, M2: the per-user operations and invitations (scope admin:write)."""
    invitation_id = {**USER_ID, "name": "invitation_id"}
    return {
        "/users/{user_id}/unlock": {
            "post": _operation("unlockUser", "Unlock the account (K1, G4).", "Unlocked.")
        },
        "/users/{user_id}/reset-two-factor": {
            "post": _operation(
                "resetTwoFactor",
                "Reset the 2FA registration and the remembered browsers (T2, X2).",
                "Reset; the next sign-in enrolls again.",
            )
        },
        "/users/{user_id}/sign-out": {
            "post": _operation(
                "signOutEverywhere",
                "End every session and token; relying parties are told (X2, X7).",
                "Signed out everywhere.",
            )
        },
        "/users/{user_id}/disable": {
            "post": _operation(
                "disableUser",
                "Disable the account: no sign-in; every session and token ends (G4, X7).",
                "Disabled.",
            )
        },
        "/users/{user_id}/enable": {
            "post": _operation("enableUser", "Let a disabled user sign in again (G4).", "Enabled.")
        },
        "/users/{user_id}/role": {
            "put": _operation(
                "setRole",
                "Grant or revoke the admin privilege (G4; never the contractor's role).",
                "The user's role now.",
                body="RoleChange",
                answer=("200", "Role"),
            )
        },
        "/users/{user_id}/change-link": {
            "post": _operation(
                "sendChangeLink",
                "M2's email change screen: a method-change or an email-change link.",
                "The link was mailed.",
                body="ChangeLinkRequest",
                answer=("202", "ChangeLinkSent"),
            )
        },
        "/invitations": {
            "post": {
                **_operation(
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
            "delete": _operation(
                "revokeInvitation",
                "Withdraw a pending invitation; the invited user goes with it (G3).",
                "Revoked.",
                path_parameter=invitation_id,
            )
        },
        "/invitations/{invitation_id}/resend": {
            "post": _operation(
                "resendInvitation",
                "A new registration link; older ones are void (G3).",
                "Resent.",
                path_parameter=invitation_id,
            )
        },
    }


def _invitation_jobs(read: list[dict[str, list[str]]]) -> dict[str, Any]:
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


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())
