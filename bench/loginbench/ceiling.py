"""The hard ceiling of a password login: bare argon2id verifications with the server's
parameters, one process per core (a sign-in verifies; it does not hash)."""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass
from typing import Any

from loginbench.flows import DEFAULT_PASSWORD


def argon2_parameters() -> dict[str, int]:
    """The server's (idp.config defaults, or the ``IDP_ARGON2_*`` it is started with)."""
    return {
        "memory_kib": int(os.environ.get("IDP_ARGON2_MEMORY_KIB") or 19456),
        "time_cost": int(os.environ.get("IDP_ARGON2_TIME_COST") or 2),
        "parallelism": int(os.environ.get("IDP_ARGON2_PARALLELISM") or 1),
    }


def argon2_hasher(params: dict[str, int]) -> Any:
    """argon2id at the provider's parameters (``argon2_parameters()``), as it hashes."""
    from argon2 import PasswordHasher
    from argon2 import Type

    return PasswordHasher(
        time_cost=params["time_cost"],
        memory_cost=params["memory_kib"],
        parallelism=params["parallelism"],
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


def _verify_for(args: tuple[dict[str, int], float]) -> tuple[int, float, float]:
    params, seconds = args
    hasher = argon2_hasher(params)
    hashed = hasher.hash(DEFAULT_PASSWORD)
    hasher.verify(hashed, DEFAULT_PASSWORD)  # warm-up
    count = 0
    started = time.perf_counter()
    cpu = time.process_time()
    while (elapsed := time.perf_counter() - started) < seconds:
        hasher.verify(hashed, DEFAULT_PASSWORD)
        count += 1
    return count, elapsed, time.process_time() - cpu


@dataclass
class Ceiling:
    #: Verifications per second of wall time per process (one process per core).
    per_core: float
    #: CPU milliseconds one verification costs (the figure a busy machine disturbs least).
    cpu_ms: float

    @property
    def per_cpu_second(self) -> float:
        return 1000 / self.cpu_ms if self.cpu_ms else 0.0


def argon2_verify_ceiling(params: dict[str, int], cores: int, seconds: float) -> Ceiling:
    """Bare ``PasswordHasher.verify`` of a correct password, ``cores`` processes at once."""
    with multiprocessing.get_context("spawn").Pool(cores) as pool:
        results = pool.map(_verify_for, [(params, seconds)] * cores)
    per_core = sum(count / elapsed for count, elapsed, _ in results) / cores
    cpu_ms = 1000 * sum(cpu for _, _, cpu in results) / max(1, sum(c for c, _, _ in results))
    return Ceiling(per_core, cpu_ms)
