"""Runs one flow: threads set up their workers, wait for each other, warm up, then the flows
that finish inside the measured window are counted (with the CPU used meanwhile)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from loginbench.machine import machine_busy_seconds
from loginbench.machine import process_tree_cpu_seconds
from loginbench.steps import TIMEOUT
from loginbench.steps import FlowError

WARMUP_SECONDS = 2.0
MAX_ERROR_SAMPLES = 5


@dataclass
class PhaseResult:
    name: str
    duration: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    setup_errors: list[str] = field(default_factory=list)
    client_cpu_cores: float | None = None
    server_cpu_cores: float | None = None
    machine_cpu_cores: float | None = None

    def summary(self, cores: int) -> dict[str, Any]:
        count = len(self.latencies)
        per_second = count / self.duration
        ordered = sorted(self.latencies)
        return {
            "count": count,
            "errors": self.errors,
            "per_second": round(per_second, 2),
            "per_second_per_core": round(per_second / cores, 2),
            "p50_ms": round(percentile(ordered, 50) * 1000, 1) if ordered else None,
            "p99_ms": round(percentile(ordered, 99) * 1000, 1) if ordered else None,
            "server_cpu_ms_per_flow": (
                round(self.server_cpu_cores * self.duration * 1000 / count, 1)
                if self.server_cpu_cores is not None and count
                else None
            ),
            "client_cpu_cores": self.client_cpu_cores,
            "server_cpu_cores": self.server_cpu_cores,
            "machine_cpu_cores": self.machine_cpu_cores,
            "other_cpu_cores": self.other_cpu_cores,
        }

    @property
    def other_cpu_cores(self) -> float | None:
        """CPU used by neither the client nor the server: noise from other processes."""
        machine, client, server = (
            self.machine_cpu_cores,
            self.client_cpu_cores,
            self.server_cpu_cores,
        )
        if machine is None or client is None or server is None:
            return None
        return round(max(machine - client - server, 0.0), 2)


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def run_phase(
    name: str,
    make_worker: Callable[[], Any],
    concurrency: int,
    duration: float,
    server_pid: int | None,
) -> PhaseResult:
    """Each thread: set up, wait for all, then loop; warm up, then count the flows that
    finish inside the measured window."""
    result = PhaseResult(name, duration)
    lock = threading.Lock()
    window: dict[str, float] = {}

    def open_window() -> None:  # runs once, when every thread has finished its setup
        window["start"] = time.perf_counter() + WARMUP_SECONDS
        window["end"] = window["start"] + duration

    ready = threading.Barrier(concurrency + 1, action=open_window)
    stop = threading.Event()

    def record_error(error: Exception) -> None:
        step = error.step if isinstance(error, FlowError) else type(error).__name__
        with lock:
            result.errors += 1
            result.error_kinds[step] += 1
            if len(result.error_samples) < MAX_ERROR_SAMPLES:
                result.error_samples.append(str(error)[:600])

    def loop() -> None:
        worker = make_worker()
        try:
            worker.setup()
        except Exception as error:  # reported; the thread then only retries its setup
            with lock:
                result.setup_errors.append(str(error)[:600])
        ready.wait()
        while not stop.is_set():
            started = time.perf_counter()
            try:
                worker.run_once()
            except Exception as error:
                if window["start"] <= time.perf_counter() <= window["end"]:
                    record_error(error)
                continue
            ended = time.perf_counter()
            if window["start"] <= ended <= window["end"] and started >= window["start"]:
                with lock:
                    result.latencies.append(ended - started)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    ready.wait()
    time.sleep(max(0.0, window["start"] - time.perf_counter()))
    client_cpu = time.process_time()
    server_cpu = process_tree_cpu_seconds(server_pid) if server_pid else None
    machine_cpu = machine_busy_seconds()
    time.sleep(duration)
    elapsed = duration
    result.client_cpu_cores = round((time.process_time() - client_cpu) / elapsed, 2)
    machine_now = machine_busy_seconds()
    if machine_cpu is not None and machine_now is not None:
        result.machine_cpu_cores = round((machine_now - machine_cpu) / elapsed, 2)
    if server_cpu is not None and server_pid:
        server_now = process_tree_cpu_seconds(server_pid)
        if server_now is not None:
            result.server_cpu_cores = round((server_now - server_cpu) / elapsed, 2)
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT + 5)
    return result
