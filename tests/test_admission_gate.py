"""The admission rule of a worker (issue 13, "Speed": no error under twice the saturating
load; idp/admission/gate.py), with a moved clock: who is admitted, who waits and for how
long, who is refused, and who goes first when a place is freed."""

from __future__ import annotations

import pytest

from idp.admission.gate import AdmissionRule
from idp.admission.gate import Gate
from idp.admission.gate import Outcome

RULE = AdmissionRule(limit=2, queue=3, wait=0.5, target=0.05)


def test_below_the_limit_every_request_is_admitted_at_once():
    gate = Gate(RULE, now=0.0)
    for second in range(100):
        first, second_one = gate.enter(second), gate.enter(second)
        assert (first.outcome, second_one.outcome) == (Outcome.ADMITTED, Outcome.ADMITTED)
        gate.leave(second + 0.1)
        gate.leave(second + 0.1)
    assert (gate.active, gate.waiting) == (0, 0)


def test_past_the_limit_requests_wait_then_a_full_queue_refuses_at_once():
    gate = Gate(RULE, now=0.0)
    assert [gate.enter(0.0).outcome for _ in range(2)] == [Outcome.ADMITTED] * 2
    waiting = [gate.enter(0.0) for _ in range(3)]
    assert [t.outcome for t in waiting] == [Outcome.WAITING] * 3
    assert waiting[0].deadline == pytest.approx(0.5)
    assert gate.enter(0.0).outcome is Outcome.QUEUE_FULL
    assert (gate.active, gate.waiting) == (2, 3)


def test_a_request_that_waited_its_budget_is_refused_and_leaves_the_queue():
    gate = Gate(RULE, now=0.0)
    gate.enter(0.0), gate.enter(0.0)
    ticket = gate.enter(0.1)
    assert ticket.deadline == pytest.approx(0.6)
    assert gate.give_up(ticket, 0.6) is Outcome.WAITED
    assert gate.waiting == 0
    gate.leave(0.7)
    assert gate.active == 1


def test_a_freed_place_goes_to_the_oldest_waiter_while_no_queue_stands():
    gate = Gate(RULE, now=0.0)
    gate.enter(0.0), gate.enter(0.0)
    older, newer = gate.enter(0.0), gate.enter(0.1)
    gate.leave(0.2)
    assert older.event.is_set() and older.outcome is Outcome.ADMITTED
    assert not newer.event.is_set()
    # Its wake-up came after its deadline: the place handed to it stays its own.
    assert gate.give_up(older, 0.9) is Outcome.ADMITTED
    assert gate.active == 2


def test_a_standing_queue_shortens_the_wait_and_serves_the_newest_first():
    """CoDel's test: the queue has not been empty for the interval (0.5 s) -> the load is
    past capacity, not a burst: a new request may wait ``target`` only, and LIFO."""
    gate = Gate(RULE, now=0.0)
    gate.enter(0.0), gate.enter(0.0)
    oldest = gate.enter(1.0)
    assert oldest.deadline == pytest.approx(1.5)
    assert not gate.is_standing(1.4)
    assert gate.is_standing(1.5)
    newest = gate.enter(1.5)
    assert newest.deadline == pytest.approx(1.55)
    gate.leave(1.52)
    assert newest.outcome is Outcome.ADMITTED and newest.event.is_set()
    assert oldest.outcome is Outcome.WAITING
    assert gate.give_up(oldest, 1.53) is Outcome.WAITED
    # The queue emptied at 1.53: a new wait is a burst again, with the whole budget.
    gate.leave(1.6)
    gate.enter(1.6)
    again = gate.enter(1.7)
    assert again.deadline == pytest.approx(2.2)


def test_limit_zero_admits_everything():
    gate = Gate(AdmissionRule(limit=0, queue=0, wait=0.5, target=0.05), now=0.0)
    assert [gate.enter(0.0).outcome for _ in range(50)] == [Outcome.ADMITTED] * 50
    gate.leave(1.0)


def test_queue_zero_refuses_past_the_limit_without_waiting():
    gate = Gate(AdmissionRule(limit=1, queue=0, wait=0.5, target=0.05), now=0.0)
    assert gate.enter(0.0).outcome is Outcome.ADMITTED
    assert gate.enter(0.0).outcome is Outcome.QUEUE_FULL
    gate.leave(0.1)
    assert gate.enter(0.1).outcome is Outcome.ADMITTED
