"""Runs one flow closed loop (``run_phase``: threads set up their workers, wait for each
other, warm up, then the flows that finish inside the measured window are counted, with the
CPU used meanwhile); the phase's figures (``PhaseResult``) and the CPU window, which the open
loop of the load mode (``openloop.py``) shares."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Protocol

import requests

from loginbench.machine import children
from loginbench.machine import machine_busy_seconds
from loginbench.machine import process_tree_cpu_seconds
from loginbench.steps import TIMEOUT
from loginbench.steps import FlowError

WARMUP_SECONDS = 2.0
MAX_ERROR_SAMPLES = 5


class NotStarted(Exception):
    """Open loop: a flow no client thread could start within ``TIMEOUT`` of its arrival."""

    step = f"not started within {TIMEOUT} s (all client threads busy)"


class WindowProfiler(Protocol):
    def start(self, flow: str, pids: list[int], seconds: float) -> None: ...


@dataclass
class PhaseResult:
    name: str
    duration: float
    latencies: list[float] = field(default_factory=list)
    #: Closed loop: flows that ended inside the window, whenever they started (the rate and
    #: the CPU per flow: the CPU of the flows in flight at either edge of the window then
    #: about cancels out; ``latencies`` has only the flows wholly inside).
    completed: int | None = None
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    #: Answers the server gave by design under load (429/503 with Retry-After).
    shed: int = 0
    setup_errors: list[str] = field(default_factory=list)
    client_cpu_cores: float | None = None
    server_cpu_cores: float | None = None
    services_cpu_cores: float | None = None
    machine_cpu_cores: float | None = None
    #: Open loop: the arrival rate asked for, and the flows started.
    offered_per_second: float | None = None
    started: int = 0
    #: Open loop: seconds after the last arrival until the last flow had finished.
    drain_seconds: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_error(self, error: BaseException) -> None:
        if isinstance(error, FlowError | NotStarted):
            step = error.step
        elif isinstance(error, requests.Timeout | TimeoutError):
            step = "timeout"
        else:
            step = type(error).__name__
        with self.lock:
            if isinstance(error, FlowError) and error.shed:
                self.shed += 1
                return
            self.errors += 1
            self.error_kinds[step] += 1
            if len(self.error_samples) < MAX_ERROR_SAMPLES:
                self.error_samples.append(str(error)[:600])

    def summary(self, cores: int) -> dict[str, Any]:
        count = len(self.latencies) if self.completed is None else self.completed
        per_second = count / self.duration
        ordered = sorted(self.latencies)
        server_ms = (
            round(self.server_cpu_cores * self.duration * 1000 / count, 2)
            if self.server_cpu_cores is not None and count
            else None
        )
        services_ms = (
            round(self.services_cpu_cores * self.duration * 1000 / count, 2)
            if self.services_cpu_cores is not None and count
            else None
        )
        summary = {
            "count": count,
            "errors": self.errors,
            "shed": self.shed,
            "per_second": round(per_second, 2),
            "per_second_per_core": round(per_second / cores, 2),
            "p50_ms": round(percentile(ordered, 50) * 1000, 1) if ordered else None,
            "p99_ms": round(percentile(ordered, 99) * 1000, 1) if ordered else None,
            "server_cpu_ms_per_flow": server_ms,
            "per_server_cpu_second": round(1000 / server_ms, 1) if server_ms else None,
            "services_cpu_ms_per_flow": services_ms,
            "client_cpu_cores": self.client_cpu_cores,
            "server_cpu_cores": self.server_cpu_cores,
            "services_cpu_cores": self.services_cpu_cores,
            "machine_cpu_cores": self.machine_cpu_cores,
            "other_cpu_cores": self.other_cpu_cores,
        }
        if self.offered_per_second is not None:
            summary["offered_per_second"] = round(self.offered_per_second, 2)
            summary["started"] = self.started
            summary["drain_s"] = self.drain_seconds
        return summary

    @property
    def other_cpu_cores(self) -> float | None:
        """CPU used by neither the client, the server nor its database and store: noise from
        other processes."""
        machine, client, server = (
            self.machine_cpu_cores,
            self.client_cpu_cores,
            self.server_cpu_cores,
        )
        if machine is None or client is None or server is None:
            return None
        return round(max(machine - client - server - (self.services_cpu_cores or 0.0), 0.0), 2)


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    rank = max(1, -(-len(ordered) * p // 100))
    return ordered[int(rank) - 1]


def _tree_cpu(pids: list[int]) -> float | None:
    values = [process_tree_cpu_seconds(pid) for pid in pids]
    return None if not pids or any(v is None for v in values) else sum(v or 0.0 for v in values)


class CpuWindow:
    """CPU seconds of the client, the server, the services and the machine between
    ``__init__`` and ``close``, as cores busy on average."""

    def __init__(self, server_pid: int | None, service_pids: list[int]) -> None:
        self.server_pid = server_pid
        self.service_pids = service_pids
        self.started = time.perf_counter()
        self.client = time.process_time()
        self.server = _tree_cpu([server_pid]) if server_pid else None
        self.services = _tree_cpu(service_pids)
        self.machine = machine_busy_seconds()

    def close(self, result: PhaseResult, client_seconds: float = 0.0) -> None:
        """``client_seconds``: CPU of the client's other processes in the window."""
        elapsed = time.perf_counter() - self.started
        client = time.process_time() - self.client + client_seconds
        result.client_cpu_cores = round(client / elapsed, 2)
        machine_now = machine_busy_seconds()
        if self.machine is not None and machine_now is not None:
            result.machine_cpu_cores = round((machine_now - self.machine) / elapsed, 2)
        if self.server is not None and self.server_pid:
            server_now = _tree_cpu([self.server_pid])
            if server_now is not None:
                result.server_cpu_cores = round((server_now - self.server) / elapsed, 3)
        if self.services is not None:
            services_now = _tree_cpu(self.service_pids)
            if services_now is not None:
                result.services_cpu_cores = round((services_now - self.services) / elapsed, 3)


