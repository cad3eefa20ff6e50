"""Issue 13 ("Speed"), X8, G6: what one audit event costs to write, on SQLite and PostgreSQL.

Every grant writes one audit event; each index on ``audit_events`` is one more B-tree insert
in its transaction. The indexes are exactly those the log's queries use (the list below is a
number that must not grow unnoticed); the chain's uniqueness (X8: one position per event in
a contract's chain) holds on sealed events only, so that a new, unsealed event skips it; the
queries that lost an index of their own (``idp purge``, the user detail) search the
contract's indexes instead of scanning the log. Migration 0021 goes up and down on both
databases."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import insert
from sqlalchemy import inspect
from sqlalchemy import text
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from idp.actor import Actor
from idp.maintenance import purge
from idp.migrations import alembic_config
from idp.migrations import upgrade
from idp.models import AuditEvent
from idp.users.detail import user_detail
from tests.conftest import Provider
from tests.test_audit_chain import chain_rows
from tests.test_audit_chain import contract_with_events
from tests.test_audit_chain import tamper

#: The indexes an event's INSERT may have to write, and the queries each one serves.
AUDIT_INDEXES = {
    "ix_audit_events_contract_at",  # G6 by time; purge's old events of a chain
    "ix_audit_events_contract_user_at",  # G6 by user; the user detail's sign-ins
    "ix_audit_events_contract_event_at",  # G6 by event
    "ix_audit_events_contract_reason_at",  # G6, X9 by reason (events that have one)
    "uq_audit_events_chain_seq",  # X8: verify, purge (sealed events only)
    "ix_audit_events_unsealed",  # X8: the sealer (unsealed events only)
}


def index_definitions(engine: Engine) -> dict[str, str]:
    """Each index of ``audit_events`` with its SQL as the database keeps it."""
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            query = "SELECT name, sql FROM sqlite_master WHERE tbl_name = 'audit_events'"
            rows = connection.execute(text(query + " AND type = 'index' AND sql IS NOT NULL"))
        else:
            query = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'audit_events'"
            rows = connection.execute(text(query + " AND indexname <> 'audit_events_pkey'"))
        return {str(name): " ".join(str(sql).split()) for name, sql in rows}


def test_O1_an_audit_event_writes_only_the_indexes_the_log_queries_use(provider):
    with provider.app.app_context():
        definitions = index_definitions(provider.db().engine)
    assert set(definitions) == AUDIT_INDEXES
    chain_seq = definitions["uq_audit_events_chain_seq"]
    assert "UNIQUE" in chain_seq and "seq IS NOT NULL" in chain_seq, chain_seq
    by_user = definitions["ix_audit_events_contract_user_at"]
    assert "user_id IS NOT NULL" in by_user, by_user  # a client's grant skips it


@pytest.mark.covers("X8")
def test_X8_a_second_event_at_one_position_of_a_chain_is_refused(provider):
    """The uniqueness survives the index's restriction to sealed events: an event given a
    position another event of its chain holds is refused; unsealed events (no position)
    are many side by side, and the same position in another chain is another place."""
    contract_id, rows = contract_with_events(provider, 3)
    _other, others = contract_with_events(provider, 3)
    assert (rows[1].seq, others[1].seq) == (2, 2)  # the same number in two chains
    # Written past audit.record, so that the background sealer leaves them unsealed.
    unsealed = [{"event": "chain_test", "outcome": "info", "contract_id": contract_id}] * 2
    tamper(provider, insert(AuditEvent).values(unsealed))
    with pytest.raises(IntegrityError):
        tamper(provider, update(AuditEvent).where(AuditEvent.id == rows[2].id).values(seq=2))
    with provider.app.app_context():
        provider.db().session.rollback()
    positions = [row.seq for row in chain_rows(provider, contract_id)]
    assert sorted(seq for seq in positions if seq) == [1, 2, 3] and positions.count(None) == 2


@pytest.fixture()
def statements(provider) -> Iterator[list[tuple[str, Any]]]:
    """The SELECTs on ``audit_events`` run on this thread while inside, with parameters."""
    seen: list[tuple[str, Any]] = []

    def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        if "FROM audit_events" in statement and statement.lstrip().startswith("SELECT"):
            seen.append((statement, parameters))

    provider.app.extensions["idp.audit_sealer"].wait_idle()
    with provider.app.app_context():
        engine = provider.db().engine
    event.listen(engine, "before_cursor_execute", on_execute)
    yield seen
    event.remove(engine, "before_cursor_execute", on_execute)


def sqlite_plans(provider: Provider, seen: list[tuple[str, Any]]) -> list[str]:
    """SQLite's plan of each statement, its steps joined by ``; ``."""
    with provider.app.app_context():
        cursor = provider.db().session.connection().connection.dbapi_connection.cursor()
        plans = []
        for sql, parameters in seen:
            cursor.execute("EXPLAIN QUERY PLAN " + sql, parameters)
            plans.append("; ".join(str(row[-1]) for row in cursor.fetchall()))
        cursor.close()
        provider.db().session.rollback()
    return plans


