"""Issue 13, O1: PostgreSQL and Redis round trips of one ``POST /token``, counted, not timed.

What the server receives from the request's own connections, read from libpq's trace of
the wire protocol (``PQtrace``, through psycopg's ``pgconn.trace``): every simple ``Query``
message (``BEGIN``, ``COMMIT``, a ping ``;``) and every extended-protocol statement up to
its ``Sync`` is one round trip. Pings, BEGIN and COMMIT included, which SQLAlchemy's
statement events do not see (tests/test_statements_token.py counts the statements on
SQLite). The numbers are exact: a round trip more is a change someone must mean.

Redis: every command or pipeline the request's thread sends (redis-py's
``send_packed_command``, where a health-check PING goes too) is one round trip, named by its
first command.

Also the pool's liveness rule (idp/db_liveness.py): no ping for a connection used a moment
ago, one for a connection the server has closed or that sat idle long.
"""

from __future__ import annotations

import os
import select
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field

import psycopg
import pytest
from flask import has_request_context
from flask import request
from psycopg import pq
from redis.connection import AbstractConnection
from sqlalchemy import event

from idp import extensions
from idp.db_liveness import IDLE_PING_SECONDS
from idp.db_liveness import is_suspect
from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.test_client_credentials import service_client


@dataclass
class Traced:
    #: One entry per round trip: the text of a simple query (``BEGIN``, ``COMMIT``,
    #: ``;``), or ``statement`` for an extended-protocol statement (parameters bound).
    round_trips: list[str] = field(default_factory=list)
    #: One entry per Redis round trip: its (first) command's name.
    redis: list[str] = field(default_factory=list)
    #: Round trips that only prepared a statement (not in ``round_trips``, see _round_trips).
    prepared: int = 0


def _command_name(packed: bytes | list[bytes]) -> str:
    """The first command of a packed RESP request (``*3\\r\\n$3\\r\\nSET\\r\\n…``)."""
    head = packed if isinstance(packed, bytes) else b"".join(packed[:2])
    return head.split(b"\r\n")[2].decode().upper()


def _round_trips(trace: str) -> tuple[list[str], int]:
    """The round trips in a trace, and apart the statements prepared: psycopg prepares a
    statement on a connection at its fifth execution there (``prepare_threshold``), a round
    trip of its own (``Parse``, ``Sync``) once per statement and connection, which falls
    into a request or not depending on what ran on the pooled connection before."""
    trips = []
    prepared = 0
    since_sync: list[str] = []
    for line in trace.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or parts[0] != "F":
            continue
        kind = parts[2]
        if kind == "Query":
            text = parts[3].strip().strip('"')
            # A connection that ran in autocommit once names its (default) isolation level.
            trips.append("BEGIN" if text.startswith("BEGIN ISOLATION LEVEL") else text)
        elif kind == "Sync":
            if "Parse" in since_sync and "Execute" not in since_sync:
                prepared += 1
            else:
                trips.append("statement")
            since_sync = []
        else:
            since_sync.append(kind)
    return trips, prepared


@contextmanager
def traced(provider) -> Iterator[Traced]:
    """The wire protocol of every connection a ``POST /token`` checks out while inside,
    from its checkout (before any ping) to its check-in."""
    from idp.models import db

    result = Traced()
    open_traces: dict[int, tuple[int, str]] = {}

    def on_checkout(dbapi_connection, record, proxy) -> None:
        if not (has_request_context() and request.path == "/token"):
            return
        fd, path = tempfile.mkstemp(prefix="pqtrace-")
        dbapi_connection.pgconn.trace(fd)
        dbapi_connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        open_traces[id(dbapi_connection)] = (fd, path)

    def on_checkin(dbapi_connection, record) -> None:
        opened = open_traces.pop(id(dbapi_connection), None)
        if opened is None:
            return
        fd, path = opened
        dbapi_connection.pgconn.untrace()
        os.close(fd)
        with open(path) as trace:
            trips, prepared = _round_trips(trace.read())
        result.round_trips.extend(trips)
        result.prepared += prepared
        os.unlink(path)

    def on_redis_send(connection, command, check_health=True) -> None:
        if has_request_context() and request.path == "/token":
            result.redis.append(_command_name(command))
        send_packed_command(connection, command, check_health)

    provider.app.extensions["idp.audit_sealer"].wait_idle()
    with provider.app.app_context():
        engine = db.engine
    # First in line: the liveness check's ping (a checkout listener too) is traced.
    event.listen(engine, "checkout", on_checkout, insert=True)
    event.listen(engine, "checkin", on_checkin)
    send_packed_command = AbstractConnection.send_packed_command
    AbstractConnection.send_packed_command = on_redis_send  # type: ignore[method-assign]
    try:
        yield result
    finally:
        AbstractConnection.send_packed_command = send_packed_command  # type: ignore[method-assign]
        event.remove(engine, "checkout", on_checkout)
        event.remove(engine, "checkin", on_checkin)
    assert not open_traces, "a traced connection was not checked in"


