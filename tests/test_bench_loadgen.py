"""The bench's open-loop client (issue 13, "no error under 2x that load"): what it counts as
the server's error and what as the shedding answer, and the arrival processes it offers.

No provider: a scripted token endpoint on a real socket answers the client processes, so
the counting is checked against answers whose kind is known. The bench itself runs by
`make bench`, never in the suite; nothing here is timed."""

from __future__ import annotations

import base64
import itertools
import json
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

# The bench's modules import each other as ``loginbench.*`` (bench/ is its script's folder).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from loginbench.flows import ClientCredentialsWorker  # noqa: E402
from loginbench.flows import Target  # noqa: E402
from loginbench.openloop import arrival_times  # noqa: E402
from loginbench.openloop import run_open_loop  # noqa: E402

SERVICE = ("bench service", "s3cret/+")
#: The endpoint's answers, in turn: a grant, the documented shedding answers (503 and 429
#: with Retry-After), and failures of the server (a 500, a 503 without Retry-After, a reset
#: connection, a token answer without an access token).
SCRIPT = ("ok", "shed-503", "500", "503-bare", "reset", "shed-429", "no-token")


class TokenEndpoint(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as gunicorn's gthread workers
    turns: Iterator[int]
    lock = threading.Lock()
    authorizations: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.lock:
            kind = SCRIPT[next(self.turns) % len(SCRIPT)]
            self.authorizations.append(self.headers["Authorization"])
        if kind == "reset":  # RST instead of an answer
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        status, headers, body = {
            "ok": (200, {}, {"access_token": "a", "token_type": "Bearer", "expires_in": 60}),
            "shed-503": (503, {"Retry-After": "1"}, {"error": "temporarily_unavailable"}),
            "500": (500, {}, {"error": "server_error"}),
            "503-bare": (503, {}, {"error": "temporarily_unavailable"}),
            "shed-429": (429, {"Retry-After": "1"}, {"error": "slow_down"}),
            "no-token": (200, {}, {"token_type": "Bearer"}),
        }[kind]
        content = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {**headers, "Content-Type": "application/json"}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    TokenEndpoint.turns = itertools.count()
    TokenEndpoint.authorizations = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_issue13_open_loop_counts_server_failures_as_errors_and_shedding_apart(
    endpoint: str,
) -> None:
    """Across several client processes on keep-alive connections: a 500, a 503 without
    Retry-After, a reset and a malformed token answer are errors; 503/429 with Retry-After
    (the documented shedding) are not; every arrival is accounted for."""
    target = Target(endpoint, endpoint, "rp", "x", "https://rp/cb", "openid", [])
    target.service_client_id, target.service_client_secret = SERVICE
    arrivals = 70  # 10 turns of the script
    result = run_open_loop(
        "client_credentials",
        lambda: ClientCredentialsWorker(target),
        rate=140.0,
        duration=0.5,
        threads=4,
        server_pid=None,
        processes=2,
        arrivals="uniform",
    )
    assert result.started == arrivals and not result.setup_errors
    assert len(result.latencies) == 10  # "ok"
    assert result.shed == 20  # 503 and 429 with Retry-After
    assert result.errors == 40
    kinds = dict(result.error_kinds)
    assert kinds.pop("POST /token (client_credentials)") == 30  # 500, bare 503, no token
    assert sum(kinds.values()) == 10 and set(kinds) <= {
        "ConnectionResetError",
        "RemoteDisconnected",
    }
    # RFC 6749 §2.3.1: client_secret_basic of the urlencoded id and secret.
    expected = "Basic " + base64.b64encode(b"bench%20service:s3cret%2F%2B").decode()
    assert set(TokenEndpoint.authorizations) == {expected}
    assert result.client_cpu_cores is not None


def test_issue13_arrivals_uniform_are_evenly_spaced_across_processes_poisson_are_not() -> None:
    """uniform: the processes' instants merged are start + k / rate (wrk2, k6's
    constant-arrival-rate); poisson: independent streams whose merged gaps vary."""
    uniform = sorted(t for i in range(3) for t in arrival_times("uniform", 100.0, 0.0, 2.0, i, 3))
    assert uniform == pytest.approx([k / 100.0 for k in range(200)])
    poisson = sorted(t for i in range(3) for t in arrival_times("poisson", 100.0, 0.0, 20.0, i, 3))
    gaps = [b - a for a, b in itertools.pairwise(poisson)]
    assert 1700 < len(poisson) < 2300 and all(0.0 < t < 20.0 for t in poisson)
    assert max(gaps) > 5 * min(gaps)  # exponential gaps, not a metronome
    assert list(arrival_times("poisson", 100.0, 0.0, 20.0, 0, 3)) != list(
        arrival_times("poisson", 100.0, 0.0, 20.0, 1, 3)
    )
