"""The tamper-evident audit log (X8) and the contract's columns of the audit log (G6), on
SQLite and on PostgreSQL: each contract's events form a hash chain, sealed off the request
thread; ``verify`` names the first edited or missing event; purging keeps verification green.

Tampering is done as an attacker with database access would: SQL UPDATE and DELETE past the
application. Each test works on contracts of its own; ``verify`` is asked about those."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from sqlalchemy import delete
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update

from idp import audit
from idp.actor import Actor
from idp.audit_chain.seal import seal_all
from idp.audit_chain.seal import seal_chain
from idp.audit_chain.verify import verify
from idp.audit_chain.verify import verify_chain
from idp.errors import DomainError
from idp.maintenance import purge
from idp.models import AuditChainHead
from idp.models import AuditEvent
from idp.models import utcnow
from tests.conftest import BACKENDS
from tests.conftest import Provider
from tests.conftest import build_provider


@pytest.fixture(scope="module", params=BACKENDS)
def node(
    request: pytest.FixtureRequest, services: dict[str, Any], tmp_path_factory: Any
) -> Iterator[Provider]:
    """A provider of its own per backend (its chains are tampered with), not served."""
    backend = request.param
    node = build_provider(backend, tmp_path_factory.mktemp("chain-" + backend[:6]), services)
    yield node
    node.close()


def write(node: Provider, contract_id: str | None, count: int, **values: Any) -> None:
    """``count`` events as the provider writes them (each in its own commit)."""
    with node.app.app_context():
        for n in range(count):
            audit.record("chain_test", "info", None, contract_id=contract_id, details={"n": n})


def sealed(node: Provider) -> None:
    """Let the background sealer finish, then seal whatever is left (as ``idp audit seal``)."""
    node.app.extensions["idp.audit_sealer"].wait_idle()
    with node.app.app_context():
        seal_all()


def chain_rows(node: Provider, contract_id: str) -> list[Any]:
    with node.app.app_context():
        session = node.db().session
        query = select(AuditEvent).where(AuditEvent.contract_id == contract_id)
        rows = list(session.scalars(query.order_by(AuditEvent.seq, AuditEvent.id)))
        session.commit()
        return rows


def check(node: Provider, contract_id: str) -> Any:
    """The one chain's report (``verify --contract``)."""
    with node.app.app_context():
        report = verify(contract_id)
        (chain,) = report.chains
        return chain


def tamper(node: Provider, statement: Any) -> None:
    with node.app.app_context():
        node.db().session.execute(statement)
        node.db().session.commit()


def contract_with_events(node: Provider, count: int = 6) -> tuple[str, list[Any]]:
    contract_id = node.new_contract()
    write(node, contract_id, count - 1)
    sealed(node)
    rows = chain_rows(node, contract_id)
    assert len(rows) == count  # the contract's own creation event, then ours
    return contract_id, rows


@pytest.mark.covers("X8")
def test_X8_events_are_sealed_shortly_after_they_are_written_without_a_manual_seal(node):
    contract_id = node.new_contract()
    write(node, contract_id, 3)
    node.app.extensions["idp.audit_sealer"].wait_idle()
    rows = chain_rows(node, contract_id)
    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert all(len(r.hash) == 64 for r in rows)
    assert check(node, contract_id).problem is None


@pytest.mark.covers("X8")
def test_X8_two_contracts_chain_separately(node):
    first, second = node.new_contract(), node.new_contract()
    for _ in range(3):
        write(node, first, 2)
        write(node, second, 1)
    sealed(node)
    first_rows, second_rows = chain_rows(node, first), chain_rows(node, second)
    assert [r.seq for r in first_rows] == list(range(1, 8))
    assert [r.seq for r in second_rows] == list(range(1, 5))
    assert not {r.hash for r in first_rows} & {r.hash for r in second_rows}
    for contract_id, rows in ((first, first_rows), (second, second_rows)):
        report = check(node, contract_id)
        assert (report.problem, report.events, report.head_seq) == (None, len(rows), len(rows))
    # Moving the second contract's first event into the first contract breaks both chains.
    tamper(node, update(AuditEvent).where(AuditEvent.id == second_rows[0].id).values(seq=99))
    assert check(node, second).problem.kind == "missing"


#: An attacker's edit of each column the hash covers, as (column, new value).
EDITS = [
    ("reason", "nothing_to_see"),
    ("event", "login"),
    ("outcome", "ok"),
    ("user_id", "f" * 32),
    ("client_id", "rp-other"),
    ("ip", "203.0.113.9"),
    ("actor", "cli:someone-else"),
    ("details", {"n": 99}),
    ("at", datetime(2026, 1, 1, tzinfo=UTC)),
]


