"""A node that hangs inside a PostgreSQL transaction (a paused VM, SIGSTOP) does not block
the others for longer than ``IDP_DB_IDLE_IN_TRANSACTION_TIMEOUT`` (issue 13, "Several
nodes": a node that stops loses nothing, and another node takes its work over).

The hung node is a session of the provider's own engine that locks a row and then says
nothing; another session (the node taking over) polls for the same lock. The timeout is the
server's clock, which no test can move: the test polls for the lock, it does not sleep."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import OperationalError

from tests.conftest import build_provider

LOCK = text("SELECT id FROM contracts WHERE id = :id FOR UPDATE NOWAIT")


@pytest.mark.parametrize("timeout, released", [(1, True), (0, False)])
def test_a_session_idle_in_a_transaction_lets_its_locks_go(services, tmp_path, timeout, released):
    provider = build_provider(
        "postgresql+redis", tmp_path, services, db_idle_in_transaction_timeout=timeout
    )
    try:
        contract = provider.new_contract()
        with provider.app.app_context():
            from idp.models import db

            hung = db.engine.connect()
            hung.begin()
            hung.execute(LOCK, {"id": contract})
            # Taken over only once the server has ended the hung session (polled, at most
            # 5 s: five times the bound).
            deadline = time.monotonic() + 5
            taken = False
            while not taken and time.monotonic() < deadline:
                with db.engine.connect() as other:
                    try:
                        other.execute(LOCK, {"id": contract})
                        taken = True
                    except OperationalError:  # lock not available: still held
                        time.sleep(0.05)
            assert taken is released
            if released:
                # The hung node, awake again, finds its transaction gone: its work was
                # rolled back, not half done.
                with pytest.raises(DBAPIError):
                    hung.execute(text("SELECT 1"))
            hung.close()
    finally:
        provider.close()
