"""X8: the sealer runs off the request thread, shortly after audit events are committed
(:data:`SEAL_DELAY`, a quarter of a second, so that a busy moment's events share one run).

``audit.record`` marks the session (:func:`mark_unsealed`); after that session commits,
:class:`Sealer` is asked to seal. Requests coalesce: while a seal is waiting to start, more
requests add nothing, so a burst of events is sealed by one run (and events committed while a
run is under way by one more). One worker per process; several processes or nodes may seal at
once, the chain's lock keeps them apart. (``trigger`` wires it to the commits; this module
does not import ``idp.extensions``, which names the class.)"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from idp.audit_chain.seal import seal_all
from idp.background import BackgroundJobs
from idp.models import db

log = logging.getLogger("idp.audit")

#: ``Session.info`` key: this transaction wrote audit events.
UNSEALED = "idp.audit_unsealed"
#: Seconds a requested seal waits before it starts, so that the events of a busy moment are
#: chained by one run (issue 13: sealing each token grant's event alone cost about a third
#: as much CPU as the grant itself). :meth:`Sealer.wait_idle` cuts the wait short.
SEAL_DELAY = 0.25


class Sealer:
    def __init__(self, delay: float = SEAL_DELAY) -> None:
        self._jobs = BackgroundJobs("audit-seal", log, workers=1)
        self._lock = threading.Lock()
        self._waiting = False
        self._delay = delay
        self._hurry = threading.Event()

    def request(self, app: Flask) -> None:
        """Seal soon, off this thread (once for every request made before it starts)."""
        with self._lock:
            if self._waiting:
                return
            self._waiting = True
        self._jobs.submit(app, self._run)

    def _run(self) -> None:
        self._hurry.wait(self._delay)  # more events join this run meanwhile
        with self._lock:
            self._waiting = False  # what is committed from now on needs another run
        seal_all()

    def wait_idle(self, timeout: float = 30) -> None:
        """Block until every requested seal has run, without its delay (CLI, tests)."""
        self._hurry.set()
        try:
            self._jobs.wait_idle(timeout)
        finally:
            self._hurry.clear()


def mark_unsealed() -> None:
    """The current transaction writes audit events: seal after it commits."""
    db.session.info[UNSEALED] = True