@pytest.mark.covers("X8")
@pytest.mark.parametrize(("column", "value"), EDITS, ids=[c for c, _v in EDITS])
def test_X8_an_edited_event_is_named_by_verify(node, column, value):
    contract_id, rows = contract_with_events(node)
    target = rows[3]
    tamper(node, update(AuditEvent).where(AuditEvent.id == target.id).values({column: value}))
    problem = check(node, contract_id).problem
    assert (problem.kind, problem.event_id, problem.seq) == ("edited", target.id, target.seq)
    assert f"id={target.id} seq={target.seq}" in problem.text


@pytest.mark.covers("X8")
def test_X8_of_two_edited_events_verify_names_the_first(node):
    contract_id, rows = contract_with_events(node)
    for row in (rows[4], rows[2]):
        tamper(node, update(AuditEvent).where(AuditEvent.id == row.id).values(reason="x"))
    problem = check(node, contract_id).problem
    assert (problem.kind, problem.event_id) == ("edited", rows[2].id)


@pytest.mark.covers("X8")
def test_X8_an_event_renumbered_to_another_id_is_detected(node):
    contract_id, rows = contract_with_events(node)
    new_id = rows[-1].id + 100_000
    tamper(node, update(AuditEvent).where(AuditEvent.id == rows[2].id).values(id=new_id))
    problem = check(node, contract_id).problem
    assert (problem.kind, problem.event_id, problem.seq) == ("edited", new_id, rows[2].seq)


@pytest.mark.covers("X8")
def test_X8_an_event_moved_to_another_contract_leaves_a_gap(node):
    contract_id, rows = contract_with_events(node)
    other = node.new_contract()
    tamper(node, update(AuditEvent).where(AuditEvent.id == rows[2].id).values(contract_id=other))
    problem = check(node, contract_id).problem
    assert (problem.kind, problem.seq) == ("missing", rows[2].seq)


@pytest.mark.covers("X8")
@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_X8_a_deleted_event_is_named_as_missing(node, position):
    contract_id, rows = contract_with_events(node)
    gone = {"first": rows[0], "middle": rows[3], "last": rows[-1]}[position]
    tamper(node, delete(AuditEvent).where(AuditEvent.id == gone.id))
    problem = check(node, contract_id).problem
    assert (problem.kind, problem.seq) == ("missing", gone.seq)
    assert f"seq={gone.seq} is missing" in problem.text


@pytest.mark.covers("X8")
def test_X8_reordered_events_are_detected(node):
    contract_id, rows = contract_with_events(node)
    a, b = rows[2], rows[3]
    # Swap the two positions (through a free one: seq is unique within a chain).
    tamper(node, update(AuditEvent).where(AuditEvent.id == a.id).values(seq=-1))
    tamper(node, update(AuditEvent).where(AuditEvent.id == b.id).values(seq=a.seq))
    tamper(node, update(AuditEvent).where(AuditEvent.id == a.id).values(seq=b.seq))
    problem = check(node, contract_id).problem
    assert (problem.kind, problem.event_id, problem.seq) == ("edited", b.id, a.seq)


@pytest.mark.covers("X8")
def test_X8_a_head_set_back_to_hide_a_cut_tail_is_detected(node):
    contract_id, rows = contract_with_events(node)
    tamper(
        node,
        update(AuditChainHead)
        .where(AuditChainHead.chain == contract_id)
        .values(seq=rows[-2].seq, hash=rows[-2].hash),
    )
    problem = check(node, contract_id).problem
    assert (problem.kind, problem.seq) == ("beyond_head", rows[-1].seq)


