"""X9, G6: the contract's audit log at scale, on PostgreSQL (issue 12's speed section).

Starts a private PostgreSQL (tests/realservices.py, as the test suite does), builds the schema
by the migrations, seeds (COPY) one contract of ``--events`` audit events over a year — sign-ins
of ``--users`` users, refusals with their reason codes, challenges, tokens, a few admin
operations — beside ``--others`` other contracts of 100,000 events each, then times
``idp.audit_log.list_events`` (what the console and the API call) for each filter (user, event,
reason, time range, combined) and a page half-way down by its cursor: p50 and p95 in ms over
``--runs`` runs after one warm-up, page size 50; then the wall time of
``idp.audit_log.export_events`` over the whole contract (every CSV record built, as the
download streams them).

    .venv/bin/python bench/audit_bench.py [--events 1000000] [--others 3] [--runs 30]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from bench.loginbench.machine import cpu_model  # noqa: E402
from bench.pgapp import explain  # noqa: E402
from bench.pgapp import migrated_app  # noqa: E402
from bench.pgapp import p50_p95  # noqa: E402
from bench.pgapp import vacuum_analyze  # noqa: E402
from idp.audit_log import AuditQuery  # noqa: E402
from idp.audit_log import _encode_cursor  # noqa: E402
from idp.audit_log import export_events  # noqa: E402
from idp.audit_log import list_events  # noqa: E402
from idp.models import AuditEvent  # noqa: E402
from idp.models import Contract  # noqa: E402
from idp.models import db  # noqa: E402
from tests.realservices import PostgresServer  # noqa: E402

START = datetime(2025, 12, 1, tzinfo=UTC)
YEAR = timedelta(days=365)
#: (event, outcome, reason, weight): what a contract's log is made of.
KINDS = (
    ("login", "ok", None, 50),
    ("login", "refused", "wrong_password", 6),
    ("login", "refused", "locked", 0.1),
    ("login", "refused", "route_line_only", 0.5),
    ("second_factor", "info", "2fa_new_browser", 8),
    ("second_factor", "ok", "2fa_remembered", 10),
    ("second_factor", "refused", "wrong_code", 1),
    ("token_issued", "ok", None, 20),
    ("token_refreshed", "ok", None, 4),
    ("user_unlock", "ok", None, 0.05),
    ("user_add", "ok", None, 0.35),
)
COLUMNS = (
    "at",
    "event",
    "outcome",
    "reason",
    "user_id",
    "contract_id",
    "client_id",
    "ip",
    "actor",
    "details",
    "seq",
    "hash",
)


def seed_contract(contract_id: str, count: int, users: list[str], rng: random.Random) -> None:
    """``count`` events spread over a year, oldest first, sealed (seq and a hash) as the
    sealer leaves them; COPY, as a Core insert of a million rows would take minutes."""
    kinds = [kind[:3] for kind in KINDS]
    weights = [kind[3] for kind in KINDS]
    step = YEAR / count
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY audit_events ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for index in range(count):
                event, outcome, reason = rng.choices(kinds, weights)[0]
                user = rng.choice(users)
                is_admin_op = event in ("user_unlock", "user_add")
                copy.write_row(
                    (
                        START + step * index,
                        event,
                        outcome,
                        reason,
                        user,
                        contract_id,
                        "storage-frontend" if event.startswith("token") else None,
                        f"198.51.100.{index % 250}",
                        f"admin:{users[0]}" if is_admin_op else None,
                        json.dumps({"actor": {"kind": "admin"}} if is_admin_op else {}),
                        index + 1,
                        f"{index:064x}",
                    )
                )
        raw.commit()
    finally:
        raw.close()


def timed(query: AuditQuery, runs: int) -> tuple[float, float, int, str]:
    list_events(query)  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        page = list_events(query)
        samples.append((time.perf_counter() - started) * 1000)
    total = f"{page.total:,}{'+' if page.is_total_capped else ''}"
    return *p50_p95(samples), len(page.rows), total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--others", type=int, default=3)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--explain", action="store_true", help="print each case's plans")
    parser.add_argument("--no-export", action="store_true", help="skip the CSV export")
    args = parser.parse_args()
    server = PostgresServer().start()
    try:
        app = migrated_app(server, "bench_audit")
        rng = random.Random(7)
        with app.app_context():
            started = time.perf_counter()
            ids = []
            users = [uuid.uuid4().hex for _ in range(args.users)]
            for index in range(1 + args.others):
                contract = Contract(name=f"bench-{index}", plan="basic")
                db.session.add(contract)
                db.session.commit()
                ids.append(contract.id)
                size = args.events if index == 0 else 100_000
                their_users = users if index == 0 else [uuid.uuid4().hex for _ in range(1000)]
                seed_contract(contract.id, size, their_users, rng)
            vacuum_analyze()
            seeded = time.perf_counter() - started
            target = ids[0]
            deep_row = db.session.execute(
                select(AuditEvent.at, AuditEvent.id)
                .where(AuditEvent.contract_id == target)
                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                .offset(args.events // 2)
                .limit(1)
            ).one()
            middle = START + YEAR / 2
            day = {"since": middle, "until": middle + timedelta(days=1)}
            a_user = users[12345 % len(users)]
            cases: list[tuple[str, AuditQuery]] = [
                ("newest page, no filter", AuditQuery(target)),
                (
                    f"page {args.events // 2:,} events deep (cursor)",
                    AuditQuery(target, after=_encode_cursor(*deep_row)),
                ),
                ("user (about 10 events)", AuditQuery(target, user_id=a_user)),
                ("event=login (56 %)", AuditQuery(target, event="login")),
                ("event=second_factor (19 %)", AuditQuery(target, event="second_factor")),
                ("event=user_unlock (0.05 %)", AuditQuery(target, event="user_unlock")),
                ("reason=wrong_password (6 %)", AuditQuery(target, reason="wrong_password")),
                ("reason=route_line_only (0.5 %)", AuditQuery(target, reason="route_line_only")),
                ("reason=locked (0.1 %)", AuditQuery(target, reason="locked")),
                ("time range: one day mid-year", AuditQuery(target, **day)),
                (
                    "event=login + reason=wrong_password + one day",
                    AuditQuery(target, event="login", reason="wrong_password", **day),
                ),
                (
                    "user + a month",
                    AuditQuery(
                        target, user_id=a_user, since=middle, until=middle + timedelta(days=30)
                    ),
                ),
            ]
            print(f"machine: {cpu_model()}, {os.cpu_count()} cores; PostgreSQL {server.bindir}")
            print(f"load average before: {os.getloadavg()}")
            print(
                f"data: one contract of {args.events:,} events ({args.users:,} users) + "
                f"{args.others} of 100,000 (seeded in {seeded:.0f} s); page size 50; "
                f"{args.runs} runs per case"
            )
            print(f"{'case':48} {'p50 ms':>8} {'p95 ms':>8} {'rows':>5} {'total':>7}")
            for label, query in cases:
                if args.explain:
                    explain(label, lambda query=query: list_events(query))
                p50, p95, rows, total = timed(query, args.runs)
                print(f"{label:48} {p50:8.1f} {p95:8.1f} {rows:5d} {total:>7}")
            if not args.no_export:
                profiler = None
                if os.environ.get("BENCH_PROFILE"):
                    import cProfile

                    profiler = cProfile.Profile()
                    profiler.enable()
                started = time.perf_counter()
                records = 0
                size = 0
                for record in export_events(AuditQuery(target)):
                    records += 1
                    size += len(record.encode())
                elapsed = time.perf_counter() - started
                if profiler is not None:
                    profiler.disable()
                    profiler.print_stats("cumulative")
                print(
                    f"CSV export of the contract: {records - 1:,} events, {size / 1e6:.0f} MB "
                    f"in {elapsed:.1f} s ({(records - 1) / elapsed:,.0f} events/s)"
                )
            print(f"load average after: {os.getloadavg()}")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
