"""The admission rule of a worker that serves one request at a time (gunicorn's ``sync``
worker, ``idp serve``'s default; issue 13, "Speed": no error under twice the saturating
load).

Such a worker has no queue of its own: requests wait in the kernel's accept queue of the
listening socket, shared by the node's workers, where no one can answer them. What the
worker can know is how long the request it has just taken waited there: the kernel's
``TCP_INFO`` of the accepted connection says how long ago its last bytes arrived
(:func:`idp.admission.waited_seconds`). A request that waited past its budget is refused at
once with ``503`` and ``Retry-After``; answering it costs a fraction of serving it, so the
queue drains instead of growing until clients time out.

The budget follows CoDel (RFC 8289 §3), as the threaded gate of :mod:`idp.admission.gate`:

- a request may have waited ``wait`` seconds (the CoDel interval) while no queue stands;
- when every request taken for ``wait`` seconds had waited at least ``target``, the queue
  stands (the load is past what the workers can serve, not a burst), and a request may have
  waited ``target`` only, until one is taken that waited less;
- a request may also have waited ``target`` only for ``wait`` seconds after a refusal. A
  kernel queue is first in, first out (the adaptive LIFO of the threaded gate has no
  counterpart here): under sustained overload the refusals empty it in bursts, so a request
  that waited less than ``target`` is seen now and then and the queue never "stands" — but
  every request served would have waited up to ``wait``. In a bench at 2x, that was a
  median of 536 ms. No I/O and no clock of its own: every step takes ``now`` (monotonic
seconds), so that a test moves the clock."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from idp.admission.gate import Outcome


@dataclass(frozen=True)
class WaitRule:
    #: Seconds a request may have waited while no queue stands (the CoDel interval).
    wait: float
    #: Seconds a request may have waited once the queue has stood for ``wait`` seconds.
    target: float


class WaitGate:
    """The state of one worker: since when every request it took had waited ``target`` or
    more, and when it last refused one. Safe from any thread."""

    def __init__(self, rule: WaitRule) -> None:
        self.rule = rule
        self._lock = threading.Lock()
        self._above_since: float | None = None
        self._refused_at: float | None = None

    def is_standing(self, now: float) -> bool:
        above_since = self._above_since
        return above_since is not None and now - above_since >= self.rule.wait

    def is_tight(self, now: float) -> bool:
        """Whether a request may have waited ``target`` only: the queue stands, or a request
        was refused in the last ``wait`` seconds."""
        refused_at = self._refused_at
        recent = refused_at is not None and now - refused_at < self.rule.wait
        return recent or self.is_standing(now)

    def admit(self, waited: float, now: float) -> Outcome:
        """A request taken at ``now`` had waited ``waited`` seconds: admitted or refused
        (:attr:`Outcome.WAITED`)."""
        with self._lock:
            if waited < self.rule.target:
                self._above_since = None  # the queue was short again: no standing queue
                return Outcome.ADMITTED
            if self._above_since is None:
                self._above_since = now
            budget = self.rule.target if self.is_tight(now) else self.rule.wait
            if waited <= budget:
                return Outcome.ADMITTED
            self._refused_at = now
            return Outcome.WAITED
