"""``idp serve`` bounds the password hashes each worker runs at once (issue 13, "Speed";
idp/users/passwords.py, ``IDP_HASH_CONCURRENCY``): cores ÷ workers, read from the line each
worker logs when it starts."""

from __future__ import annotations

import re
import time

import pytest

from tests.conftest import build_provider
from tests.observe_services import idp_serve


@pytest.mark.covers("O1")
def test_idp_serve_runs_as_many_hashes_at_once_as_cores_per_worker(services, tmp_path):
    """``idp serve`` bounds the password hashes each worker runs at once (cores ÷ workers),
    so that all workers together hash on about as many threads as there are cores."""
    from idp.cli.servers import serve_hash_concurrency
    from idp.users.passwords import usable_cores

    provider = build_provider("sqlite+sqlstore", tmp_path, services)
    try:
        with idp_serve(provider, tmp_path, workers=2) as (_url, log):
            deadline = time.monotonic() + 30
            while len(found := re.findall(r"(\d+) password hashes at once", log.read_text())) < 2:
                assert time.monotonic() < deadline, log.read_text()[-2000:]
                time.sleep(0.05)
    finally:
        provider.close()
    assert found == [str(serve_hash_concurrency(2, usable_cores()))] * 2
