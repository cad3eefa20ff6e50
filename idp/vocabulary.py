"""SPEC's words for the application (DESIGN.md "Inside idp/"): import them from here.

They are defined in ``policies/vocabulary.py`` because the pure rules use them too and
``policies/`` imports no application code (STYLE.md §4); imports run surfaces → domain →
rules.
"""

from __future__ import annotations

from policies.vocabulary import AccessRoute
from policies.vocabulary import ContractStatus
from policies.vocabulary import LoginMethod
from policies.vocabulary import MenuItem
from policies.vocabulary import Plan
from policies.vocabulary import Role
from policies.vocabulary import Target

__all__ = [
    "AccessRoute",
    "ContractStatus",
    "LoginMethod",
    "MenuItem",
    "Plan",
    "Role",
    "Target",
]