def test_O1_purge_finds_old_events_by_chain_not_by_scanning_the_log(provider, statements):
    if not provider.backend.startswith("sqlite"):
        pytest.skip("SQLite's query plan")
    contract_with_events(provider, 2)
    with provider.app.app_context():
        purge(Actor.system("test-purge"))
    plans = sqlite_plans(provider, statements)
    steps = [step for plan in plans for step in plan.split("; ")]
    # The one scan: of the partial index of unsealed events (the seal before the purge).
    scans = [step for step in steps if step.startswith("SCAN audit_events")]
    assert scans and all("ix_audit_events_unsealed" in step for step in scans), plans
    assert any("ix_audit_events_contract_at (contract_id=? AND at<?)" in p for p in plans), plans


def test_G6_the_user_detail_reads_the_users_events_within_the_contract(provider, statements):
    if not provider.backend.startswith("sqlite"):
        pytest.skip("SQLite's query plan")
    contract_id = provider.new_contract()
    user_id, _email = provider.new_user(contract_id)
    with provider.app.app_context():
        user_detail(contract_id, user_id)
    plans = sqlite_plans(provider, statements)
    assert len(plans) == 2, plans  # the recent sign-ins, the last successful one
    for plan in plans:
        assert "ix_audit_events_contract_user_at (contract_id=? AND user_id=?)" in plan, plans


@pytest.fixture()
def fresh_engine(provider, tmp_path, services) -> Iterator[Engine]:
    """An empty database of the provider's kind, dropped afterwards."""
    if provider.backend.startswith("sqlite"):
        engine = create_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
        yield engine
        engine.dispose()
        return
    name = "idp_mig_" + uuid.uuid4().hex[:8]
    engine = create_engine(services["postgres"].create_database(name))
    yield engine
    engine.dispose()
    services["postgres"].drop_database(name)


def test_O1_migration_0021_goes_up_and_down_on_both_databases(fresh_engine):
    from alembic import command

    upgrade(fresh_engine, "0020")
    before = index_definitions(fresh_engine)
    assert {"ix_audit_events_at", "ix_audit_events_user_id"} <= set(before)
    with fresh_engine.begin() as connection:
        event = {"event": "e", "outcome": "ok", "contract_id": "c", "details": {}}
        rows = [{**event, "seq": 1}, {**event, "seq": None}, {**event, "seq": None}]
        connection.execute(insert(AuditEvent.__table__), rows)
    upgrade(fresh_engine)
    assert set(index_definitions(fresh_engine)) == AUDIT_INDEXES
    command.downgrade(alembic_config(fresh_engine), "0020")
    assert index_definitions(fresh_engine) == before
    upgrade(fresh_engine)
    after = index_definitions(fresh_engine)
    assert set(after) == AUDIT_INDEXES and "seq IS NOT NULL" in after["uq_audit_events_chain_seq"]
    columns = {column["name"] for column in inspect(fresh_engine).get_columns("audit_events")}
    assert {"seq", "hash", "at", "user_id"} <= columns
    with fresh_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_events")).scalar() == 3
