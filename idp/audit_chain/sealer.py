"""X8: the sealer runs off the request thread, shortly after audit events are committed.

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


class Sealer:
    def __init__(self) -> None:
        self._jobs = BackgroundJobs("audit-seal", log, workers=1)
        self._lock = threading.Lock()
        self._waiting = False

    def request(self, app: Flask) -> None:
        """Seal soon, off this thread (once for every request made before it starts)."""
        with self._lock:
            if self._waiting:
                return
            self._waiting = True
        self._jobs.submit(app, self._run)

    def _run(self) -> None:
        with self._lock:
            self._waiting = False  # what is committed from now on needs another run
        seal_all()

    def wait_idle(self, timeout: float = 30) -> None:
        """Block until every requested seal has run (CLI, tests)."""
        self._jobs.wait_idle(timeout)


def mark_unsealed() -> None:
    """The current transaction writes audit events: seal after it commits."""
    db.session.info[UNSEALED] = True
