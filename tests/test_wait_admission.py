"""Load shedding of ``idp serve``'s default sync workers (issue 13, "Speed": no error under
twice the saturating load; idp/admission/waited.py): a request that waited for a worker past
its budget is answered at once with 503 and ``Retry-After`` in the shape of an outage (a
page in the person's language, OAuth ``temporarily_unavailable`` on /token), while /healthz
still answers; a request taken in time is served.

The rule is tested with a moved clock. The wait itself is the kernel's (``TCP_INFO`` of the
accepted connection), which no test can move: the end-to-end test stops the worker
(SIGSTOP), sends its requests, and polls the client sockets' own ``TCP_INFO`` until the
kernel says they have waited past the budget, then lets the worker go on (SIGCONT)."""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from idp.admission.gate import Outcome
from idp.admission.waited import WaitGate
from idp.admission.waited import WaitRule
from idp.admission.worker import close_promptly
from idp.admission.worker import shape_of
from idp.admission.worker import waited_seconds
from tests.conftest import build_provider
from tests.observe_services import idp_serve
from tests.observe_services import metric_samples
from tests.observe_services import sample

RULE = WaitRule(wait=0.5, target=0.05)
#: ``struct tcp_info``: milliseconds since the connection last sent data (client side).
TCP_INFO_LAST_DATA_SENT = 44

ADMITTED, WAITED = Outcome.ADMITTED, Outcome.WAITED


def test_a_burst_may_wait_the_interval_but_no_longer():
    gate = WaitGate(RULE)
    assert gate.admit(0.0, now=100.0) is ADMITTED
    # Waits above the target, for less than an interval: a burst, served up to the interval.
    assert gate.admit(0.2, now=100.1) is ADMITTED
    assert gate.admit(0.49, now=100.3) is ADMITTED
    # One short wait: the queue was short again, the clock of the standing queue restarts.
    assert gate.admit(0.01, now=100.35) is ADMITTED
    assert gate.admit(0.3, now=100.8) is ADMITTED
    assert not gate.is_tight(101.0)
    assert gate.admit(0.51, now=101.0) is WAITED


def test_after_a_refusal_only_the_target_for_an_interval():
    gate = WaitGate(RULE)
    assert gate.admit(0.6, now=50.0) is WAITED
    # Short waits in between (a FIFO queue emptied by refusals) do not loosen it.
    assert gate.admit(0.01, now=50.1) is ADMITTED
    assert gate.admit(0.06, now=50.2) is WAITED
    assert gate.admit(0.01, now=50.3) is ADMITTED
    assert gate.admit(0.3, now=50.69) is WAITED  # the interval runs from the last refusal
    assert gate.admit(0.05, now=51.0) is ADMITTED
    assert gate.admit(0.01, now=51.1) is ADMITTED
    # An interval without a refusal: a burst may wait the interval again.
    assert gate.admit(0.3, now=51.2) is ADMITTED


def test_a_queue_that_stood_an_interval_leaves_only_the_target():
    gate = WaitGate(RULE)
    assert gate.admit(0.1, now=10.0) is ADMITTED  # above the target since 10.0
    assert gate.admit(0.3, now=10.4) is ADMITTED
    assert gate.is_standing(10.5)
    assert gate.admit(0.06, now=10.5) is WAITED
    assert gate.admit(0.3, now=10.6) is WAITED
    assert gate.admit(0.05, now=10.7) is ADMITTED  # waited the target exactly
    # Until a request is taken that waited less than the target, and an interval has passed
    # without a refusal.
    assert gate.admit(0.049, now=10.8) is ADMITTED
    assert not gate.is_standing(10.8)
    assert gate.is_tight(11.09)
    assert not gate.is_tight(11.1)
    assert gate.admit(0.3, now=11.1) is ADMITTED


