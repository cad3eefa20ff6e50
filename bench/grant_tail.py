"""The tail of a grant beside the worker's background threads, in one process (no gunicorn,
no load client): client_credentials grants through Flask's test client, paced at 400/s (80 %
of one worker), on a throw-away SQLite instance, with the audit sealer's thread as it runs in
a worker. Prints CPU per grant and the wall-time percentiles of the grants.

Variants (one per run; run them alternately, the host's own noise is large)::

    .venv/bin/python bench/grant_tail.py seal        # as in production
    .venv/bin/python bench/grant_tail.py noseal      # seal_all() a no-op (the sealer's share)
    .venv/bin/python bench/grant_tail.py switch5ms   # CPython's default GIL switch interval

``idp serve`` sets a 1-ms switch interval in its workers (idp/cli/servers.py); ``seal`` and
``noseal`` run with it, ``switch5ms`` without.
"""

from __future__ import annotations

import base64
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from idp.actor import Actor  # noqa: E402
from idp.cli.servers import WORKER_SWITCH_INTERVAL  # noqa: E402
from idp.clients import add_client  # noqa: E402
from tests.conftest import build_provider  # noqa: E402
from tests.realservices import free_port  # noqa: E402

GRANTS = 4000
PACE = 0.0025  # seconds between grant starts: 400/s


class _NoSmtp:
    port = free_port()


def main(variant: str) -> None:
    import idp.audit_chain.sealer as sealer

    provider = build_provider("sqlite+sqlstore", Path(tempfile.mkdtemp()), {"smtp": _NoSmtp})
    contract = provider.new_contract()
    with provider.app.app_context():
        _client, secret = add_client(
            Actor.cli(),
            "bench",
            [],
            [],
            client_id="bench-svc",
            grant_types=["client_credentials"],
            contract_id=contract,
            scope="admin:read",
        )
    if variant == "noseal":
        sealer.seal_all = lambda: None  # type: ignore[assignment,return-value]
    if variant != "switch5ms":
        sys.setswitchinterval(WORKER_SWITCH_INTERVAL)
    client = provider.app.test_client()
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"bench-svc:{secret}".encode()).decode()
    }
    form = {"grant_type": "client_credentials", "scope": "admin:read"}

    def grant() -> None:
        answer = client.post("/token", data=form, headers=headers)
        assert answer.status_code == 200, answer.data

    for _ in range(300):
        grant()
    times = []
    cpu = time.process_time()
    start = time.perf_counter()
    for number in range(GRANTS):
        began = time.perf_counter()
        grant()
        times.append((time.perf_counter() - began) * 1000)
        pause = start + (number + 1) * PACE - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
    cpu_ms = (time.process_time() - cpu) / GRANTS * 1000
    times.sort()

    def at(share: float) -> float:
        return times[int(len(times) * share)]

    print(
        f"{variant:10s} CPU per grant {cpu_ms:.2f} ms; wall ms p50 {at(0.5):.2f} "
        f"p90 {at(0.9):.2f} p99 {at(0.99):.2f} p99.9 {at(0.999):.2f} max {times[-1]:.1f}"
    )
    provider.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "seal")
