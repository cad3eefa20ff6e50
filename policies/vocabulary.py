"""SPEC's words (SPEC.md "Words", U1) as ``StrEnum``s, never bare strings.

The values are the strings the database and the login transaction store today, so a member
compares equal to the stored string (``Plan.TRIAL == "trial"``) and ``Plan(row.plan)`` reads
one back. They live here, at the bottom of the import graph, because ``policies/`` may not
import ``idp`` (whose package import loads Flask and SQLAlchemy); ``idp/vocabulary.py``
re-exports them for the rest of the application.
"""

from __future__ import annotations

from enum import StrEnum


class Plan(StrEnum):
    """A contract's plan (SPEC Words, C1–C3)."""

    BASIC = "basic"
    TRIAL = "trial"


class ContractStatus(StrEnum):
    """``contracts.status``: ``cancelled`` after C3."""

    ACTIVE = "active"
    CANCELLED = "cancelled"


class Role(StrEnum):
    """``users.role``: the contractor owns the contract; admins hold the admin privilege;
    everyone else is a user (SPEC Words)."""

    CONTRACTOR = "contractor"
    ADMIN = "admin"
    USER = "user"


class LoginMethod(StrEnum):
    """``users.login_method``: exactly one per user at a time (SPEC Words). The upstream ones
    are also the brokers' names and ``upstream_identities.provider``."""

    PASSWORD = "password"
    GOOGLE = "google"
    FACEBOOK = "facebook"
    MICROSOFT = "microsoft"
    DACCOUNT = "daccount"
    AD = "ad"


class AccessRoute(StrEnum):
    """``contracts.access_route``, contract-wide (A1)."""

    LINE_AND_INTERNET = "line+internet"
    LINE_ONLY = "line-only"


class Target(StrEnum):
    """What a sign-in is for (the login transaction's ``target``): the storage frontend, or
    the account menu's own login page (U1); and what a session is used for (the console)."""

    FRONTEND = "frontend"
    ACCOUNT_MENU = "account"
    #: G1: the admin console, reached with a session of the account menu's sign-in but held
    #: to the contract's rules without the contractor's A3/C1 exceptions.
    ADMIN_CONSOLE = "admin"


class MenuItem(StrEnum):
    """The account menu's items (U1), in the order U1 lists them, with X2's sessions and
    browsers beside the password change."""

    LOGIN_METHOD = "login_method"
    EMAIL_CHANGE = "email_change"
    PASSWORD_CHANGE = "password_change"
    #: X2, X7: the person's own sessions and remembered browsers (not one of U2's rows).
    SESSIONS = "sessions"
    ACCESS_ROUTE = "access_route"
    TWO_FACTOR = "two_factor"
    AD_SETTING = "ad_setting"
    CONTRACT_INFORMATION = "contract_information"
    PLAN_CHANGE = "plan_change"
    CANCELLATION = "cancellation"
    TOP = "top"
