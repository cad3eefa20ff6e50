"""G7: the components of the admin API's OpenAPI document (idp/admin/api/openapi.py): the
JSON Schemas of every body it answers or takes, and the shapes they share."""

from __future__ import annotations

from typing import Any
from typing import get_args

from idp.admin.api.user_operations import MAX_FIELD
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


def schemas() -> dict[str, Any]:
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
