"""The targets of issue 13 ("Speed"), each from figures of the same run: the measured figure,
the goal, ``x goal`` (how many times the goal the figure reaches: 1.00 or more is met, for
"at most" goals the goal divided by the figure) and met or not."""

from __future__ import annotations

from typing import Any

#: Password sign-ins per server-CPU-second ≥ this × bare argon2id verifications per CPU-second
#: (server CPU per sign-in ≤ 1 / 0.85 ≈ 1.18 verifications).
LOGIN_SHARE = 0.85
REFRESH_PER_CPU_S = 500.0
CLIENT_CREDENTIALS_PER_CPU_S = 800.0
#: PostgreSQL + Redis: per server-CPU-second at least this × the SQLite figure.
BACKEND_RATIO = 0.75
#: p99 ≤ this × p50 at LOAD_SHARE of the saturating rate; no error at OVERLOAD × it.
P99_OVER_P50 = 2.0
LOAD_SHARE = 0.8
OVERLOAD = 2.0
#: The open loop's arrival processes, each with its own p99/p50 row: Poisson (independent
#: users; the bench's default) and uniform (evenly spaced: what wrk2 and k6's
#: constant-arrival-rate executor offer). With each, the floor of p99/p50 at 80 % that a
#: perfect server with 2 workers reaches (bench/queue_floor.py, every request the same
#: time; one queue shared by the workers – a queue per worker, as gthread's).
ARRIVALS = {
    "poisson": ("Poisson arrivals", "4.0-4.9"),
    "uniform": ("uniform arrivals (wrk2, k6)", "1.0-3.5"),
}
CLI_HELP_S = 0.3
CLI_COMMAND_S = 1.0


def _row(
    target: str,
    backend: str,
    measured: str,
    goal: str,
    times_goal: float | None,
    valid: bool = True,
) -> dict[str, Any]:
    return {
        "target": target,
        "backend": backend,
        "measured": measured,
        "goal": goal,
        "x_goal": None if times_goal is None else round(times_goal, 2),
        "met": None if times_goal is None else valid and times_goal >= 1.0,
    }


def kept_up(phase: dict[str, Any], closed_p99_ms: float | None) -> bool:
    """Whether the server served the open loop's arrivals as they came: the last flow ended
    within the closed loop's p99 (at least 1 s) of the last arrival. Otherwise a backlog grew
    through the phase and its percentiles are those of a queue, not of 80 % load."""
    drain = phase.get("drain_s")
    return drain is None or drain <= max(1.0, 2 * (closed_p99_ms or 0) / 1000)


def spread_row(
    flow: str,
    label: str,
    load: dict[str, Any],
    near: dict[str, Any] | None,
    arrivals: str,
    flows: dict[str, Any],
) -> dict[str, Any]:
    """p99 / p50 of the 80 % phase with one arrival process (not met when the server fell
    behind; no verdict when the phase was not run)."""
    name, floor = ARRIVALS[arrivals]
    target = f"{flow}: p99 / p50 at {LOAD_SHARE:.0%} of saturation, {name}"
    if near is None:
        return _row(
            target, label, f"not measured (--arrivals {arrivals})", f"<= {P99_OVER_P50:g}", None
        )
    if not near.get("p50_ms") or not near.get("p99_ms"):
        return _row(target, label, "no flow completed", f"<= {P99_OVER_P50:g}", 0.0)
    spread = near["p99_ms"] / near["p50_ms"]
    steady = kept_up(near, flows[flow].get("p99_ms"))
    behind = "" if steady else f"; FELL BEHIND: {near['drain_s']:.1f} s to drain"
    return _row(
        target,
        label,
        f"{spread:.2f} (p50 {near['p50_ms']:.0f} ms, p99 {near['p99_ms']:.0f} ms at "
        f"{near['offered_per_second']:.1f}/s; saturation {load['saturation_per_second']:.1f}/s; "
        f"queueing floor {floor}{behind})",
        f"<= {P99_OVER_P50:g}",
        P99_OVER_P50 / spread,
        steady,
    )


