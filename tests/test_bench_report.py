"""The bench's arithmetic (issue 13): how its targets table judges figures, and its profile
summary. No server: the bench itself runs by `make bench`, never in the suite."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

from bench.loginbench.profile import flame_svg
from bench.loginbench.profile import frame_name
from bench.loginbench.profile import merge_raw
from bench.loginbench.profile import top_functions
from bench.loginbench.targets import targets


def flow(cpu_ms: float, p50: float = 100.0, p99: float = 150.0) -> dict[str, Any]:
    return {
        "server_cpu_ms_per_flow": cpu_ms,
        "per_server_cpu_second": 1000 / cpu_ms,
        "services_cpu_ms_per_flow": None,
        "p50_ms": p50,
        "p99_ms": p99,
    }


def report(**backends: dict[str, Any]) -> dict[str, Any]:
    return {
        "argon2": {"cpu_ms_per_verification": 30.0, "verifications_per_cpu_second": 1000 / 30},
        "backends": backends,
    }


def by_target(rows: list[dict[str, Any]], start: str, backend: str = "") -> dict[str, Any]:
    [row] = [r for r in rows if r["target"].startswith(start) and backend in r["backend"]]
    return row


def test_issue13_sign_in_target_is_server_cpu_per_sign_in_against_one_argon2_verify() -> None:
    # 35 ms per sign-in against 30 ms per verification: 30/35 = 0.857 >= 0.85, met;
    # 36 ms: 0.833, not met (the 1.18 x one verification of issue 13).
    met = targets(report(sqlite={"flows": {"login": flow(35.0)}}))
    missed = targets(report(sqlite={"flows": {"login": flow(36.0)}}))
    assert by_target(met, "sign-ins")["met"] is True
    assert by_target(missed, "sign-ins")["met"] is False
    assert by_target(missed, "sign-ins")["x_goal"] == round((30 / 36) / 0.85, 2)


def test_issue13_grant_targets_are_per_server_cpu_second() -> None:
    rows = targets(
        report(sqlite={"flows": {"refresh": flow(2.0), "client_credentials": flow(1.3)}})
    )
    assert by_target(rows, "refresh grants")["met"] is True  # 500 per CPU-s
    assert by_target(rows, "client_credentials grants")["met"] is False  # 769 < 800


def test_issue13_postgres_within_25_percent_of_sqlite_per_flow() -> None:
    rows = targets(
        report(
            **{
                "sqlite+sql-store": {"flows": {"refresh": flow(10.0), "login": flow(100.0)}},
                "postgresql+redis-store": {"flows": {"refresh": flow(13.0), "login": flow(140.0)}},
            }
        )
    )
    assert by_target(rows, "refresh per server-CPU-s, PostgreSQL")["met"] is True  # 0.77
    assert by_target(rows, "login per server-CPU-s, PostgreSQL")["met"] is False  # 0.71


def test_issue13_p99_over_p50_counts_only_when_the_server_kept_up() -> None:
    def load(drain: float, errors: int) -> dict[str, Any]:
        phase = {"offered_per_second": 8.0, "started": 100, "shed": 0, "p99_ms": 300.0}
        return {
            "saturation_per_second": 10.0,
            "overload_seconds": 60,
            "at_80_percent": {
                "poisson": {**phase, "p50_ms": 200.0, "p99_ms": 300.0, "drain_s": drain}
            },
            "at_2x": {**phase, "errors": errors},
        }

    steady = targets(
        report(sqlite={"flows": {"login": flow(100.0)}, "load": {"login": load(0.1, 0)}})
    )
    queued = targets(
        report(sqlite={"flows": {"login": flow(100.0)}, "load": {"login": load(9.0, 3)}})
    )
    assert by_target(steady, "login: p99 / p50 at 80% of saturation, Poisson")["met"] is True
    assert by_target(steady, "login: errors")["met"] is True
    assert by_target(queued, "login: p99 / p50 at 80% of saturation, Poisson")["met"] is False
    assert (
        "FELL BEHIND"
        in by_target(queued, "login: p99 / p50 at 80% of saturation, Pois")["measured"]
    )
    assert by_target(queued, "login: errors")["met"] is False


def test_issue13_p99_over_p50_has_a_row_per_arrival_process_measured_or_not() -> None:
    """Poisson arrivals queue more than the evenly spaced ones of wrk2 and k6 (floor ~4 at
    80 % on 2 workers against 1.0): each has its row, the same goal; one not measured says so
    and gives no verdict."""

    def phase(p50: float, p99: float) -> dict[str, Any]:
        return {"offered_per_second": 80.0, "p50_ms": p50, "p99_ms": p99, "drain_s": 0.0}

    load = {
        "saturation_per_second": 100.0,
        "overload_seconds": 60,
        "at_80_percent": {"poisson": phase(10.0, 45.0), "uniform": phase(10.0, 18.0)},
    }
    both = targets(report(sqlite={"flows": {"refresh": flow(2.0)}, "load": {"refresh": load}}))
    poisson = by_target(both, "refresh: p99 / p50 at 80% of saturation, Poisson")
    uniform = by_target(both, "refresh: p99 / p50 at 80% of saturation, uniform")
    assert (poisson["met"], uniform["met"]) == (False, True)
    assert poisson["goal"] == uniform["goal"] == "<= 2"
    assert "wrk2, k6" in uniform["target"]
    load["at_80_percent"] = {"poisson": phase(10.0, 45.0)}
    one = targets(report(sqlite={"flows": {"refresh": flow(2.0)}, "load": {"refresh": load}}))
    missing = by_target(one, "refresh: p99 / p50 at 80% of saturation, uniform")
    assert missing["met"] is None and "not measured" in missing["measured"]


def test_issue13_profile_summary_ranks_own_time_and_draws_a_flame_graph() -> None:
    assert (
        frame_name("execute (/x/.venv/lib/python3.11/site-packages/sqlalchemy/orm/session.py:12)")
        == "execute (sqlalchemy/orm/session.py)"
    )
    assert frame_name("finish (/work/wt/idp/login/views.py:190)") == "finish (idp/login/views.py)"
    stacks: Counter[str] = Counter()
    lib = "/usr/lib/python3.11"
    pool = f"run ({lib}/threading.py:9);_worker ({lib}/concurrent/futures/thread.py:8"
    idle = merge_raw(
        "a (m.py:1);b (m.py:2) 4\na (m.py:1);b (m.py:3) 2\n"
        f"a (m.py:1);c (n.py:5) 3\na (m.py:1) 1\n{pool}) 4\n",
        stacks,
    )
    assert idle == 4  # the background pool's threads waiting for work
    assert stacks == Counter({"a (m.py);b (m.py)": 6, "a (m.py);c (n.py)": 3, "a (m.py)": 1})
    top = top_functions(stacks, idle).splitlines()
    assert "4 samples of threads blocked waiting" in top[0]
    assert top[4].split() == ["60.0", "6", "b", "(m.py)"]
    svg = ET.fromstring(flame_svg(stacks, "login"))
    titles = [t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}title")]
    assert any(t.startswith("b (m.py) — 6 samples, 60.0 %") for t in titles)
