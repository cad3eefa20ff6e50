"""The sweep threads of a serving process (idp/background.py): the mail queue's worker sends
what an earlier run left as soon as it starts (issue 13, "keeps mails that could not be sent
in a retry queue that survives a restart"), a failing sweep logs one line without the error's
text, and every sweeper of the process can be ended at once."""

from __future__ import annotations

import logging
import threading

import pytest
from flask import Flask

from idp.background import Sweeper

HOUR = 3600.0


def test_a_sweeper_started_at_start_sweeps_before_its_first_interval() -> None:
    swept = threading.Event()
    sweeper = Sweeper("test-sweep", logging.getLogger("test"), swept.set, at_start=True)
    sweeper.start(Flask(__name__), HOUR)
    try:
        assert swept.wait(30), "no sweep before the first interval (an hour)"
    finally:
        sweeper.stop()


def test_a_failing_sweep_logs_one_line_without_the_errors_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failed = threading.Event()

    def sweep() -> None:
        failed.set()
        raise RuntimeError("secret@example.com")

    sweeper = Sweeper("test-sweep", logging.getLogger("test.sweep"), sweep, at_start=True)
    with caplog.at_level(logging.WARNING, logger="test.sweep"):
        sweeper.start(Flask(__name__), HOUR)
        assert failed.wait(30)
        sweeper.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "test.sweep"]
    assert lines == ["test-sweep sweep failed: RuntimeError"]


def test_stop_all_ends_every_running_sweeper() -> None:
    started = [threading.Event(), threading.Event()]
    sweepers = [
        Sweeper(f"test-sweep-{i}", logging.getLogger("test"), event.set, at_start=True)
        for i, event in enumerate(started)
    ]
    for sweeper in sweepers:
        sweeper.start(Flask(__name__), HOUR)
    assert all(event.wait(30) for event in started)
    names = {f"test-sweep-{i}" for i in range(2)}
    assert names <= {thread.name for thread in threading.enumerate()}

    Sweeper.stop_all()

    assert not names & {thread.name for thread in threading.enumerate()}
