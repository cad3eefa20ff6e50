"""The machine: CPU model, and busy CPU seconds of the machine and of the server's processes
(/proc), so that a measurement can say who used the cores."""

from __future__ import annotations

import os
import platform
import re
import shutil
import sqlite3
import subprocess
import time
from pathlib import Path


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_busy_seconds() -> float | None:
    """Busy CPU seconds of the whole machine, summed over its cores (/proc/stat)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    guest = sum(values[8:10])  # already counted in user and nice
    return (sum(values) - idle - guest) / os.sysconf("SC_CLK_TCK")


def background_cpu_cores(seconds: float = 1.0) -> float | None:
    """Cores busy on this machine before the benchmark starts anything (noise check)."""
    before = machine_busy_seconds()
    time.sleep(seconds)
    after = machine_busy_seconds()
    return None if before is None or after is None else round((after - before) / seconds, 2)


def process_tree_cpu_seconds(pid: int) -> float | None:
    """utime+stime of ``pid`` and its direct children (gunicorn master and workers; the
    postmaster and its backends)."""
    ticks = os.sysconf("SC_CLK_TCK")
    if not Path(f"/proc/{pid}").exists():
        return None
    pids = [pid, *children(pid)]
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / ticks


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError):
        pass
    return None


def _version_of(argv: list[str]) -> str | None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\d+\.\d+(\.\d+)?", done.stdout + done.stderr)
    return match.group(0) if match else None


def postgres_version() -> str | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    binary = str(found[-1]) if found else shutil.which("postgres")
    return _version_of([binary, "--version"]) if binary else None


def redis_version() -> str | None:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    return _version_of([binary, "--version"]) if Path(binary).exists() else None


def describe(cores: int) -> dict[str, object]:
    """What the figures depend on: CPU, cores, RAM, Python and the database versions."""
    return {
        "cpu_model": cpu_model(),
        "cores": cores,
        "local_cores": os.cpu_count() or 1,
        "memory_gib": memory_gib(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version(),
        "redis": redis_version(),
        "background_cpu_cores": background_cpu_cores(),
    }


def children(pid: int) -> list[int]:
    """Direct children of ``pid`` (gunicorn's workers, PostgreSQL's backends)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found.extend(int(c) for c in (task / "children").read_text().split())
    except OSError:
        pass
    return found
