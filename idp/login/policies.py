"""Policies step: contract state and plan, lockout, target permission, applied in order
after every identification (DESIGN.md step 3). Access route joins with line authentication."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

from idp.models import Contract
from idp.models import User
from idp.models import db
from policies.contract import ContractState
from policies.contract import check_contract
from policies.decision import ALLOW
from policies.decision import Decision
from policies.decision import deny


def apply_policies(user: User, target: str) -> Decision:
    now = datetime.now(UTC)
    contract = db.session.get(Contract, user.contract_id)
    if contract is None:
        return deny("contract_missing")
    started = contract.trial_started_at
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    decision = check_contract(ContractState(contract.plan, contract.status, started), now)
    if not decision.is_allowed:
        return decision
    if user.locked_at is not None:
        return deny("locked")
    return ALLOW
