"""G3: validating a CSV upload of 100,000 invitation rows, on PostgreSQL (issue 12's speed
section: "100,000 CSV invitation rows validate in under 30 s").

Starts a private PostgreSQL (tests/realservices.py, as the test suite does), migrates, seeds
one contract of ``--existing`` users (bench/admin_list_bench.py's seeding), and generates a
Shift_JIS (CP932) file of ``--rows`` rows as Excel writes it: Japanese names, 2 % bad
addresses, 1 % bad roles, 2 % duplicates within the file, 5 % addresses already in use. Then
it times, in one thread, (1) ``parse_upload`` + ``validate_rows`` — decoding, parsing and
every check, the "in use" look-up included — and (2) the request side of the upload as a
whole, ``start_bulk_invite`` (the same, plus the job and its 100,000 result rows stored), with
the job runner replaced by one that keeps the job (the invitations themselves are not
measured: they are mails, off the request).

    .venv/bin/python bench/bulk_invite_bench.py [--rows 100000] [--existing 100000]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from bench.admin_list_bench import GIVEN  # noqa: E402
from bench.admin_list_bench import SURNAMES  # noqa: E402
from bench.admin_list_bench import seed_contract  # noqa: E402
from bench.loginbench.machine import cpu_model  # noqa: E402
from bench.pgapp import migrated_app  # noqa: E402
from idp import extensions  # noqa: E402
from idp.actor import Actor  # noqa: E402
from idp.models import Contract  # noqa: E402
from idp.models import User  # noqa: E402
from idp.models import db  # noqa: E402
from idp.users.bulk_invite import ERROR  # noqa: E402
from idp.users.bulk_invite import parse_upload  # noqa: E402
from idp.users.bulk_invite import start_bulk_invite  # noqa: E402
from idp.users.bulk_invite import validate_rows  # noqa: E402
from idp.vocabulary import Role  # noqa: E402
from tests.realservices import PostgresServer  # noqa: E402


class _KeptJobs:
    """Stands in for the job runner: the bench measures the upload, not the mails."""

    def __init__(self) -> None:
        self.jobs: list[Any] = []

    def submit(self, _app: Any, job: Any) -> None:
        self.jobs.append(job)


def make_file(rows: int, in_use: list[str], rng: random.Random) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["メールアドレス", "氏名", "権限"])
    emails: list[str] = []
    for index in range(rows):
        draw = rng.random()
        if draw < 0.02:
            email = f"bad{index}.example.jp"
        elif draw < 0.04 and emails:
            email = rng.choice(emails)
        elif draw < 0.09 and in_use:
            email = rng.choice(in_use)
        else:
            email = f"n{index:06d}@example.jp"
        emails.append(email)
        role = "管理者" if rng.random() < 0.02 else ("root" if rng.random() < 0.01 else "利用者")
        writer.writerow([email, f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}", role])
    return out.getvalue().encode("cp932")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--existing", type=int, default=100_000)
    args = parser.parse_args()
    server = PostgresServer().start()
    try:
        app = migrated_app(server, "bench_invite")
        kept = _KeptJobs()
        extensions.invite_jobs.register(app, kept)  # type: ignore[arg-type]
        rng = random.Random(12)
        with app.app_context():
            contract = Contract(name="bench-invite", plan="basic")
            db.session.add(contract)
            db.session.commit()
            seed_contract(contract.id, args.existing, rng, "e")
            owner = User(
                contract_id=contract.id,
                email="owner@example.jp",
                email_key="owner@example.jp",
                name="契約 者",
                role=Role.CONTRACTOR,
                login_method="password",
                locale="ja",
            )
            db.session.add(owner)
            db.session.commit()
            in_use = [
                email
                for (email,) in db.session.query(User.email)
                .filter_by(contract_id=contract.id)
                .limit(20_000)
            ]
            data = make_file(args.rows, in_use, rng)
            actor = Actor.admin(owner.id, contract.id)
            started = time.perf_counter()
            rows = validate_rows(actor, contract.id, parse_upload(data))
            validated = time.perf_counter() - started
            refused = sum(1 for row in rows if row.status == ERROR)
            started = time.perf_counter()
            job = start_bulk_invite(actor, contract.id, data)
            uploaded = time.perf_counter() - started
            print(f"machine: {cpu_model()}, {os.cpu_count()} cores; PostgreSQL {server.bindir}")
            print(
                f"file: {len(rows):,} rows, {len(data) / 1e6:.1f} MB Shift_JIS; "
                f"{args.existing:,} users in the contract; {refused:,} rows refused"
            )
            print(f"parse + validate: {validated:.1f} s")
            print(f"upload as a whole (validate + store the job's rows): {uploaded:.1f} s")
            print(f"job {job.id}: total {job.total:,}, refused {job.failed:,}")
        app.extensions["idp.audit_sealer"].wait_idle()
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
