"""The hard ceiling of a password login: bare argon2id hashes per second per core, with the
server's parameters, one process per core."""

from __future__ import annotations

import multiprocessing
import os
import time

from loginbench.flows import DEFAULT_PASSWORD


def argon2_parameters() -> dict[str, int]:
    return {
        "memory_kib": int(os.environ.get("IDP_ARGON2_MEMORY_KIB") or 19456),
        "time_cost": int(os.environ.get("IDP_ARGON2_TIME_COST") or 2),
        "parallelism": int(os.environ.get("IDP_ARGON2_PARALLELISM") or 1),
    }


def _hash_for(args: tuple[dict[str, int], float]) -> tuple[int, float, float]:
    from argon2 import PasswordHasher
    from argon2 import Type

    params, seconds = args
    hasher = PasswordHasher(
        time_cost=params["time_cost"],
        memory_cost=params["memory_kib"],
        parallelism=params["parallelism"],
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )
    hasher.hash(DEFAULT_PASSWORD)  # warm-up
    count = 0
    started = time.perf_counter()
    cpu = time.process_time()
    while (elapsed := time.perf_counter() - started) < seconds:
        hasher.hash(DEFAULT_PASSWORD)
        count += 1
    return count, elapsed, time.process_time() - cpu


def argon2_rate_per_core(params: dict[str, int], cores: int, seconds: float) -> tuple[float, float]:
    """Hashes per second per core (wall clock), and CPU milliseconds per hash."""
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        results = pool.map(_hash_for, [(params, seconds)] * cores)
    per_core = sum(count / elapsed for count, elapsed, _ in results) / cores
    cpu_ms = 1000 * sum(cpu for _, _, cpu in results) / max(1, sum(c for c, _, _ in results))
    return per_core, cpu_ms
