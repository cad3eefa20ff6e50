"""The report: the machine, a table of flows per backend, the load mode's phases, and the
targets of issue 13, printed before the JSON line."""

from __future__ import annotations

from typing import Any

CAVEAT = (
    "The load generator runs on the same machine as the server and takes CPU from it "
    "(see client_cpu_cores); rates per second are therefore pessimistic for the server. "
    "Figures per server-CPU-second are the least disturbed."
)


def fmt(value: Any, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def print_machine(report: dict[str, Any]) -> None:
    machine, settings = report["machine"], report["settings"]
    argon2 = settings["argon2"]
    print()
    print(
        f"machine:  {machine['cpu_model']}, {machine['cores']} cores, "
        f"{fmt(machine['memory_gib'], '.1f')} GiB RAM, Python {machine['python']}, "
        f"SQLite {machine['sqlite']}, PostgreSQL {machine['postgresql'] or '-'}, "
        f"Redis {machine['redis'] or '-'}"
    )
    print(
        f"settings: {settings['workers'] or '?'} gunicorn workers, "
        f"{settings['concurrency']} client threads, {settings['duration_s']:g} s per flow, "
        f"argon2id m={argon2['memory_kib']} KiB t={argon2['time_cost']} "
        f"p={argon2['parallelism']}"
        + (", PROFILED (py-spy attached: CPU figures inflated)" if settings["profile"] else "")
    )
    serve = " ".join([settings.get("serve_args") or "", *(settings.get("server_env") or [])])
    if serve.strip():
        print(f"server:   idp serve {serve.strip()}")


def print_flows(label: str, flows: dict[str, Any]) -> None:
    print()
    header = (
        f"{label:<23}{'count':>6}{'errors':>7}{'per s':>8}{'p50 ms':>8}{'p99 ms':>8}"
        f"{'cpu: client':>12}{'server':>7}{'db+store':>9}{'other':>6}"
        f"{'server ms/flow':>15}{'per server-CPU-s':>17}"
    )
    print(header)
    print("-" * len(header))
    for name, flow in flows.items():
        print(
            f"{name:<23}{flow['count']:>6}{flow['errors']:>7}"
            f"{fmt(flow['per_second'], '.1f'):>8}"
            f"{fmt(flow['p50_ms'], '.1f'):>8}{fmt(flow['p99_ms'], '.1f'):>8}"
            f"{fmt(flow['client_cpu_cores'], '.2f'):>12}"
            f"{fmt(flow['server_cpu_cores'], '.2f'):>7}"
            f"{fmt(flow['services_cpu_cores'], '.2f'):>9}"
            f"{fmt(flow['other_cpu_cores'], '.2f'):>6}"
            f"{fmt(flow['server_cpu_ms_per_flow'], '.2f'):>15}"
            f"{fmt(flow['per_server_cpu_second'], '.1f'):>17}"
        )


def print_load(label: str, load: dict[str, Any]) -> None:
    print()
    header = (
        f"{'load ' + label:<32}{'offered/s':>10}{'started':>9}{'done':>8}{'errors':>7}"
        f"{'shed':>6}{'p50 ms':>9}{'p99 ms':>9}{'p99/p50':>8}{'drain s':>8}"
        f"{'client':>8}{'server':>7}"
    )
    print(header)
    print("-" * len(header))
    for flow, phases in load.items():
        named = [(f"80% {a}", one) for a, one in (phases.get("at_80_percent") or {}).items()]
        if phases.get("at_2x"):
            named.append((f"2x {phases['at_2x'].get('arrivals', '')}", phases["at_2x"]))
        for phase, one in named:
            spread = one["p99_ms"] / one["p50_ms"] if one["p50_ms"] and one["p99_ms"] else None
            print(
                f"{flow + ' ' + phase:<32}"
                f"{one['offered_per_second']:>10.1f}{one['started']:>9}{one['count']:>8}"
                f"{one['errors']:>7}{one['shed']:>6}"
                f"{fmt(one['p50_ms'], '.0f'):>9}{fmt(one['p99_ms'], '.0f'):>9}"
                f"{fmt(spread, '.2f'):>8}{fmt(one.get('drain_s'), '.1f'):>8}"
                f"{fmt(one.get('client_cpu_cores'), '.2f'):>8}"
                f"{fmt(one.get('server_cpu_cores'), '.2f'):>7}"
            )
            if one.get("error_kinds"):
                print(f"{'':<4}errors by step: {one['error_kinds']}")


def print_targets(rows: list[dict[str, Any]]) -> None:
    print()
    if not rows:
        print(
            "targets: none computed (with --url the server's CPU cannot be seen; --load "
            "gives the latency and error targets)"
        )
        return
    width = max([len(r["target"]) for r in rows] + [6])
    header = f"{'target':<{width}}  {'backend':<24}{'goal':<9}{'x goal':>7}  {'met':<4} measured"
    print(header)
    print("-" * len(header))
    for row in rows:
        met = "-" if row["met"] is None else ("yes" if row["met"] else "NO")
        print(
            f"{row['target']:<{width}}  {row['backend']:<24}{row['goal']:<9}"
            f"{fmt(row['x_goal'], '.2f'):>7}  {met:<4} {row['measured']}"
        )


def print_report(report: dict[str, Any]) -> None:
    print_machine(report)
    for label, measured in report["backends"].items():
        print_flows(label, measured["flows"])
        if measured.get("load"):
            print_load(label, measured["load"])
    argon2 = report.get("argon2")
    if argon2:
        print(
            f"argon2id verify (bare, {argon2['processes']} processes): "
            f"{argon2['cpu_ms_per_verification']:.1f} CPU ms each = "
            f"{argon2['verifications_per_cpu_second']:.1f} per CPU-s "
            f"({argon2['per_core_per_second']:.1f}/s wall per process)"
        )
    print(
        "cpu: cores busy on average in the measured window: the bench client, the gunicorn "
        "master+workers (server), PostgreSQL+Redis when started here (db+store), anything else."
    )
    print_targets(report["targets"])
    background = report["machine"].get("background_cpu_cores") or 0.0
    other = max(
        [
            f["other_cpu_cores"] or 0.0
            for b in report["backends"].values()
            for f in b["flows"].values()
        ],
        default=0.0,
    )
    if background > 0.2 or other > 0.2:
        print(
            f"WARNING: other processes were busy ({background} cores in the second before the "
            f"run, up to {other} during a measurement); rates and latencies are disturbed, "
            "run again on a quiet machine (per server-CPU-s figures less so)."
        )
    print(f"NOTE: {CAVEAT}")
