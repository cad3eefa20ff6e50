"""The demo's contracts and users: fixed, documented demo values (README "Try the demo"),
created once by ``idp demo`` and restored by ``idp demo --reset``.

The passwords are demo values printed on screen and in the README, never secrets: the demo
runs on 127.0.0.1 with ``IDP_DEV=1``. What each user shows is said on the "try this" sheet
(:mod:`idp.demo.sheet`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from idp.actor import Actor
from idp.vocabulary import AccessRoute
from idp.vocabulary import Role

DEMO_STATE = "demo.json"
DEMO_CLIENT_ID = "worksdrive-frontend"
#: The line the development gateway acts as (A2: CAF + 10 letters or digits), in West Japan
#: so that its first line sign-in shows the line-information notification (L9).
DEMO_LINE = "CAF1234567890"
DEMO_LINE_AREA = "west"
#: The provider and the development gateway share it; a demo value, never a production one.
DEMO_GATEWAY_SECRET = "demo-line-gateway-secret"


@dataclass(frozen=True)
class DemoContract:
    key: str
    name: str
    two_factor: bool
    access_route: str


@dataclass(frozen=True)
class DemoUser:
    key: str
    email: str
    password: str
    name: str
    contract: str
    role: str = Role.USER


CONTRACTS = (
    DemoContract("demo", "Demo contract", False, AccessRoute.LINE_AND_INTERNET),
    DemoContract("two_factor", "Demo contract (2FA on)", True, AccessRoute.LINE_AND_INTERNET),
    DemoContract("line", "Demo contract (line only)", False, AccessRoute.LINE_ONLY),
)
USERS = (
    DemoUser(
        "contractor",
        "contractor@demo.example",
        "Demo-Pass-Keiyaku-1",
        "デモ 契約者",
        "demo",
        Role.CONTRACTOR,
    ),
    DemoUser("user", "user@demo.example", "Demo-Pass-Riyou-2", "デモ 利用者", "demo"),
    DemoUser(
        "two_factor", "twostep@demo.example", "Demo-Pass-TwoStep-3", "デモ 二段階", "two_factor"
    ),
    DemoUser("line", "line@demo.example", "Demo-Pass-Kaisen-4", "デモ 回線", "line"),
)


def state_path(instance_dir: str | Path) -> Path:
    return Path(instance_dir) / DEMO_STATE


def read_state(instance_dir: str | Path) -> dict[str, Any] | None:
    """The demo's ids and URLs (``demo.json``), or None when no demo was prepared here."""
    path = state_path(instance_dir)
    if not path.exists():
        return None
    return dict(json.loads(path.read_text()))


def write_state(instance_dir: str | Path, state: dict[str, Any]) -> None:
    """Keep the state 0600: it holds the demo frontend's client secret."""
    path = state_path(instance_dir)
    path.write_text(json.dumps(state, indent=2))
    os.chmod(path, 0o600)


def prepare_accounts(actor: Actor, state: dict[str, Any]) -> dict[str, Any]:
    """Create whichever demo contract, user or line is missing (a state from an older demo
    is topped up, its users kept); returns the state with every id."""
    from idp.contracts.contract import add_contract
    from idp.contracts.lines import add_line
    from idp.contracts.lines import line_choices
    from idp.users.add import add_user
    from idp.users.find import find_user_by_email

    contracts: dict[str, str] = dict(state.get("contracts") or {})
    if "contract_id" in state:  # the demo before its "try this" sheet had one contract
        contracts.setdefault("demo", state["contract_id"])
    for spec in CONTRACTS:
        if spec.key not in contracts:
            contract = add_contract(actor, spec.name, "basic", spec.two_factor, spec.access_route)
            contracts[spec.key] = contract.id
    if DEMO_LINE not in line_choices(contracts["line"]):
        add_line(actor, contracts["line"], DEMO_LINE)
    users: dict[str, str] = dict(state.get("user_ids") or {})
    for spec_user in USERS:
        if spec_user.key in users:
            continue
        existing = find_user_by_email(spec_user.email)
        if existing is None:
            existing = add_user(
                actor,
                contracts[spec_user.contract],
                spec_user.email,
                spec_user.password,
                name=spec_user.name,
                role=spec_user.role,
            )
        users[spec_user.key] = existing.id
    state.pop("users", None)  # passwords are no longer kept: they are the fixed values above
    state.update(contracts=contracts, user_ids=users)
    return state


def restore_accounts(actor: Actor, state: dict[str, Any]) -> list[str]:
    """``idp demo --reset``: each demo user's password, lock and disabling back to the demo
    values, the demo line's notification choice unasked again; returns what was restored."""
    from idp.contracts.lines import add_line
    from idp.contracts.lines import line_choices
    from idp.contracts.lines import remove_line
    from idp.models import User
    from idp.models import db
    from idp.users.disable import enable_user
    from idp.users.reset import set_new_password

    restored: list[str] = []
    for spec in USERS:
        user = db.session.get(User, state["user_ids"][spec.key])
        if user is None:
            continue  # deleted in the demo: prepare_accounts adds it again
        if user.disabled_at is not None:
            enable_user(actor, user)
            restored.append(f"{user.email}: enabled")
        if not is_demo_password(user, spec.password) or user.locked_at is not None:
            set_new_password(actor, user, spec.password)
            restored.append(f"{user.email}: demo password")
    if line_choices(state["contracts"]["line"]).get(DEMO_LINE):
        remove_line(actor, state["contracts"]["line"], DEMO_LINE)
        add_line(actor, state["contracts"]["line"], DEMO_LINE)
        restored.append(f"{DEMO_LINE}: notification choice not asked yet")
    return restored


def forget_deleted(state: dict[str, Any]) -> dict[str, Any]:
    """Drop the ids of demo users deleted in the demo, so that they are added again."""
    from idp.models import User
    from idp.models import db

    ids = state.get("user_ids") or {}
    state["user_ids"] = {k: v for k, v in ids.items() if db.session.get(User, v) is not None}
    return state


def is_demo_password(user: Any, password: str) -> bool:
    from idp import extensions

    return bool(extensions.passwords().verify(user.password_hash, password))
