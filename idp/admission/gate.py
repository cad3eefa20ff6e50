"""The admission rule of one worker process (issue 13, "Speed": no error under twice the
saturating load): how many requests run in the application at once, how many may wait, and
how long.

A request that cannot be served soon is better refused at once with ``503`` and
``Retry-After`` (which a client can act on) than queued until the client gives up or the
connection resets. The rule is Facebook's "adaptive LIFO + CoDel" for request queues
(Maurer, "Fail at Scale", ACM Queue 13(8), 2015), after CoDel's standing-queue test
(RFC 8289 §3):

- at most ``limit`` requests are in the application at once; the next ones wait, at most
  ``queue`` of them; one more is refused at once;
- a waiting request is refused once it has waited ``wait`` seconds (the CoDel interval);
- when the queue has not been empty for ``wait`` seconds, it stands: the load is past what
  the worker can serve, not a burst. A request arriving then may wait ``target`` seconds
  only, and a freed place goes to the newest waiter (LIFO): it is the one most likely still
  wanted and able to meet its budget, while the oldest, whose clients are likeliest to have
  given up, run out of theirs and are refused. Without a standing queue, FIFO.

No I/O and no clock of its own: every step takes ``now`` (monotonic seconds), so that a test
moves the clock; the caller waits on the ticket's ``event`` for ``deadline - now``."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from dataclasses import field
from enum import StrEnum


class Outcome(StrEnum):
    ADMITTED = "admitted"
    WAITING = "waiting"
    #: Refused because ``queue`` requests were already waiting.
    QUEUE_FULL = "queue_full"
    #: Refused because it waited its whole budget.
    WAITED = "waited"


@dataclass(frozen=True)
class AdmissionRule:
    #: Requests in the application at once (per worker process); 0: no limit.
    limit: int
    #: Requests waiting at most; one more is refused at once.
    queue: int
    #: Seconds a request may wait while no queue stands (the CoDel interval).
    wait: float
    #: Seconds a request may wait once the queue has stood for ``wait`` seconds.
    target: float


@dataclass(eq=False)
class Ticket:
    """One request at the gate; ``event`` is set when a waiting ticket is admitted."""

    outcome: Outcome
    deadline: float = 0.0
    event: threading.Event = field(default_factory=threading.Event, repr=False)


class Gate:
    """The state of one worker's gate; every method is safe from any thread."""

    def __init__(self, rule: AdmissionRule, now: float) -> None:
        self.rule = rule
        self._lock = threading.Lock()
        self._active = 0
        self._waiting: deque[Ticket] = deque()
        #: When the queue was last seen empty (CoDel: a standing queue is one that has not
        #: been empty for an interval).
        self._empty_at = now

    @property
    def active(self) -> int:
        return self._active

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def is_standing(self, now: float) -> bool:
        return bool(self._waiting) and now - self._empty_at >= self.rule.wait

    def enter(self, now: float) -> Ticket:
        """A request arrives: admitted, refused (queue full), or waiting until
        ``ticket.deadline``."""
        with self._lock:
            if self.rule.limit <= 0 or (self._active < self.rule.limit and not self._waiting):
                self._active += 1
                return Ticket(Outcome.ADMITTED)
            if len(self._waiting) >= self.rule.queue:
                return Ticket(Outcome.QUEUE_FULL)
            budget = self.rule.target if self.is_standing(now) else self.rule.wait
            if not self._waiting:
                self._empty_at = now
            ticket = Ticket(Outcome.WAITING, deadline=now + budget)
            self._waiting.append(ticket)
            return ticket

    def give_up(self, ticket: Ticket, now: float) -> Outcome:
        """A waiting request's budget ran out: refused, unless a place was handed to it
        meanwhile (then it is admitted and must ``leave`` as any other)."""
        with self._lock:
            if ticket.outcome is Outcome.ADMITTED:
                return Outcome.ADMITTED
            self._waiting.remove(ticket)
            if not self._waiting:
                self._empty_at = now
            ticket.outcome = Outcome.WAITED
            return Outcome.WAITED

    def leave(self, now: float) -> None:
        """An admitted request is done: its place goes to a waiter (the newest when the
        queue stands, else the oldest), or is freed."""
        with self._lock:
            if self.rule.limit <= 0 or not self._waiting:
                self._active -= 1
                return
            if self.is_standing(now):
                ticket = self._waiting.pop()
            else:
                ticket = self._waiting.popleft()
            if not self._waiting:
                self._empty_at = now
            ticket.outcome = Outcome.ADMITTED
            ticket.event.set()