def run_phase(
    name: str,
    make_worker: Callable[[], Any],
    concurrency: int,
    duration: float,
    server_pid: int | None,
    service_pids: list[int] | None = None,
    profiler: WindowProfiler | None = None,
) -> PhaseResult:
    """Each thread: set up, wait for all, then loop; warm up, then count the flows that
    finish inside the measured window."""
    result = PhaseResult(name, duration, completed=0)
    window: dict[str, float] = {}

    def open_window() -> None:  # runs once, when every thread has finished its setup
        window["start"] = time.perf_counter() + WARMUP_SECONDS
        window["end"] = window["start"] + duration

    ready = threading.Barrier(concurrency + 1, action=open_window)
    stop = threading.Event()

    def loop() -> None:
        worker = make_worker()
        try:
            worker.setup()
        except Exception as error:  # reported; the thread then only retries its setup
            with result.lock:
                result.setup_errors.append(str(error)[:600])
        ready.wait()
        while not stop.is_set():
            started = time.perf_counter()
            try:
                worker.run_once()
            except Exception as error:
                if window["start"] <= time.perf_counter() <= window["end"]:
                    result.record_error(error)
                continue
            ended = time.perf_counter()
            if window["start"] <= ended <= window["end"]:
                with result.lock:
                    result.completed = (result.completed or 0) + 1
                    if started >= window["start"]:
                        result.latencies.append(ended - started)

    threads = [threading.Thread(target=loop, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    ready.wait()
    time.sleep(max(0.0, window["start"] - time.perf_counter()))
    if profiler is not None and server_pid:
        profiler.start(name, children(server_pid), duration)
    cpu = CpuWindow(server_pid, service_pids or [])
    time.sleep(duration)
    cpu.close(result)
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT + 5)
    return result
