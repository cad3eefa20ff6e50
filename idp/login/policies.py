"""Policies step: contract state and plan (and, with their issues, access route and target
permission), applied after every identification, on every reuse of a session and at every
refresh (DESIGN.md step 3, O2).

The lock (K1) guards password entry and is applied by the identify step: it stops new
sign-ins, while sessions and tokens from before the lock go on (a lock caused by someone
guessing must not sign the real user out)."""

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
    return ALLOW
