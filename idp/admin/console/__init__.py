"""G1–G6, M2: the admin console at ``<issuer>/admin``, one module per page; every view is
guarded by ``@console_page()`` (:mod:`idp.admin.console.guard`). Its sign-in is the account
menu's (``/account/login``, the login transaction with every policy of the contract)."""

from __future__ import annotations

from idp.admin.console import audit as audit
from idp.admin.console import email_change as email_change
from idp.admin.console import invitation_jobs as invitation_jobs
from idp.admin.console import invitations as invitations
from idp.admin.console import lines as lines
from idp.admin.console import route as route
from idp.admin.console import user_actions as user_actions
from idp.admin.console import user_detail as user_detail
from idp.admin.console import users as users
from idp.admin.console import what_if as what_if
from idp.admin.console.guard import bp as bp

__all__ = ["bp"]
