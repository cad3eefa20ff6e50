"""Load shedding of a real ``idp serve --worker-class gthread`` (issue 13, "Speed": no error
under twice the saturating load; idp/admission/gate.py; the default sync workers' rule is
tests/test_wait_admission.py): past its configured limit a worker answers at once with 503
and ``Retry-After`` in the shape of an outage (a page in the person's language, OAuth
``temporarily_unavailable`` on /token, an RFC 9457 problem on the admin API), while /healthz,
/readyz and /metrics still answer; below the limit nothing is shed.

The worker is filled by requests that really occupy it: token requests whose body has not
all arrived (the application waits reading it), released when the test sends the rest. No
clock: the test waits for the state it needs by polling."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import build_provider
from tests.observe_services import idp_serve
from tests.observe_services import metric_samples
from tests.observe_services import sample

LIMIT = 2
BODY = b"grant_type=client_credentials&scope=" + b"a" * 100


class HeldRequest:
    """A POST /token whose body stops after a few bytes: admitted, it holds its place in the
    worker until ``release`` sends the rest."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        head = (
            f"POST /token HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(BODY)}\r\nConnection: close\r\n\r\n"
        )
        self.sock.sendall(head.encode() + BODY[:10])

    def release(self) -> int:
        """Send the rest of the body; the status of the answer."""
        self.sock.sendall(BODY[10:])
        answer = b""
        while b"\r\n" not in answer:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        self.sock.close()
        return int(answer.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def served(services, tmp_path_factory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("shed-served")
    provider = build_provider("sqlite+sqlstore", tmp, services)
    # One worker, so that the held requests and the probes meet the same gate. A queue of
    # one: a request frees its place when the server closes its answer, just after its
    # client has read it, so the next request of a sequence may find the place still taken
    # and waits for it; past the limit a probe waits IDP_SHED_WAIT_MS, then gets 503 (only
    # when both held requests are inside: nothing else holds a place that long).
    settings = {"IDP_SHED_LIMIT": str(LIMIT), "IDP_SHED_QUEUE": "1", "IDP_SHED_WAIT_MS": "1000"}
    with idp_serve(provider, tmp, workers=1, worker_class="gthread", **settings) as (url, _log):
        yield url
    provider.close()


def _statuses_of_single_requests(url: str, count: int) -> list[int]:
    """Requests of several surfaces one after another."""
    statuses = []
    for number in range(count):
        if number % 2:
            statuses.append(requests.get(f"{url}/login", timeout=30).status_code)
        else:
            statuses.append(
                requests.post(f"{url}/token", data=BODY.decode(), timeout=30).status_code
            )
    return statuses


def _wait_until_shed(url: str) -> requests.Response:
    """Poll until the held requests are inside the worker: a probe is then refused."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        response = requests.get(f"{url}/login", timeout=30)
        if response.status_code == 503:
            return response
    raise AssertionError("no request was shed with the worker full")


def _wait_until_served(url: str) -> None:
    """Poll until a probe is served: a released request frees its place when the server
    closes its answer, just after the client has read it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if requests.get(f"{url}/login", timeout=30).status_code != 503:
            return
    raise AssertionError("the worker stayed full after its requests were answered")


@pytest.mark.xdist_group("shed-serve")
def test_past_the_limit_each_surface_gets_503_with_retry_after_and_health_still_answers(served):
    url = served
    before = metric_samples(url)
    assert 503 not in _statuses_of_single_requests(url, 10)

    held = [HeldRequest(url) for _ in range(LIMIT)]
    try:
        page = _wait_until_shed(url)
        assert page.headers["Retry-After"] == "1"
        assert page.headers["Content-Type"].startswith("text/html")
        # Japanese by default; the security headers of every page.
        assert "ただいまサービスを一時的にご利用いただけません" in page.text
        assert page.headers["X-Frame-Options"] == "DENY"
        assert "X-Request-ID" in page.headers

        english = requests.get(f"{url}/authorize?ui_locales=en&client_id=x", timeout=30)
        assert english.status_code == 503
        assert "The service is temporarily unavailable" in english.text

        token = requests.post(f"{url}/token", data={"grant_type": "client_credentials"}, timeout=30)
        assert (token.status_code, token.headers["Retry-After"]) == (503, "1")
        assert token.json()["error"] == "temporarily_unavailable"

        api = requests.get(f"{url}/api/admin/v1/users", timeout=30)
        assert (api.status_code, api.headers["Retry-After"]) == (503, "1")
        assert api.headers["Content-Type"] == "application/problem+json"
        assert api.json()["status"] == 503

        assert requests.get(f"{url}/healthz", timeout=30).status_code == 200
        assert requests.get(f"{url}/readyz", timeout=30).status_code == 200
        after = metric_samples(url)
        shed = sum(
            sample(after, "idp_requests_shed_total", reason=reason)
            - sample(before, "idp_requests_shed_total", reason=reason)
            for reason in ("queue_full", "waited")
        )
        assert shed >= 4
    finally:
        statuses = [request.release() for request in held]
    # The held requests themselves were served (an unauthenticated client: 401).
    assert statuses == [401] * LIMIT


@pytest.mark.xdist_group("shed-serve")
def test_below_the_limit_nothing_is_shed(served):
    url = served
    held = [HeldRequest(url) for _ in range(LIMIT)]
    _wait_until_shed(url)
    # One place free again (its request answered): each single request fits.
    assert held.pop().release() == 401
    try:
        _wait_until_served(url)
        assert 503 not in _statuses_of_single_requests(url, 20)
    finally:
        assert held.pop().release() == 401
    _wait_until_served(url)
    assert 503 not in _statuses_of_single_requests(url, 10)
