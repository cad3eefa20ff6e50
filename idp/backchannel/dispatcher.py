"""The thread side of delivering logout tokens: a small pool runs deliveries off the request
thread, and while anything is still queued a worker thread retries what is due.

It knows nothing of tokens or tables (``idp.backchannel.delivery`` hands it the two delivery
functions), so ``idp.extensions`` can name its type without an import cycle."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from flask import Flask

from idp.background import BackgroundJobs

log = logging.getLogger("idp.backchannel")


class Dispatcher:
    """Runs deliveries off the request thread (a small pool), and while anything is queued
    a worker thread that retries what is due every ``retry_interval`` seconds."""

    def __init__(
        self,
        retry_interval: int,
        deliver: Callable[[list[str]], int],
        deliver_due: Callable[[], int],
    ) -> None:
        """:param deliver: attempts the given deliveries; returns how many are still queued.
        :param deliver_due: attempts every due delivery; returns how many are still queued."""
        self.retry_interval = retry_interval
        self._deliver = deliver
        self._deliver_due = deliver_due
        self._jobs = BackgroundJobs("backchannel", log)
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._swept = False

    def submit(self, app: Flask, row_ids: list[str]) -> None:
        """Deliver these queued logout tokens now, off the request thread."""
        self._run(app, lambda: self._deliver(row_ids) > 0)

    def sweep_once(self, app: Flask) -> None:
        """Once per process (at its first request): deliver what an earlier run left."""
        if self._swept:
            return
        self._swept = True
        self._run(app, lambda: self._deliver_due() > 0)

    def _run(self, app: Flask, job: Callable[[], bool]) -> None:
        def run() -> None:
            if job():
                self._ensure_worker(app)

        self._jobs.submit(app, run)

    def _ensure_worker(self, app: Flask) -> None:
        if self.retry_interval <= 0:
            return
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                return
            self._worker = threading.Thread(
                target=self._retry_loop, args=(app,), name="backchannel-retry", daemon=True
            )
            self._worker.start()

    def _retry_loop(self, app: Flask) -> None:
        """Retry what is due until nothing is queued; then the thread ends."""
        stop = threading.Event()
        while not stop.wait(self.retry_interval):
            with app.app_context():
                try:
                    if self._deliver_due() == 0:
                        return
                except Exception:  # the next round tries again
                    log.exception("back-channel logout retry failed")

    def wait_idle(self, timeout: float = 30) -> None:
        """Block until every submitted delivery has been attempted (CLI, tests)."""
        self._jobs.wait_idle(timeout)
