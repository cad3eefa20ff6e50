"""C1, C3: whether a contract's user may sign in at all, for the frontend or the account menu."""

from __future__ import annotations

from datetime import datetime

from policies.decision import ALLOW
from policies.decision import Decision
from policies.decision import deny
from policies.plan import TRIAL_LENGTH
from policies.plan import ContractState
from policies.plan import is_closed_after_trial
from policies.plan import is_trial_over
from policies.vocabulary import ContractStatus
from policies.vocabulary import Role
from policies.vocabulary import Target

__all__ = ["TRIAL_LENGTH", "ContractState", "check_contract", "is_trial_over"]


def check_contract(contract: ContractState, role: Role, target: Target, now: datetime) -> Decision:
    """C3: a cancelled contract refuses every sign-in (``contract_inactive``).
    C1: once a trial has ended nobody signs in to the frontend (``trial_ended``), but the
    contractor may still sign in to the account menu during the 15-day plan-change window;
    after that window the contract is closed to everyone (``contract_closed``)."""
    if contract.status != ContractStatus.ACTIVE:
        return deny("contract_inactive")
    if not is_trial_over(contract, now):
        return ALLOW
    if is_closed_after_trial(contract, now):
        return deny("contract_closed")
    if role == Role.CONTRACTOR and target == Target.ACCOUNT_MENU:
        return ALLOW
    return deny("trial_ended")
