"""X8, issue 13: the audit sealer's CPU per run and per event, in-process.

Builds the provider on a fresh SQLite database (``--postgres``: a private PostgreSQL, as the
tests start it), seals ``--seed`` events of one contract (the indexes then hold a log, not
an empty table), then ``--runs`` times: inserts ``--batch`` unsealed token events (as the
token endpoint writes them, past the background sealer) and times ``seal_all()`` with
``time.process_time`` (this process's CPU; the database server's own is not counted on
PostgreSQL). Ends by verifying the chain. Under load each worker's sealer runs about four
times a second and links what every worker wrote meanwhile, so the batch is the grants per
second divided by four; ``--batch 1`` gives the fixed cost of a run.

    .venv/bin/python bench/seal_bench.py [--batch 60] [--runs 150] [--seed 20000] [--postgres]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cryptography.fernet import Fernet  # noqa: E402
from sqlalchemy import insert  # noqa: E402

from bench.loginbench.machine import cpu_model  # noqa: E402
from idp.audit_chain.seal import seal_all  # noqa: E402
from idp.audit_chain.verify import verify  # noqa: E402
from idp.factory import create_app  # noqa: E402
from idp.maintenance import init_database  # noqa: E402
from idp.models import AuditEvent  # noqa: E402
from idp.models import db  # noqa: E402
from idp.models import utcnow  # noqa: E402

_INSERT = insert(AuditEvent.__table__)


def write_unsealed(contract_id: str, count: int) -> None:
    """``count`` token events as ``audit.record_in_transaction`` writes them, one commit."""
    row: dict[str, Any] = {
        "event": "token_issued",
        "outcome": "ok",
        "reason": None,
        "user_id": None,
        "contract_id": contract_id,
        "client_id": "bench-service-client",
        "ip": "127.0.0.1",
        "actor": None,
        "details": {"grant": "client_credentials", "scope": "admin:read"},
    }
    db.session.execute(_INSERT, [{**row, "at": utcnow()} for _ in range(count)])
    db.session.commit()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=60, help="events per seal run")
    parser.add_argument("--runs", type=int, default=150)
    parser.add_argument("--seed", type=int, default=20_000, help="sealed events first")
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="seal-bench-"))
    config = {
        "issuer": "http://127.0.0.1:9",
        "instance_dir": str(tmp / "instance"),
        "keys_dir": str(tmp / "keys"),
        "secret_key": "bench",
        "encryption_key": Fernet.generate_key().decode(),
    }
    server = None
    if args.postgres:
        from tests.realservices import PostgresServer

        server = PostgresServer().start()
        config["database_url"] = server.create_database("bench_seal")
    try:
        app = create_app(config)
        init_database(app)
        contract_id = uuid.uuid4().hex
        with app.app_context():
            for _ in range(args.seed // 1000):
                write_unsealed(contract_id, 1000)
                seal_all()
            cpu = 0.0
            for _ in range(args.runs):
                write_unsealed(contract_id, args.batch)
                started = time.process_time()
                report = seal_all()
                cpu += time.process_time() - started
                assert report.events == args.batch, report
            (chain,) = verify(contract_id).chains
            backend = "PostgreSQL" if args.postgres else f"SQLite {sqlite3.sqlite_version}"
            print(f"machine: {cpu_model()}, {os.cpu_count()} cores; {backend}")
            print(
                f"seal_all() of {args.batch} events, {args.runs} runs after {args.seed:,} sealed: "
                f"{cpu / args.runs * 1000:.3f} ms CPU per run, "
                f"{cpu / (args.runs * args.batch) * 1e6:.1f} us per event; "
                f"verify: {chain.events:,} events, {chain.problem or 'no problem'}"
            )
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
