"""X9: the admin user list at scale, on PostgreSQL (issue 12's speed section).

Starts a private PostgreSQL (tests/realservices.py, as the test suite does), builds the schema
by the migrations, seeds one contract of ``--users`` users (Japanese and romaji names, some
locked, enrolled, invited, admins, Google users) beside ``--others`` other contracts of 10,000
users each, then times ``idp.users.listing.list_users`` — the function the console and the API
call — for each sort both ways, each filter, searches (two-character kanji surname, full name,
part of an email, a rare romaji name) and a page 50,000 rows deep by its cursor. Each case runs
``--runs`` times after one warm-up; p50 and p95 in milliseconds of wall time on one core
(single-threaded client and one PostgreSQL backend), with the machine described.

    .venv/bin/python bench/admin_list_bench.py [--users 100000] [--others 3] [--runs 40]
"""

from __future__ import annotations

import argparse
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

from sqlalchemy import insert  # noqa: E402
from sqlalchemy import select  # noqa: E402

from bench.loginbench.machine import cpu_model  # noqa: E402
from bench.pgapp import explain  # noqa: E402
from bench.pgapp import migrated_app  # noqa: E402
from bench.pgapp import p50_p95  # noqa: E402
from bench.pgapp import vacuum_analyze  # noqa: E402
from idp.models import AuditEvent  # noqa: E402
from idp.models import Contract  # noqa: E402
from idp.models import Invitation  # noqa: E402
from idp.models import User  # noqa: E402
from idp.models import db  # noqa: E402
from idp.models import index_search_grams  # noqa: E402
from idp.models import name_key  # noqa: E402
from idp.users.detail import user_detail  # noqa: E402
from idp.users.listing import UserFilters  # noqa: E402
from idp.users.listing import UserListQuery  # noqa: E402
from idp.users.listing import UserSort  # noqa: E402
from idp.users.listing import _encode_cursor  # noqa: E402
from idp.users.listing import list_users  # noqa: E402
from idp.vocabulary import LoginMethod  # noqa: E402
from idp.vocabulary import Role  # noqa: E402
from tests.realservices import PostgresServer  # noqa: E402

SURNAMES = (
    "田中 佐藤 鈴木 高橋 渡辺 伊藤 山本 中村 小林 加藤 吉田 山田 佐々木 山口 松本 "
    "井上 木村 林 斎藤 清水"
).split()
GIVEN = "太郎 花子 一郎 翔 陽菜 蓮 結衣 大翔 美咲 悠真 葵 湊 陽向 凛 樹 さくら 健 愛 誠 舞".split()
ROMAJI = "Sato Suzuki Takahashi Tanaka Ito Watanabe Yamamoto Nakamura Kobayashi Kato".split()
GIVEN_ROMAJI = "Ken Yui Aoi Ren Haruto Mio Sota Rin Kaito Hina".split()


def _insert_users(batch: list[dict[str, object]]) -> None:
    """Core inserts bypass the model's hooks: the search bigrams are written alongside."""
    db.session.execute(insert(User), batch)
    index_search_grams(
        db.session.connection(),
        [
            (str(u["id"]), str(u["contract_id"]), str(u["name_key"]), str(u["email_key"]))
            for u in batch
        ],
    )


def seed_contract(contract_id: str, count: int, rng: random.Random, prefix: str) -> None:
    start = datetime(2025, 1, 1, tzinfo=UTC)
    batch: list[dict[str, object]] = []
    invitations: list[dict[str, object]] = []
    for index in range(count):
        if rng.random() < 0.8:
            name = f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}"
        else:
            name = f"{rng.choice(GIVEN_ROMAJI)} {rng.choice(ROMAJI)}"
        email = f"{prefix}{index:06d}@example.jp"
        user_id = uuid.uuid4().hex
        batch.append(
            {
                "id": user_id,
                "contract_id": contract_id,
                "email": email,
                "email_key": email,
                "email_verified": True,
                "name": name,
                "name_key": name_key(name),
                "role": Role.ADMIN if rng.random() < 0.01 else Role.USER,
                "login_method": LoginMethod.GOOGLE if rng.random() < 0.2 else LoginMethod.PASSWORD,
                "locale": "ja",
                "failed_logins": 0,
                "locked_at": start if rng.random() < 0.005 else None,
                "state_version": 1,
                "two_factor_enrolled_at": start if rng.random() < 0.3 else None,
                "created_at": start + timedelta(seconds=index),
            }
        )
        if rng.random() < 0.02:
            invitations.append(
                {
                    "id": uuid.uuid4().hex,
                    "contract_id": contract_id,
                    "user_id": user_id,
                    "invited_by": "cli:bench",
                    "created_at": start,
                    "sent_at": start,
                    "registered_at": None,
                }
            )
        if len(batch) == 5000:
            _insert_users(batch)
            batch = []
    if batch:
        _insert_users(batch)
    if invitations:
        db.session.execute(insert(Invitation), invitations)
    db.session.commit()


