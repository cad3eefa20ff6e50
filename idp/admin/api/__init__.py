"""G7: the admin API under ``<issuer>/api/admin/v1/`` — the console's operations as JSON for a
service client of one contract, described by the OpenAPI document it serves."""

from __future__ import annotations

from idp.admin.api import audit
from idp.admin.api import invitation_jobs
from idp.admin.api import openapi
from idp.admin.api import user_operations
from idp.admin.api import users
from idp.admin.api import what_if
from idp.admin.api.blueprint import bp

__all__ = ["audit", "bp", "invitation_jobs", "openapi", "user_operations", "users", "what_if"]
