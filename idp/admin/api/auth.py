"""G7, G8: who calls the admin API. A bearer access token (RFC 6750 §2.1, header only: a
token in a URL is written into logs) of a service client bound to one contract, with the
admin scope the operation needs; the caller acts on that contract alone."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from typing import TypeVar

from flask import g
from flask import request

from idp.oidc.tokens import find_access_token
from idp.problems import Problem

READ = "admin:read"
WRITE = "admin:write"

View = TypeVar("View", bound=Callable[..., Any])


@dataclass(frozen=True)
class ApiCaller:
    client_id: str
    #: The one contract every operation of this caller is on (G8).
    contract_id: str
    scopes: frozenset[str]


def _challenge(error: str | None = None, scope: str | None = None) -> dict[str, str]:
    # RFC 6750 §3: without credentials, no error code; otherwise the error (and the scope).
    value = 'Bearer realm="admin"'
    if error:
        value += f', error="{error}"'
    if scope:
        value += f', scope="{scope}"'
    return {"WWW-Authenticate": value}


def current_caller(scope: str) -> ApiCaller:
    """The caller of this request, holding ``scope``; a ``Problem`` (401/403) otherwise."""
    header = request.headers.get("Authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        raise Problem(
            401, "unauthorized", "A bearer access token is required.", headers=_challenge()
        )
    issued = find_access_token(token.strip())
    if (
        issued is None
        or issued.is_expired()
        or not issued.is_service
        or issued.contract_id is None
        or issued.is_revoked()
    ):
        raise Problem(
            401,
            "invalid_token",
            "The access token is not valid.",
            headers=_challenge("invalid_token"),
        )
    scopes = frozenset(issued.scope.split())
    if scope not in scopes:
        raise Problem(
            403,
            "insufficient_scope",
            f"The access token lacks the scope {scope}.",
            headers=_challenge("insufficient_scope", scope),
        )
    return ApiCaller(issued.client_id, issued.contract_id, scopes)


def requires(scope: str) -> Callable[[View], View]:
    """The view runs for a caller holding ``scope``; ``g.api_caller`` names it."""

    def decorate(view: View) -> View:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            g.api_caller = current_caller(scope)
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def caller() -> ApiCaller:
    value: ApiCaller = g.api_caller
    return value
