"""The open loop of the load mode: flows *arrive* at a given rate whatever the server does,
and client threads in several processes take them.

One Python process could not offer twice the saturating rate of the cheapest grant: its 64
threads share one GIL, so arrivals waited for a thread until they were dropped. Here
``processes`` client processes (forked, each with its own threads and back-channel
connections) share the arrivals: together they keep the arrival process asked for (see
``arrival_times``), each dispatches its share from a clock common to all (``time.monotonic``
is system-wide), and a flow's latency still runs from its arrival."""

from __future__ import annotations

import multiprocessing
import queue
import random
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import Any

from loginbench.runner import MAX_ERROR_SAMPLES
from loginbench.runner import CpuWindow
from loginbench.runner import NotStarted
from loginbench.runner import PhaseResult
from loginbench.steps import TIMEOUT
from loginbench.targets import ARRIVALS

#: Seconds between the processes' "set up" and the first arrival.
START_MARGIN = 0.2


def arrival_times(
    arrivals: str,
    rate: float,
    start: float,
    duration: float,
    index: int = 0,
    processes: int = 1,
    seed: int = 13,
) -> Iterator[float]:
    """The arrival instants of process ``index`` of ``processes``, in ``[start, start +
    duration)``; together the processes make ``rate`` per second.

    poisson: each process its own Poisson stream of ``rate / processes`` (independent
    seeds); their superposition is a Poisson stream of ``rate``. uniform: the instants
    ``start + k / rate`` dealt round-robin, process ``index`` taking every ``processes``-th
    from the ``index``-th, so the merged stream is evenly spaced."""
    end = start + duration
    if arrivals == "uniform":
        k = index
        while (due := start + k / rate) < end:
            yield due
            k += processes
        return
    if arrivals != "poisson":
        raise ValueError(f"arrivals: {arrivals!r} is not one of {', '.join(ARRIVALS)}")
    gaps = random.Random(seed * 1009 + index)
    due = start
    while (due := due + gaps.expovariate(rate / processes)) < end:
        yield due


def split(threads: int, processes: int) -> list[int]:
    """``threads`` dealt to ``processes`` (each at least one)."""
    return [max(1, threads // processes + (i < threads % processes)) for i in range(processes)]


def client_process(
    pipe: Connection,
    make_worker: Callable[[], Any],
    threads: int,
    times: Callable[[float], Iterator[float]],
    duration: float,
) -> None:
    """One client process: set up ``threads`` workers, say so, wait for the common start,
    dispatch its arrivals to its threads, and send back what it saw (``PhaseResult`` fields)."""
    result = PhaseResult("share", duration)
    arrivals: queue.Queue[float | None] = queue.Queue()
    ready = threading.Barrier(threads + 1)

    def loop() -> None:
        worker = make_worker()
        try:
            worker.setup()
        except Exception as error:
            with result.lock:
                result.setup_errors.append(str(error)[:600])
        ready.wait()
        while (arrived := arrivals.get()) is not None:
            if time.monotonic() - arrived > TIMEOUT:
                result.record_error(NotStarted(NotStarted.step))
                continue
            try:
                worker.run_once()
            except Exception as error:
                result.record_error(error)
                continue
            ended = time.monotonic()
            with result.lock:
                result.latencies.append(ended - arrived)

    pool = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    ready.wait()
    pipe.send("ready")
    start: float = pipe.recv()
    cpu = time.process_time()
    for due in times(start):
        time.sleep(max(0.0, due - time.monotonic()))
        arrivals.put(due)
        result.started += 1
    time.sleep(max(0.0, start + duration - time.monotonic()))
    for _ in pool:
        arrivals.put(None)
    for thread in pool:
        thread.join()
    pipe.send(
        {
            "latencies": result.latencies,
            "errors": result.errors,
            "error_kinds": dict(result.error_kinds),
            "error_samples": result.error_samples,
            "shed": result.shed,
            "started": result.started,
            "setup_errors": result.setup_errors,
            "cpu_seconds": time.process_time() - cpu,
            "finished": time.monotonic(),
        }
    )


def merge(result: PhaseResult, share: dict[str, Any]) -> None:
    result.latencies.extend(share["latencies"])
    result.errors += share["errors"]
    result.error_kinds.update(share["error_kinds"])
    room = MAX_ERROR_SAMPLES - len(result.error_samples)
    result.error_samples.extend(share["error_samples"][:room])
    result.shed += share["shed"]
    result.started += share["started"]
    result.setup_errors.extend(share["setup_errors"])


def run_open_loop(
    name: str,
    make_worker: Callable[[], Any],
    rate: float,
    duration: float,
    threads: int,
    server_pid: int | None,
    service_pids: list[int] | None = None,
    *,
    processes: int = 2,
    arrivals: str = "poisson",
    seed: int = 13,
) -> PhaseResult:
    """Flows arrive at ``rate`` per second (``arrivals``: poisson or uniform) for
    ``duration`` seconds, whatever the server does; ``threads`` client threads spread over
    ``processes`` processes take them in order.

    A flow's latency runs from its arrival, so the time it waited for a free client thread
    counts (no coordinated omission). A flow that could not start within ``TIMEOUT`` seconds
    of its arrival is an error (``not started``), as a real client would have given up.
    Every flow that arrived inside the window is waited for; errors and shed answers count
    whenever they come. The client's CPU is this process's and its client processes'."""
    result = PhaseResult(name, duration, offered_per_second=rate)
    context = multiprocessing.get_context("fork")  # make_worker may be a closure
    pipes: list[Connection] = []
    children = []
    for index, count in enumerate(split(threads, processes)):
        ours, theirs = context.Pipe()

        def times(start: float, index: int = index) -> Iterator[float]:
            return arrival_times(arrivals, rate, start, duration, index, processes, seed)

        child = context.Process(
            target=client_process,
            args=(theirs, make_worker, count, times, duration),
            daemon=True,
        )
        child.start()
        theirs.close()
        pipes.append(ours)
        children.append(child)
    for pipe in pipes:
        pipe.recv()  # every thread of every process set up
    cpu = CpuWindow(server_pid, service_pids or [])
    start = time.monotonic() + START_MARGIN
    for pipe in pipes:
        pipe.send(start)
    shares = [pipe.recv() for pipe in pipes]
    for child in children:
        child.join()
    # The CPU window spans arrivals and the drain: every arrived flow's work is inside it.
    cpu.close(result, client_seconds=sum(s["cpu_seconds"] for s in shares))
    for share in shares:
        merge(result, share)
    finished = max(s["finished"] for s in shares)
    result.duration = finished - start
    result.drain_seconds = round(max(0.0, finished - start - duration), 2)
    return result