def targets(report: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    ceiling = report.get("argon2") or {}
    verify_rate = ceiling.get("verifications_per_cpu_second")
    backends: dict[str, Any] = report["backends"]
    for label, measured in backends.items():
        flows = measured["flows"]
        login = flows.get("login") or {}
        rate = login.get("per_server_cpu_second")
        if rate and verify_rate:
            share = rate / verify_rate
            cpu_ratio = login["server_cpu_ms_per_flow"] / ceiling["cpu_ms_per_verification"]
            rows.append(
                _row(
                    "sign-ins per server-CPU-s / argon2id verify per CPU-s",
                    label,
                    f"{share:.2f} ({rate:.1f} vs {verify_rate:.1f}; CPU per sign-in "
                    f"= {cpu_ratio:.2f} verifications)",
                    f">= {LOGIN_SHARE}",
                    share / LOGIN_SHARE,
                )
            )
        for flow, goal in (
            ("refresh", REFRESH_PER_CPU_S),
            ("client_credentials", CLIENT_CREDENTIALS_PER_CPU_S),
        ):
            rate = (flows.get(flow) or {}).get("per_server_cpu_second")
            if rate:
                rows.append(
                    _row(
                        f"{flow} grants per server-CPU-s",
                        label,
                        f"{rate:.1f} ({flows[flow]['server_cpu_ms_per_flow']:.2f} ms)",
                        f">= {goal:g}",
                        rate / goal,
                    )
                )
    labels = list(backends)
    sqlite = next((b for b in labels if b.startswith("sqlite")), None)
    for other in (b for b in labels if b.startswith("postgresql")):
        if sqlite is None:
            break
        for flow, base in backends[sqlite]["flows"].items():
            mine = backends[other]["flows"].get(flow) or {}
            if not base.get("per_server_cpu_second") or not mine.get("per_server_cpu_second"):
                continue
            ratio = mine["per_server_cpu_second"] / base["per_server_cpu_second"]
            with_services = ""
            if mine.get("services_cpu_ms_per_flow") is not None:
                total = mine["server_cpu_ms_per_flow"] + mine["services_cpu_ms_per_flow"]
                with_services = (
                    f"; with PostgreSQL+Redis CPU {base['server_cpu_ms_per_flow'] / total:.2f}"
                )
            rows.append(
                _row(
                    f"{flow} per server-CPU-s, PostgreSQL+Redis / SQLite",
                    other,
                    f"{ratio:.2f} ({mine['per_server_cpu_second']:.1f} vs "
                    f"{base['per_server_cpu_second']:.1f}{with_services})",
                    f">= {BACKEND_RATIO}",
                    ratio / BACKEND_RATIO,
                )
            )
    for label, measured in backends.items():
        for flow, load in (measured.get("load") or {}).items():
            phases = load.get("at_80_percent") or {}
            for arrivals in ARRIVALS:  # both rows, measured or not
                rows.append(
                    spread_row(flow, label, load, phases.get(arrivals), arrivals, measured["flows"])
                )
            over = load.get("at_2x") or {}
            if over:
                errors = over["errors"]
                rows.append(
                    _row(
                        f"{flow}: errors at {OVERLOAD:g} x saturation for "
                        f"{load['overload_seconds']:g} s",
                        label,
                        f"{errors} of {over['started']} (shed {over['shed']}, p99 "
                        f"{over['p99_ms'] or 0:.0f} ms, {over.get('arrivals', 'poisson')} "
                        "arrivals)",
                        "0",
                        1.0 if errors == 0 else 0.0,
                    )
                )
    cli = report.get("cli") or {}
    if cli.get("help_s") is not None:
        rows.append(
            _row(
                "idp --help (wall)",
                "-",
                f"{cli['help_s']:.2f} s",
                f"< {CLI_HELP_S} s",
                CLI_HELP_S / cli["help_s"],
            )
        )
    if cli.get("command_s") is not None:
        rows.append(
            _row(
                f"idp {cli['command']} (wall)",
                "-",
                f"{cli['command_s']:.2f} s",
                f"< {CLI_COMMAND_S:g} s",
                CLI_COMMAND_S / cli["command_s"],
            )
        )
    return rows
