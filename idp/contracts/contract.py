"""The contract itself: add, find, and its settings (T1 two-step verification, A1 route)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

from idp import audit
from idp.actor import Actor
from idp.errors import NotFoundError
from idp.errors import ProvisioningError
from idp.models import Contract
from idp.models import db
from idp.vocabulary import AccessRoute
from idp.vocabulary import ContractStatus
from idp.vocabulary import Plan
from policies.plan import ContractState


def get_contract(contract_id: str) -> Contract:
    """The contract, or ``NotFoundError``."""
    contract = db.session.get(Contract, contract_id)
    if contract is None:
        raise NotFoundError(f"no contract {contract_id}")
    return contract


def contract_state(contract: Contract) -> ContractState:
    """What the rules of ``policies/`` (C1–C3, U2) know of ``contract``."""
    started = contract.trial_started_at
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=UTC)  # SQLite hands back naive datetimes
    return ContractState(Plan(contract.plan), ContractStatus(contract.status), started)


@audit.change("contract_add")
def add_contract(
    actor: Actor,
    name: str,
    plan: str = Plan.BASIC,
    two_factor: bool = True,
    access_route: str = AccessRoute.LINE_AND_INTERNET,
) -> Contract:
    """A new contract; a trial starts now (C1). Two-step verification is on unless the
    caller turns it off explicitly (T3)."""
    if plan not in set(Plan):
        raise ProvisioningError(f"unknown plan {plan}")
    if access_route not in set(AccessRoute):
        raise ProvisioningError(f"unknown access route {access_route}")
    now = datetime.now(UTC)
    contract = Contract(
        two_factor_enabled_at=now if two_factor else None,
        name=name,
        plan=plan,
        two_factor=two_factor,
        access_route=access_route,
        trial_started_at=now if plan == Plan.TRIAL else None,
    )
    db.session.add(contract)
    db.session.commit()
    audit.record(
        "contract_add",
        "ok",
        None,
        contract_id=contract.id,
        actor=actor,
        details={"plan": plan, "two_factor": two_factor, "access_route": access_route},
    )
    return contract


@audit.change("two_factor_setting")
def set_two_factor(actor: Actor, contract_id: str, on: bool) -> Contract:
    """T1 (the rule; its page comes with the account menu): turning 2FA on again voids every
    browser remembered before (L3)."""
    contract = get_contract(contract_id)
    if on and not contract.two_factor:
        contract.two_factor_enabled_at = datetime.now(UTC)
    contract.two_factor = on
    db.session.commit()
    audit.record(
        "two_factor_setting",
        "ok",
        None,
        contract_id=contract_id,
        actor=actor,
        details={"two_factor": on},
    )
    return contract


@audit.change("access_route_setting")
def set_access_route(actor: Actor, contract_id: str, route: str) -> Contract:
    """A1: ``line+internet`` or ``line-only``; internet sessions end at their next refresh."""
    if route not in set(AccessRoute):
        raise ProvisioningError(f"unknown access route {route}")
    contract = get_contract(contract_id)
    contract.access_route = route
    db.session.commit()
    audit.record(
        "access_route_setting",
        "ok",
        None,
        contract_id=contract_id,
        actor=actor,
        details={"access_route": route},
    )
    return contract
