"""The ``claims`` authorization parameter (OIDC Core §5.5): its shape, checked without an app.

Parsed here, below ``idp/``, because both the login (which acr a relying party asks for,
``policies/assurance.py``) and the OIDC endpoints (which claims it asks for) read it."""

from __future__ import annotations

import json
from typing import Any

#: The members of the ``claims`` object we read (OIDC Core §5.5).
CLAIMS_MEMBERS = ("id_token", "userinfo")


class ClaimsRequestError(ValueError):
    """The ``claims`` parameter is not a JSON object of the form OIDC Core §5.5 gives."""


def parse_claims_request(raw: str | None) -> dict[str, dict[str, Any]]:
    """Parse and check the ``claims`` parameter.

    :returns: ``{"id_token": {...}, "userinfo": {...}}``, the members that were given.
    :raises ClaimsRequestError: not JSON, not an object, or a member not of §5.5's form.
    """
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as error:  # RecursionError: nested too deeply
        raise ClaimsRequestError("claims is not valid JSON") from error
    if not isinstance(value, dict):
        raise ClaimsRequestError("claims must be a JSON object")
    parsed: dict[str, dict[str, Any]] = {}
    for member in CLAIMS_MEMBERS:
        section = value.get(member)
        if section is None:
            continue
        if not isinstance(section, dict) or not all(
            v is None or isinstance(v, dict) for v in section.values()
        ):
            raise ClaimsRequestError(f"claims.{member} must map claim names to null or objects")
        parsed[member] = section
    return parsed
