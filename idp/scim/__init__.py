"""G7: SCIM 2.0 (RFC 7643, RFC 7644) at ``<issuer>/scim/v2`` — a customer's directory
provisions its contract's users with a per-contract bearer token (``idp scim token``)."""

from __future__ import annotations

from idp.scim import discovery
from idp.scim import users
from idp.scim.blueprint import bp

__all__ = ["bp", "discovery", "users"]
