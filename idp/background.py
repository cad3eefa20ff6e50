"""Jobs off the request thread, in the app context: a small pool that remembers what it has
not finished, so that the CLI and the tests can wait for it (mail, back-channel logout)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait
from typing import ClassVar

from flask import Flask

from idp.outage import outage_of


class BackgroundJobs:
    def __init__(self, name: str, log: logging.Logger, workers: int = 2) -> None:
        self._name = name
        self._log = log
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=name)
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, app: Flask, job: Callable[[], object]) -> None:
        """Run ``job()`` in ``app``'s context; a failure is logged, never lost silently."""

        def run() -> None:
            with app.app_context():
                try:
                    job()
                except Exception as error:
                    service = outage_of(error)
                    if service is None:
                        self._log.exception("%s job failed", self._name)
                    else:  # one line, without the error's text (idp/outage.py)
                        self._log.warning(
                            "%s job failed: %s unavailable (%s)",
                            self._name,
                            service,
                            type(error).__name__,
                        )

        future = self._pool.submit(run)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def wait_idle(self, timeout: float = 30) -> None:
        """Block until no job is left, also those the jobs themselves submitted (a mail
        job queues its mail and submits its sending)."""
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                pending = set(self._pending)
            remaining = deadline - time.monotonic()
            if not pending or remaining <= 0:
                return
            wait(pending, timeout=remaining)


class Sweeper:
    """A daemon thread running ``sweep()`` in ``app``'s context every ``interval`` seconds,
    started once (at a serving process's first request, after gunicorn's fork) and ended by
    ``stop``. A failing sweep is one logged line (without the error's text: it may quote
    data); the next one tries again."""

    #: The sweepers whose thread was started and not stopped (:meth:`stop_all`).
    _running: ClassVar[set[Sweeper]] = set()
    _running_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(
        self,
        name: str,
        log: logging.Logger,
        sweep: Callable[[], object],
        *,
        at_start: bool = False,
    ) -> None:
        """:param at_start: sweep once as soon as the thread starts (else after the first
        interval)."""
        self._name = name
        self._log = log
        self._sweep = sweep
        self._at_start = at_start
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def start(self, app: Flask, interval: float) -> None:
        if interval <= 0 or self._thread is not None:
            return
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(
                target=self._run, args=(app, interval), name=self._name, daemon=True
            )
            self._thread.start()
        with Sweeper._running_lock:
            Sweeper._running.add(self)

    def _run(self, app: Flask, interval: float) -> None:
        if self._at_start:
            self._sweep_once(app)
        while not self._stop.wait(interval):
            self._sweep_once(app)

    def _sweep_once(self, app: Flask) -> None:
        with app.app_context():
            try:
                self._sweep()
            except Exception as error:  # the database is down: the next sweep tries again
                self._log.warning("%s sweep failed: %s", self._name, type(error).__name__)

    def stop(self, timeout: float = 10) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        with Sweeper._running_lock:
            Sweeper._running.discard(self)

    @classmethod
    def stop_all(cls, timeout: float = 10) -> None:
        """End every running sweeper of this process: those of apps nobody stops (a test's
        app, whose database is gone once its test ends, would otherwise keep sweeping it)."""
        with cls._running_lock:
            running = list(cls._running)
        for sweeper in running:
            sweeper.stop(timeout)