def test_the_kernel_says_how_long_a_request_waited_where_it_can():
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        assert waited_seconds(unix) is None
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname()[:2])
        with client:
            client.sendall(b"GET / HTTP/1.1\r\n\r\n")
            accepted, _ = listener.accept()
            with accepted:
                first = waited_seconds(accepted)
                assert first is not None and first >= 0
                # It grows while the request is not answered: poll the kernel, no clock.
                deadline = time.monotonic() + 10
                while (waited_seconds(accepted) or 0) < first + 0.05:
                    assert time.monotonic() < deadline, "the wait did not grow"
                    time.sleep(0.01)


def test_a_refusal_takes_the_shape_its_request_head_calls_for():
    assert shape_of(b"POST /token HTTP/1.1\r\nHost: x\r\n") == "oauth"
    assert shape_of(b"GET /scim/v2/Users HTTP/1.1\r\n") == "oauth"
    assert shape_of(b"GET /api/admin/v1/users?page=2 HTTP/1.1\r\n") == "problem"
    assert shape_of(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n") == "page-ja"
    assert shape_of(b"GET /authorize?client_id=a&ui_locales=fr%20en HTTP/1.1\r\n") == "page-en"
    assert shape_of(b"GET /login HTTP/1.1\r\ncookie: a=b; lang=en\r\n") == "page-en"
    assert shape_of(b"GET /login HTTP/1.1\r\nCookie: lang=xx\r\n") == "page-ja"
    assert shape_of(b"") == "page-ja"  # nothing to read yet: the default page
    for path in ("/healthz", "/readyz", "/metrics"):
        assert shape_of(f"GET {path} HTTP/1.1\r\n".encode()) is None


def _sent_ms_ago(sock: socket.socket) -> int:
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return int(struct.unpack_from("I", info, TCP_INFO_LAST_DATA_SENT)[0])


def _accept_queue(port: int | None) -> int:
    """Connections waiting in the accept queue of the listener on ``port`` (the kernel's
    ``rx_queue`` of a listening socket in /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":  # 127.0.0.1, LISTEN
            return int(fields[4].split(":")[1], 16)
    raise AssertionError(f"no listener on port {port}")


def _answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ", 2)[1]), headers, body


def _queued_requests(
    url: str, worker: int, budget_ms: int
) -> list[tuple[int, dict[str, str], bytes]]:
    """Stop the worker, send a token request, a page request and a health check, wait until
    the kernel says each waited past ``budget_ms``, let the worker go on; their answers."""
    parts = urlsplit(url)
    body = b"grant_type=client_credentials"
    head = f"Host: {parts.netloc}\r\nConnection: close\r\n"
    raw = [
        f"POST /token HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode()
        + body,
        f"GET /login?ui_locales=en HTTP/1.1\r\n{head}\r\n".encode(),
        f"GET /healthz HTTP/1.1\r\n{head}\r\n".encode(),
    ]
    os.kill(worker, signal.SIGSTOP)
    try:
        socks = [socket.create_connection((parts.hostname, parts.port), timeout=30) for _ in raw]
        for sock, request in zip(socks, raw, strict=True):
            sock.sendall(request)
        deadline = time.monotonic() + 30
        while min(_sent_ms_ago(sock) for sock in socks) <= budget_ms + 50:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        os.kill(worker, signal.SIGCONT)
    answers = [_answer(sock) for sock in socks]
    for sock in socks:
        sock.close()
    return answers


@pytest.fixture(scope="module")
def served(services, tmp_path_factory) -> Iterator[tuple[str, int]]:
    tmp = tmp_path_factory.mktemp("wait-served")
    provider = build_provider("sqlite+sqlstore", tmp, services)
    # IDP_SHED_BY_WAIT is not set: `idp serve` with its default sync worker sets it.
    settings = {"IDP_SHED_WAIT_MS": "200", "IDP_SHED_TARGET_MS": "50"}
    with idp_serve(provider, tmp, workers=1, **settings) as (url, log):
        yield url, _worker_pid(log)
    provider.close()


def _worker_pid(log: Path) -> int:
    found = re.findall(r"Booting worker with pid: (\d+)", log.read_text(errors="replace"))
    assert len(found) == 1, found
    return int(found[0])


@pytest.mark.xdist_group("wait-serve")
def test_a_request_that_waited_past_its_budget_gets_503_with_retry_after(served):
    url, worker = served
    before = metric_samples(url)
    token, page, health = _queued_requests(url, worker, budget_ms=200)

    status, headers, body = token
    assert (status, headers["Retry-After"]) == (503, "1")
    assert b'"temporarily_unavailable"' in body
    status, headers, body = page
    assert (status, headers["Retry-After"]) == (503, "1")
    assert headers["Content-Type"].startswith("text/html")
    assert "The service is temporarily unavailable" in body.decode()
    assert headers["X-Frame-Options"] == "DENY"
    assert len(headers["X-Request-ID"]) == 32
    assert health[0] == 200  # a load balancer sees a busy node as alive

    shed = sample(metric_samples(url), "idp_requests_shed_total", reason="waited")
    assert shed - sample(before, "idp_requests_shed_total", reason="waited") == 2
    # Taken at once again: served (an unauthenticated client: 401).
    answer = requests.post(f"{url}/token", data={"grant_type": "client_credentials"}, timeout=30)
    assert answer.status_code == 401
    assert requests.get(f"{url}/login", timeout=30).status_code != 503


@pytest.mark.xdist_group("wait-serve")
def test_requests_taken_at_once_are_never_shed(served):
    url, _worker = served
    statuses = [
        requests.post(
            f"{url}/token", data={"grant_type": "client_credentials"}, timeout=30
        ).status_code
        for _ in range(20)
    ]
    assert statuses == [401] * 20


def _pair() -> tuple[socket.socket, socket.socket]:
    """A connected TCP pair on the loopback: (the server's accepted side, the client)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname()[:2])
        accepted, _ = listener.accept()
    return accepted, client


def _read_to_end(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_response_is_closed_at_once_when_nothing_is_left_to_read():
    server, client = _pair()
    with client:
        client.sendall(b"GET / HTTP/1.1\r\n\r\n")
        assert server.recv(100) == b"GET / HTTP/1.1\r\n\r\n"
        server.sendall(b"answer")
        close_promptly(server)  # the client has not closed: no waiting for it
        assert server.fileno() == -1
        assert _read_to_end(client) == b"answer"


def test_a_response_is_not_destroyed_by_what_the_client_sent_after_its_request():
    """RFC 9112 §9.6: closing with unread bytes makes the kernel send a reset, which may
    destroy the response before the client reads it; those bytes are drained first."""
    server, client = _pair()
    answer = b"x" * (4 << 20)
    with client:
        client.sendall(b"GET / HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n")  # pipelined
        assert server.recv(18) == b"GET / HTTP/1.1\r\n\r\n"
        sent = threading.Thread(target=lambda: (server.sendall(answer), close_promptly(server)))
        sent.start()
        received = _read_to_end(client)
        client.close()
        sent.join(10)
    assert received == answer


@pytest.mark.xdist_group("wait-serve")
def test_a_connection_that_has_sent_nothing_yet_is_served_when_it_asks(served):
    """A client descheduled between connecting and sending (or just slow) has no request that
    waited: it must not be answered 503 (and closed) before it asks."""
    url, worker = served
    parts = urlsplit(url)
    head = f"Host: {parts.netloc}\r\nConnection: close\r\n"
    body = b"grant_type=client_credentials"
    os.kill(worker, signal.SIGSTOP)
    try:
        silent = socket.create_connection((parts.hostname, parts.port), timeout=30)
        late = socket.create_connection((parts.hostname, parts.port), timeout=30)
        late.sendall(f"GET /login HTTP/1.1\r\n{head}\r\n".encode())
        deadline = time.monotonic() + 30
        while _sent_ms_ago(late) <= 250:  # connected before `late` sent: waited longer
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        os.kill(worker, signal.SIGCONT)
    # The worker has taken `silent` (the first in the queue) and waits for its request.
    deadline = time.monotonic() + 30
    while _accept_queue(parts.port) != 1:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    with silent, late:
        silent.sendall(
            f"POST /token HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode()
            + body
        )
        assert _answer(silent)[0] == 401  # served: an unauthenticated client
        assert _answer(late)[0] == 503