@pytest.mark.covers("X8")
def test_X8_parallel_writers_and_sealers_make_one_unbroken_chain(node):
    """Threads write events for one contract at once (each commit asks the background
    sealer) while other threads seal the same chain by hand: the chain's lock keeps one
    sealer at a time, so no seq is given twice and none is skipped."""
    contract_id = node.new_contract()
    writers, per_writer = 6, 25
    start = threading.Barrier(writers + 2)
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            start.wait()
            write(node, contract_id, per_writer)
        except BaseException as error:  # reported below
            errors.append(error)

    def sealer() -> None:
        try:
            start.wait()
            for _ in range(15):
                with node.app.app_context():
                    seal_chain(contract_id, batch=7)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=writer) for _ in range(writers)]
    threads += [threading.Thread(target=sealer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert errors == []
    sealed(node)
    rows = chain_rows(node, contract_id)
    assert [r.seq for r in rows] == list(range(1, writers * per_writer + 2))
    report = check(node, contract_id)
    assert (report.problem, report.events) == (None, writers * per_writer + 1)


@pytest.mark.covers("X8")
def test_X8_verify_reports_events_left_unsealed_past_the_grace_period(node):
    node.app.extensions["idp.audit_sealer"].wait_idle()
    contract_id, _rows = contract_with_events(node, 2)
    # Rows written past the application: nothing asks the sealer to run.
    for age in (timedelta(seconds=5), timedelta(hours=1)):
        tamper(
            node,
            insert(AuditEvent).values(
                at=utcnow() - age, event="x", outcome="info", contract_id=contract_id, details={}
            ),
        )
    with node.app.app_context():
        report = verify(contract_id)
        assert report.unsealed == 2
        assert report.stale is not None and report.stale.kind == "unsealed"
        assert "1 events unsealed for more than 300 s" in report.stale.text
        assert verify(contract_id, grace=timedelta(hours=2)).stale is None
        assert seal_chain(contract_id) == 2
        report = verify(contract_id)
    assert (report.unsealed, report.problems, report.events) == (0, [], 4)


@pytest.mark.covers("X8", "C3")
def test_X8_purging_old_events_keeps_a_checkpoint_and_verify_green(node):
    long_ago = utcnow() - timedelta(days=800)
    with time_machine.travel(long_ago, tick=False):
        contract_id = node.new_contract()
        write(node, contract_id, 4)
        sealed(node)
    write(node, contract_id, 3)
    sealed(node)
    before = chain_rows(node, contract_id)
    with node.app.app_context():
        report = purge(Actor.system("test-purge"))
    assert report.audit_events >= 5
    kept = chain_rows(node, contract_id)
    assert [r.id for r in kept] == [r.id for r in before[5:]]
    chain = check(node, contract_id)
    assert (chain.problem, chain.events, chain.checkpoint_seq) == (None, 3, 5)
    with node.app.app_context():
        assert verify_chain("").problem is None  # the purge's own event, chained
    # The chain goes on from the checkpoint, and a later deletion is still found.
    write(node, contract_id, 2)
    sealed(node)
    assert check(node, contract_id).problem is None
    tamper(node, delete(AuditEvent).where(AuditEvent.id == kept[0].id))
    problem = check(node, contract_id).problem
    assert (problem.kind, problem.seq) == ("missing", 6)


@pytest.mark.covers("X8", "C3")
def test_X8_purge_deletes_every_old_event_of_a_chain_and_its_head_keeps_it_valid(node):
    long_ago = utcnow() - timedelta(days=800)
    with time_machine.travel(long_ago, tick=False):
        contract_id = node.new_contract()
        write(node, contract_id, 2)
        sealed(node)
    with node.app.app_context():
        purge(Actor.system("test-purge"))
    assert chain_rows(node, contract_id) == []
    chain = check(node, contract_id)
    assert (chain.problem, chain.events, chain.head_seq, chain.checkpoint_seq) == (None, 0, 3, 3)


@pytest.mark.covers("G6", "X3")
def test_G6_events_carry_the_actor_and_their_contract(node):
    from idp.contracts.lines import add_line

    own, other = node.new_contract(), node.new_contract()
    user_id, _email = node.new_user(own)
    admin = Actor.admin(uuid.uuid4().hex, own)
    with node.app.app_context():
        # A refused change names the contract it was aimed at...
        with pytest.raises(DomainError):
            add_line(admin, other, "CAF12")
        # ... or, when that contract does not exist, the actor's own.
        with pytest.raises(DomainError):
            add_line(admin, "no-such-contract", "CAF12")
        # A sign-in's event names only the user: it joins the user's contract.
        audit.record("login", "refused", "wrong_password", user_id=user_id)
    sealed(node)
    refused = [r for r in chain_rows(node, other) if r.event == "line_add"]
    assert [(r.reason, r.actor) for r in refused] == [("not_a_line_number", f"admin:{admin.id}")]
    own_events = {(r.event, r.outcome, r.actor) for r in chain_rows(node, own)}
    assert ("line_add", "refused", f"admin:{admin.id}") in own_events
    assert ("login", "refused", None) in own_events
    assert check(node, own).problem is None and check(node, other).problem is None


IDP = [sys.executable, "-m", "idp.cli"]


def idp(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*IDP, *args], env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.covers("X8")
def test_X8_cli_audit_seal_and_verify_exit_codes(tmp_path):
    env = {
        **os.environ,
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_SECRET_KEY": "cli-test-secret",
        "IDP_ENCRYPTION_KEY": "x2rqoV0T3sD5cQ0nJ6W9lJ2xQe0y2v9cN3m0tWqZ8kE=",
        "IDP_ISSUER": "http://127.0.0.1:9",
    }
    assert idp(["init"], env).returncode == 0
    contract = idp(["contracts", "add", "Chained"], env).stdout.strip()
    assert idp(["contracts", "set", contract, "--two-factor", "off"], env).returncode == 0
    seal = idp(["audit", "seal"], env)
    assert seal.returncode == 0 and seal.stdout.startswith("sealed=")
    ok = idp(["audit", "verify"], env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.startswith("OK chains=") and "unsealed=0" in ok.stdout
    unknown = idp(["audit", "verify", "--contract", "nope"], env)
    assert unknown.returncode == 1 and "no audit events for contract nope" in unknown.stderr

    database = sqlite3.connect(tmp_path / "instance" / "idp.sqlite3")
    with database:  # an event written past the application an hour ago: never sealed
        database.execute(
            "INSERT INTO audit_events (at, event, outcome, contract_id, details) "
            "VALUES (datetime('now', '-1 hour'), 'x', 'info', ?, '{}')",
            (contract,),
        )
    stale = idp(["audit", "verify"], env)
    assert stale.returncode == 1 and "FAILED unsealed: 1 events unsealed" in stale.stdout
    assert idp(["audit", "seal"], env).stdout.startswith("sealed=1 chains=1")
    one = idp(["audit", "verify", "--contract", contract], env)
    assert one.returncode == 0 and "events=3 unsealed=0 head_seq=3" in one.stdout

    (edited_id,) = database.execute(
        "SELECT id FROM audit_events WHERE contract_id = ? AND seq = 2", (contract,)
    ).fetchone()
    with database:
        database.execute("UPDATE audit_events SET reason = 'x' WHERE id = ?", (edited_id,))
    database.close()
    broken = idp(["audit", "verify", "--contract", contract], env)
    assert broken.returncode == 1
    assert f"FAILED edited: contract {contract}: event id={edited_id} seq=2" in broken.stdout


def test_X8_the_sealer_finds_unsealed_chains_without_reading_every_event(node):
    """Issue 13: each seal (twice a second per worker under load) asks which chains have
    unsealed events; on SQLite that must search the partial index of unsealed events, not
    scan an index of every event ever written (a cost growing with the log, X9's million)."""
    if not node.backend.startswith("sqlite"):
        pytest.skip("SQLite's query plan")
    from idp.audit_chain.seal import UNSEALED_CHAINS
    from idp.models import db

    with node.app.app_context():
        sql = str(UNSEALED_CHAINS.compile(db.engine, compile_kwargs={"literal_binds": True}))
        plan = db.session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
    details = " ".join(str(row[-1]) for row in plan)
    assert "ix_audit_events_unsealed" in details, details


@pytest.mark.parametrize("count", [1, 40])
def test_X8_a_seal_run_costs_the_same_statements_for_one_event_or_forty(node, count):
    """Issue 13: what one seal run costs the database, counted, not timed (a statement more
    is a change someone must mean). Finding the chains, then per chain: the lock (an UPDATE
    of its head that returns it), its unsealed events, one executemany linking them all and
    the head moved; two commits. The count does not grow with the events."""
    from sqlalchemy import event

    from idp.models import db

    contract_id = node.new_contract()
    sealed(node)
    # Written past audit.record, so that the background sealer is not asked to run.
    rows = [{"event": "chain_test", "outcome": "info", "contract_id": contract_id}] * count
    tamper(node, insert(AuditEvent).values(rows))
    statements: list[str] = []
    commits: list[object] = []

    def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(" ".join(statement.split())[:40])

    def on_commit(conn) -> None:
        commits.append(conn)

    with node.app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        with node.app.app_context():
            report = seal_all()
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)
    assert (report.events, report.chains) == (count, 1)
    assert [text.split()[0] for text in statements] == [
        "SELECT",  # the chains with unsealed events
        "UPDATE",  # the lock: the chain's head, returned
        "SELECT",  # its unsealed events
        "UPDATE",  # every event linked (one executemany)
        "UPDATE",  # the head moved
    ], statements
    assert len(commits) == 2
    assert check(node, contract_id).problem is None
