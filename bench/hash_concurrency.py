"""CPU per argon2id verification when several threads of one process verify at once, with
and without the bound of ``IDP_HASH_CONCURRENCY`` (issue 13, bench/README.md).

``--threads`` threads verify in a loop through ``idp.users.passwords.PasswordHashing`` at the
server's parameters, first with a bound of ``--threads`` (none in effect), then with
``--bound`` (default: one per usable core), alternating ``--rounds`` times; each window
prints the process's CPU ms per verification and its peak memory growth is the number of
hashes at once × the memory cost.

    .venv/bin/python bench/hash_concurrency.py [--threads 8] [--seconds 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from idp.users.passwords import PasswordHashing  # noqa: E402
from idp.users.passwords import usable_cores  # noqa: E402


def cpu_ms_per_verification(hashing: PasswordHashing, threads: int, seconds: float) -> float:
    encoded = hashing.hash("Bench-Pass-42x")
    stop = threading.Event()
    counts = [0] * threads

    def loop(index: int) -> None:
        while not stop.is_set():
            hashing.verify(encoded, "Bench-Pass-42x")
            counts[index] += 1

    pool = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    cpu = time.process_time()
    for thread in pool:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in pool:
        thread.join()
    return (time.process_time() - cpu) * 1000 / max(1, sum(counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--bound", type=int, default=usable_cores())
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    memory = int(os.environ.get("IDP_ARGON2_MEMORY_KIB", "19456"))
    time_cost = int(os.environ.get("IDP_ARGON2_TIME_COST", "2"))
    print(
        f"{args.threads} threads verifying, m={memory} KiB t={time_cost}, "
        f"{usable_cores()} usable cores, {args.seconds:g} s per window"
    )
    for _ in range(args.rounds):
        for bound in (args.threads, args.bound):
            hashing = PasswordHashing(memory, time_cost, 1, bound)
            ms = cpu_ms_per_verification(hashing, args.threads, args.seconds)
            print(
                f"  bound {bound:>2}: {ms:6.1f} CPU ms per verification, at most "
                f"{min(bound, args.threads) * memory / 1024:.0f} MiB of hashes at once"
            )


if __name__ == "__main__":
    main()
