"""The machine: CPU model, and busy CPU seconds of the machine and of the server's processes
(/proc), so that a measurement can say who used the cores."""

from __future__ import annotations

import os
import platform
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
    """utime+stime of ``pid`` and its direct children (gunicorn master and workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            pids.extend(int(c) for c in children)
    except OSError:
        return None
    total = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / ticks