@pytest.fixture()
def pg_provider(provider):
    if provider.backend != "postgresql+redis":
        pytest.skip("PostgreSQL's round trips")
    return provider


@pytest.mark.covers("O1")
def test_O1_client_credentials_is_one_round_trip(pg_provider):
    """The audit row is the grant's only statement: autocommit, no BEGIN/COMMIT, no ping
    (the access token goes to Redis after it)."""
    client = service_client(pg_provider, pg_provider.new_contract(), scope="admin:read")
    grant = {"grant_type": "client_credentials"}
    assert client.token_request(grant)["_status"] == 200  # reads the registration once
    with traced(pg_provider) as seen:
        answer = client.token_request(grant)
    assert answer["_status"] == 200, answer
    assert seen.round_trips == ["statement"]
    assert seen.redis == ["SET"]  # the access token


@pytest.mark.covers("O1")
def test_O1_refresh_is_five_round_trips(pg_provider, rp, user):
    """BEGIN, the claim with the family read (one UPDATE … FROM … RETURNING), the new
    refresh token, the audit event, COMMIT: no ping of the connection used a moment
    before."""
    _user_id, email = user
    tokens = rp.login_tokens(Browser(pg_provider.url), email, PASSWORD)
    with traced(pg_provider) as seen:
        refreshed = rp.refresh(tokens["refresh_token"])
    assert refreshed["_status"] == 200, refreshed
    assert seen.round_trips == ["BEGIN", *["statement"] * 3, "COMMIT"]
    assert seen.redis == ["SET"]  # the new access token


@pytest.mark.covers("O1")
def test_O1_code_exchange_is_five_round_trips(pg_provider, rp, user):
    """The code is taken in Redis; BEGIN, the family read, the refresh token, the audit
    event, COMMIT."""
    _user_id, email = user
    callback = rp.sign_in(Browser(pg_provider.url), email, PASSWORD)
    # The take script's first use on this Redis server loads it (NOSCRIPT, SCRIPT LOAD, once
    # per server start): load it before, as any earlier exchange on the server would have.
    with pg_provider.app.app_context():
        extensions.store().take("round-trips-warm-up", 1)
    with traced(pg_provider) as seen:
        tokens = rp.exchange(callback["code"])
    assert tokens["_status"] == 200, tokens
    assert seen.round_trips == ["BEGIN", *["statement"] * 3, "COMMIT"]
    # The code taken (a script: read and mark used in one step), the access token.
    assert seen.redis == ["EVALSHA", "SET"]


@pytest.mark.covers("K1", "O1")
def test_K1_a_pooled_connection_is_tested_when_the_server_closed_it_or_it_idled_long(
    pg_provider,
):
    """A connection the server has closed has something to read (its FATAL message, its
    end): tested without a round trip. One used a moment ago is not; one idle longer than
    IDLE_PING_SECONDS is, whatever its socket says."""
    url = pg_provider.app.config["SQLALCHEMY_DATABASE_URI"]
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as victim, psycopg.connect(dsn) as admin:
        now = time.monotonic()
        assert not is_suspect(victim, now)
        assert is_suspect(victim, now - IDLE_PING_SECONDS - 1)
        admin.execute("SELECT pg_terminate_backend(%s)", (victim.info.backend_pid,))
        # The server's goodbye reaches the socket (no sleep: wait on the socket itself).
        select.select([victim.fileno()], [], [], 10)
        assert is_suspect(victim, time.monotonic())
