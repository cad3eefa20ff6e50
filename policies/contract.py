"""Contract state and plan: whether a contract's users may sign in at all."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from policies.decision import ALLOW
from policies.decision import Decision
from policies.decision import deny

#: SPEC Words: a trial lasts 30 days and then ends by itself.
TRIAL_LENGTH = timedelta(days=30)


@dataclass(frozen=True)
class ContractState:
    plan: str
    status: str
    trial_started_at: datetime | None


def is_trial_over(contract: ContractState, now: datetime) -> bool:
    """A trial ends by itself 30 days after it started."""
    if contract.plan != "trial" or contract.trial_started_at is None:
        return False
    return now >= contract.trial_started_at + TRIAL_LENGTH


def check_contract(contract: ContractState, now: datetime) -> Decision:
    """Sign-in is refused for a cancelled contract and for a trial that has ended."""
    if contract.status != "active":
        return deny("contract_inactive")
    if is_trial_over(contract, now):
        return deny("trial_ended")
    return ALLOW
