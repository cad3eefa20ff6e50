"""G7: the admin API's OpenAPI 3.1 document, served at ``<prefix>/openapi.json``. A test
compares it with the routes the blueprint serves and checks every answer against it
(tests/test_admin_api.py), so that the document cannot drift from the API."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import jsonify

from idp import extensions
from idp.admin.api.auth import READ
from idp.admin.api.auth import WRITE
from idp.admin.api.blueprint import PREFIX
from idp.admin.api.blueprint import bp
from idp.admin.api.openapi_paths import audit_operations
from idp.admin.api.openapi_paths import invitation_jobs
from idp.admin.api.openapi_paths import operation
from idp.admin.api.openapi_paths import operations
from idp.admin.api.openapi_paths import what_if_operation
from idp.admin.api.openapi_schemas import NO_NUL
from idp.admin.api.openapi_schemas import PROBLEM
from idp.admin.api.openapi_schemas import schemas
from idp.users.listing import MAX_PAGE_SIZE
from idp.users.listing import MAX_SEARCH_LENGTH
from idp.users.listing import UserSort
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role


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
            "schemas": schemas(),
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
            **operations(),
            **invitation_jobs(read),
            "/users/{user_id}": {
                "delete": operation(
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
            "/users/{user_id}/what-if": {"get": what_if_operation(read, errors)},
            **audit_operations(read, errors),
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(document())
