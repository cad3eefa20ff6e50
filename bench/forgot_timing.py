"""K3 timing benchmark: does "forgot password" answer a registered address as fast as an
unknown one? (Moved here from the test suite: a timing is a measurement, not a test.)

Run it against a provider started for it, e.g. ``make demo`` (its demo users are printed
at start) or ``idp serve`` with a real SMTP server::

    .venv/bin/python bench/forgot_timing.py --url http://127.0.0.1:8000 \\
        --known someone@example.jp --rounds 50

It posts the form alternately for the known address and for fresh unknown ones (each
request with its own CSRF token) and prints the median and p90 of each, and their
difference. The lookup and the mail run off the request thread (idp/users/reset.py),
so the difference should be within noise (well under a millisecond on an idle machine);
an SMTP conversation done in the request would add tens of milliseconds to the known side.
Note that the provider sends at most 5 reset mails per address per hour; later requests
for the known address skip the mail (but still do the lookup off-thread)."""

from __future__ import annotations

import argparse
import re
import statistics
import time
import uuid

import requests

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def timed_post(session: requests.Session, url: str, email: str) -> float:
    page = session.get(f"{url}/password/forgot", timeout=30)
    match = TOKEN.search(page.text)
    if match is None:
        raise SystemExit(f"no csrf_token on {url}/password/forgot ({page.status_code})")
    started = time.perf_counter()
    response = session.post(
        f"{url}/password/forgot",
        data={"csrf_token": match.group(1), "email": email},
        timeout=30,
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise SystemExit(f"POST /password/forgot answered {response.status_code}")
    return elapsed


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return f"{name:8} median {statistics.median(ordered) * 1000:7.2f} ms   p90 {p90 * 1000:7.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--known", required=True, help="a registered password user's email")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    session = requests.Session()
    known: list[float] = []
    unknown: list[float] = []
    for _ in range(args.rounds):
        known.append(timed_post(session, args.url, args.known))
        unknown.append(timed_post(session, args.url, f"nobody-{uuid.uuid4().hex[:8]}@example.jp"))
    print(summary("known", known))
    print(summary("unknown", unknown))
    difference = statistics.median(known) - statistics.median(unknown)
    print(f"median difference (known - unknown): {difference * 1000:+.2f} ms")


if __name__ == "__main__":
    main()
