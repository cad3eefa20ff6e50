"""The report: the backend's label and the table printed before the JSON line."""

from __future__ import annotations

import argparse
from typing import Any

CAVEAT = (
    "The load generator runs on the same machine as the server and takes CPU from it "
    "(see client_cpu_cores); per-core figures are therefore pessimistic for the server."
)


def backend_label(args: argparse.Namespace) -> str:
    if args.url:
        return "remote"
    database = (args.database_url or "sqlite").split(":", 1)[0].split("+", 1)[0]
    store = "redis" if args.redis_url else "sql"
    return f"{database}+{store}-store"


def print_table(report: dict[str, Any]) -> None:
    machine, settings = report["machine"], report["settings"]
    print()
    print(f"machine:  {machine['cpu_model']}, {machine['cores']} cores, Python {machine['python']}")
    print(
        f"settings: {settings['workers'] or '?'} gunicorn workers, "
        f"{settings['concurrency']} client threads, backend {settings['backend']}, "
        f"{settings['duration_s']} s per flow, "
        f"argon2id m={settings['argon2']['memory_kib']} t={settings['argon2']['time_cost']} "
        f"p={settings['argon2']['parallelism']}"
    )
    header = (
        f"{'flow':<12}{'count':>7}{'errors':>7}{'per s':>8}{'per s/core':>11}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'cpu: client':>12}{'server':>7}{'other':>7}"
        f"{'server cpu ms/flow':>20}"
    )
    print(header)
    print("-" * len(header))

    def fmt(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    for name, flow in report["flows"].items():
        print(
            f"{name:<12}{flow['count']:>7}{flow['errors']:>7}"
            f"{fmt(flow['per_second'], '.1f'):>8}{fmt(flow['per_second_per_core'], '.2f'):>11}"
            f"{fmt(flow['p50_ms'], '.1f'):>9}{fmt(flow['p99_ms'], '.1f'):>9}"
            f"{fmt(flow['client_cpu_cores'], '.2f'):>12}"
            f"{fmt(flow['server_cpu_cores'], '.2f'):>7}{fmt(flow['other_cpu_cores'], '.2f'):>7}"
            f"{fmt(flow['server_cpu_ms_per_flow'], '.1f'):>20}"
        )
    argon = report.get("argon2_hashes_per_second_per_core")
    if argon is not None:
        local = report["machine"]["local_cores"]
        print(
            f"{'argon2id':<12}{'':>7}{'':>7}{argon * local:>8.1f}{argon:>11.2f}"
            f"   (bare hashes in {local} processes; "
            f"{report['argon2_cpu_ms_per_hash']} cpu ms/hash)"
        )
    ratio = report.get("login_to_argon2_ratio")
    if ratio is not None:
        print(f"login rate / argon2 rate, per core: {ratio:.2f}")
    share = report.get("argon2_share_of_login_server_cpu")
    if share is not None:
        print(f"argon2id share of a login's server CPU: {share:.0%}")
    print(
        "cpu: cores busy on average during the measured window in the benchmark client, in "
        "the gunicorn processes, and in anything else on this machine."
    )
    background = report["machine"].get("background_cpu_cores") or 0.0
    other = max([f["other_cpu_cores"] or 0.0 for f in report["flows"].values()], default=0.0)
    if background > 0.2 or other > 0.2:
        print(
            f"WARNING: other processes were busy ({background} cores in the second before the "
            f"run, up to {other} during a measurement); the rates are disturbed, run again on "
            "a quiet machine."
        )
    print(f"NOTE: {CAVEAT}")
