"""What the PostgreSQL benchmarks share: a migrated app on a private server's new database,
autovacuum's work done by hand after seeding, EXPLAIN of a case's statements, percentiles."""

from __future__ import annotations

import os
import statistics
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet
from flask import Flask
from sqlalchemy import event

from idp.factory import create_app
from idp.maintenance import init_database
from idp.models import db
from tests.realservices import PostgresServer


def migrated_app(server: PostgresServer, name: str) -> Flask:
    """The provider on a new database ``name`` of ``server``, migrated."""
    url = server.create_database(name)
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"{name}-{uuid.uuid4().hex[:6]}"
    app = create_app(
        {
            "issuer": "http://127.0.0.1:9",
            "instance_dir": str(tmp / "instance"),
            "keys_dir": str(tmp / "keys"),
            "secret_key": "bench",
            "encryption_key": Fernet.generate_key().decode(),
            "database_url": url,
        }
    )
    init_database(app)
    return app


def vacuum_analyze(table: str = "") -> None:
    """What autovacuum does in production: statistics and the visibility map (without it
    PostgreSQL cannot answer from an index alone)."""
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").execute(
            db.text(f"VACUUM ANALYZE {table}".strip())
        )


def explain(label: str, call: Callable[[], Any]) -> None:
    """The plans PostgreSQL chose for the statements ``call`` runs (EXPLAIN ANALYZE)."""
    statements: list[tuple[str, object]] = []

    def keep(_conn: object, _cursor: object, sql: str, params: object, *_rest: object) -> None:
        statements.append((sql, params))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    print(f"--- {label}")
    raw = db.session.connection().connection.dbapi_connection
    assert raw is not None
    with raw.cursor() as cursor:
        for sql, params in statements:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            print("\n".join(row[0] for row in cursor.fetchall()))


def p50_p95(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[
        min(len(ordered) - 1, int(round(0.95 * len(ordered))) - 1)
    ]
