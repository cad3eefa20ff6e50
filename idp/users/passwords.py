"""Password hashing (argon2id at OWASP parameters) and the P2 rule with common passwords."""

from __future__ import annotations

import os
import threading
from functools import lru_cache

from argon2 import PasswordHasher
from argon2 import Type
from argon2.exceptions import InvalidHashError
from argon2.exceptions import VerificationError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from policies.password import check_password


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1  # pragma: no cover - Linux has sched_getaffinity


class PasswordHashing:
    """argon2id with explicit parameters: argon2-cffi's default profile is ~7x slower than
    OWASP's (m=19 MiB, t=2, p=1), and a login costs exactly one verification.

    At most ``concurrency`` hashes and verifications run at once in this process (0: one per
    usable core, for a process alone on the machine; ``idp serve`` passes cores / workers).
    argon2 releases the GIL, so a process's threads would otherwise all hash at once: past
    the cores that only adds contention (CPU per verification 18.5 ms with 1–2 at once on 2
    cores, 23.8 ms with 8) and 19 MiB of memory per hash. The others wait their turn."""

    def __init__(
        self, memory_kib: int, time_cost: int, parallelism: int, concurrency: int = 0
    ) -> None:
        self._hasher = PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        # Verified against when the email is unknown, so both cases cost the same (L2): the
        # same call, the same wait for a slot.
        self._dummy_hash = self._hasher.hash("dummy password for timing equality")
        self.concurrency = concurrency or usable_cores()
        self._slots = threading.BoundedSemaphore(self.concurrency)

    @property
    def parameters(self) -> dict[str, int]:
        return {
            "memory_kib": self._hasher.memory_cost,
            "time_cost": self._hasher.time_cost,
            "parallelism": self._hasher.parallelism,
        }

    def hash(self, password: str) -> str:
        with self._slots:
            return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when ``password`` matches; always does one full verification (of the dummy
        hash when ``password_hash`` is None), in its turn."""
        with self._slots:
            try:
                return self._hasher.verify(password_hash or self._dummy_hash, password) and bool(
                    password_hash
                )
            except (VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords of zxcvbn's list (leaked-password corpora)."""
    return frozenset(p.casefold() for p in FREQUENCY_LISTS["passwords"])


def password_problems(password: str, email: str | None = None) -> list[str]:
    """P2 reason codes for ``password``; empty when it may be set."""
    return check_password(password, common_passwords=common_passwords(), email=email)