def seed_sign_ins(contract_id: str, rng: random.Random) -> str:
    """200,000 sign-in events among the contract's users, 2,000 of them one user's: the
    detail shows that user's last 20 and the last sign-in."""
    ids = db.session.scalars(select(User.id).where(User.contract_id == contract_id)).all()
    chosen = ids[len(ids) // 2]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch: list[dict[str, object]] = []
    for index in range(200_000):
        user_id = chosen if index % 100 == 0 else rng.choice(ids)
        refused = rng.random() < 0.2
        batch.append(
            {
                "at": start + timedelta(seconds=index),
                "event": "login",
                "outcome": "refused" if refused else "ok",
                "reason": "wrong_password" if refused else None,
                "user_id": user_id,
                "contract_id": contract_id,
                "details": {},
            }
        )
        if len(batch) == 10_000:
            db.session.execute(insert(AuditEvent), batch)
            batch = []
    db.session.commit()
    vacuum_analyze("audit_events")
    return chosen


def timed_detail(contract_id: str, user_id: str, runs: int) -> tuple[float, float, int]:
    user_detail(contract_id, user_id)  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        detail = user_detail(contract_id, user_id)
        samples.append((time.perf_counter() - started) * 1000)
        db.session.rollback()  # a request's own session each time
    return *p50_p95(samples), len(detail.recent_sign_ins)


def timed(query: UserListQuery, runs: int) -> tuple[float, float, int]:
    list_users(query)  # warm-up
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        page = list_users(query)
        samples.append((time.perf_counter() - started) * 1000)
    return *p50_p95(samples), len(page.rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--others", type=int, default=3)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--explain", action="store_true", help="print each case's plans")
    args = parser.parse_args()
    server = PostgresServer().start()
    try:
        app = migrated_app(server, "bench_list")
        rng = random.Random(7)
        with app.app_context():
            started = time.perf_counter()
            ids = []
            for index in range(1 + args.others):
                contract = Contract(name=f"bench-{index}", plan="basic")
                db.session.add(contract)
                db.session.commit()
                ids.append(contract.id)
                size = args.users if index == 0 else 10_000
                seed_contract(contract.id, size, rng, f"c{index}u")
            db.session.commit()
            vacuum_analyze()
            seeded = time.perf_counter() - started
            target = ids[0]
            deep_row = db.session.execute(
                select(User.name_key, User.id)
                .where(User.contract_id == target)
                .order_by(User.name_key, User.id)
                .offset(args.users // 2)
                .limit(1)
            ).one()
            deep = _encode_cursor(UserListQuery(target, sort=UserSort.NAME), *deep_row)
            cases: list[tuple[str, UserListQuery]] = []
            for sort in UserSort:
                for is_descending in (False, True):
                    label = f"sort {sort.value} {'desc' if is_descending else 'asc'}"
                    cases.append(
                        (label, UserListQuery(target, sort=sort, is_descending=is_descending))
                    )
            cases.append(
                (
                    f"page {args.users // 2:,} rows deep (name)",
                    UserListQuery(target, sort=UserSort.NAME, after=deep),
                )
            )
            filters = {
                "filter method=google": UserFilters(method=LoginMethod.GOOGLE),
                "filter role=admin": UserFilters(role=Role.ADMIN),
                "filter locked": UserFilters(is_locked=True),
                "filter 2FA enrolled": UserFilters(has_two_factor=True),
                "filter invited": UserFilters(is_invited=True),
            }
            for label, value in filters.items():
                cases.append((label, UserListQuery(target, filters=value)))
            for label, text in (
                ("search 田中 (2-kanji surname)", "田中"),
                ("search 中村 翔 (full name)", "中村 翔"),
                ("search email part 04567", "04567"),
                ("search romaji 'haruto kato'", "haruto kato"),
            ):
                cases.append((label, UserListQuery(target, search=text)))
            print(f"machine: {cpu_model()}, {os.cpu_count()} cores; PostgreSQL {server.bindir}")
            print(
                f"data: one contract of {args.users:,} users + {args.others} of 10,000 "
                f"(seeded in {seeded:.0f} s); page size 50; {args.runs} runs per case"
            )
            print(f"{'case':44} {'p50 ms':>8} {'p95 ms':>8} {'rows':>5}")
            for label, query in cases:
                if args.explain:
                    explain(label, lambda query=query: list_users(query))
                p50, p95, rows = timed(query, args.runs)
                print(f"{label:44} {p50:8.1f} {p95:8.1f} {rows:5d}")
            detail_user = seed_sign_ins(target, rng)
            p50, p95, rows = timed_detail(target, detail_user, args.runs)
            print(
                f"{'user detail (2,000 own of 200,000 events)':44} {p50:8.1f} {p95:8.1f} {rows:5d}"
            )
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
