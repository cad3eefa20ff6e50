"""Imports run one way (DESIGN.md "Inside idp/"): surfaces → domain → rules/models/store.

Checked on the source (every import, also those inside functions): the login surface never
imports the OIDC surface (the OIDC endpoints call the login, not the other way), the SSO
domain module imports no surface, and within the login a broker's module registers itself
instead of being imported by brokered.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


#: Surface packages: thin views and commands over the domain (DESIGN.md "Inside idp/").
SURFACES = (
    "idp.oidc",
    "idp.login",
    "idp.links",
    "idp.accounts",
    "idp.account_menu",
    "idp.admin",
    "idp.cli",
    "idp.demo",
    "idp.web",
    "idp.home",
    "idp.footer",
    "idp.scim",
)
#: Domain modules and packages.
DOMAIN = (
    "idp/users/**/*.py",
    "idp/contracts/**/*.py",
    "idp/clients.py",
    "idp/sso.py",
    "idp/maintenance.py",
    "idp/twofactor/**/*.py",
    "idp/store/**/*.py",
    "idp/audit.py",
    "idp/audit_log.py",
    "idp/audit_chain/**/*.py",
    "idp/backchannel/**/*.py",
)


def _sources(pattern: str) -> list[Path]:
    return sorted(ROOT.glob(pattern))


@pytest.mark.parametrize(
    ("pattern", "forbidden"),
    [
        ("idp/login/**/*.py", ("idp.oidc",)),
        ("idp/sso.py", ("idp.oidc", "idp.login")),
        ("idp/login/brokered.py", ("idp.login.active_directory",)),
        ("policies/*.py", ("idp", "flask", "sqlalchemy", "redis")),
        # The domain never imports a surface (the surfaces call it).
        *((domain, SURFACES) for domain in DOMAIN),
    ],
)
def test_imports_run_one_way(pattern, forbidden):
    files = _sources(pattern)
    assert files, pattern
    offending = sorted(
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in imported_modules(path)
        if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
    )
    assert offending == []
