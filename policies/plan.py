"""C1–C3: the trial, the 15-day plan-change window after it, and cancellation.

Pure functions over :class:`ContractState` with ``now`` passed in (STYLE.md §4). The trial
runs over ``[start, start + 30 days)``; the plan-change window runs from the trial's end up
to and including ``end + 15 days`` (SPEC: "until 15 days after it ended"); after that the
contract is closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from policies.decision import ALLOW
from policies.decision import Decision
from policies.decision import deny
from policies.vocabulary import ContractStatus
from policies.vocabulary import Plan
from policies.vocabulary import Role

#: SPEC Words, C1: a trial lasts 30 days and then ends by itself.
TRIAL_LENGTH = timedelta(days=30)
#: C1, C2: the contractor may still change the plan to basic for 15 days after the trial.
PLAN_CHANGE_WINDOW = timedelta(days=15)


@dataclass(frozen=True)
class ContractState:
    """What the contract rules need to know about a contract."""

    plan: Plan
    status: ContractStatus
    #: When the trial started; None for a contract that never was a trial.
    trial_started_at: datetime | None


def trial_ends_at(contract: ContractState) -> datetime | None:
    """C1: the moment a trial ends by itself (30 days after it started); None when the
    contract is not (or no longer) on ``trial``."""
    if contract.plan != Plan.TRIAL or contract.trial_started_at is None:
        return None
    return contract.trial_started_at + TRIAL_LENGTH


def plan_change_deadline(contract: ContractState) -> datetime | None:
    """C1/C2: the last moment the contractor may change an ended trial to ``basic``."""
    ends_at = trial_ends_at(contract)
    return None if ends_at is None else ends_at + PLAN_CHANGE_WINDOW


def is_trial_over(contract: ContractState, now: datetime) -> bool:
    """C1: a trial ends by itself 30 days after it started."""
    ends_at = trial_ends_at(contract)
    return ends_at is not None and now >= ends_at


def is_closed_after_trial(contract: ContractState, now: datetime) -> bool:
    """C1: the trial ended and its 15-day plan-change window has passed too."""
    deadline = plan_change_deadline(contract)
    return deadline is not None and now > deadline


def check_plan_change(
    contract: ContractState, role: Role, new_plan: Plan, now: datetime
) -> Decision:
    """C2: the contractor changes ``trial`` to ``basic`` during the trial or the 15-day
    window after it; no other change exists (a basic contract is cancelled instead, C3)."""
    if role != Role.CONTRACTOR:
        return deny("not_contractor")
    if contract.status != ContractStatus.ACTIVE:
        return deny("contract_inactive")
    if contract.plan != Plan.TRIAL or new_plan != Plan.BASIC:
        return deny("no_such_plan_change")
    if is_closed_after_trial(contract, now):
        return deny("contract_closed")
    return ALLOW


def check_cancellation(contract: ContractState, role: Role) -> Decision:
    """C3: the contractor cancels a ``basic`` contract; a trial cannot be cancelled by hand
    (it ends by itself, C1)."""
    if role != Role.CONTRACTOR:
        return deny("not_contractor")
    if contract.status != ContractStatus.ACTIVE:
        return deny("contract_inactive")
    if contract.plan != Plan.BASIC:
        return deny("trial_cannot_be_cancelled")
    return ALLOW
