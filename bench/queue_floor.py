"""The queueing floor of the p99/p50 target (issue 13): p99 / p50 of the time from arrival to
answer that a perfect server reaches at a given load, by simulation (bench/README.md).

No HTTP, no provider: ``servers`` identical servers at ``--load`` of their capacity, each
request served in a fixed time (``fixed``, the best case) or an exponential one
(``exponential``, mean 1), arrivals Poisson (exponential gaps) or uniform (evenly spaced, as
wrk2 and k6's constant-arrival-rate), with one FIFO queue shared by all servers (sync
workers: one listen backlog) or one queue per server, each request sent to one at random
(gthread workers: each takes its own connections).

    .venv/bin/python bench/queue_floor.py [--load 0.8] [--requests 200000]
"""

from __future__ import annotations

import argparse
import heapq
import random


def sojourns(
    servers: int,
    load: float,
    arrivals: str,
    service: str,
    shared: bool,
    requests: int,
    seed: int = 13,
) -> list[float]:
    """Arrival-to-answer times of ``requests`` requests (mean service time 1)."""
    rng = random.Random(seed)
    rate = load * servers
    now = 0.0
    free_at = [0.0] * servers  # per server: when it is free (shared queue: a heap)
    times = []
    for _ in range(requests):
        now += rng.expovariate(rate) if arrivals == "poisson" else 1 / rate
        work = 1.0 if service == "fixed" else rng.expovariate(1.0)
        if shared:  # FIFO: the request takes the server that frees first
            start = max(now, heapq.heappop(free_at))
            heapq.heappush(free_at, start + work)
        else:
            one = rng.randrange(servers)
            start = max(now, free_at[one])
            free_at[one] = start + work
        times.append(start + work - now)
    return times


def ratio(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[int(len(ordered) * 0.99)] / ordered[len(ordered) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load", type=float, default=0.8)
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    print(f"p99 / p50 of arrival-to-answer at {args.load:.0%} load, {args.requests} requests")
    print(f"{'servers, queue':<22}{'arrivals':<10}{'fixed service':>14}{'exponential':>13}")
    cases = [(1, True), (2, True), (4, True), (2, False)]
    for servers, one_queue in cases:
        for arrivals in ("poisson", "uniform"):
            figures = [
                ratio(sojourns(servers, args.load, arrivals, s, one_queue, args.requests))
                for s in ("fixed", "exponential")
            ]
            queue = "shared" if one_queue else "per server"
            print(
                f"{f'{servers}, {queue}':<22}{arrivals:<10}{figures[0]:>14.2f}{figures[1]:>13.2f}"
            )


if __name__ == "__main__":
    main()
