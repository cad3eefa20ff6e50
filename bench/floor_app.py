"""The floor of the latency targets: a Flask app that answers ``POST /token`` with a fixed
token and nothing else (no database, no store, no hashing, no logging), served like the
provider (gunicorn, the same worker class and workers), measured by the same load client.

Whatever p99/p50 this app shows at 80 % of its own saturating rate is what the machine, the
kernel, gunicorn, Flask and the load client (on the same cores) cost the tail of any request;
the provider's own tail can only be judged above it (bench/README.md, "The tail's floor").
``python bench/floor_app.py`` starts it under gunicorn and prints its server CPU per request
(closed loop, 4 threads): the least any request of the provider can cost. By hand::

    .venv/bin/gunicorn --workers 2 --worker-class sync --bind 127.0.0.1:8099 \\
        'bench.floor_app:app' &
    .venv/bin/python bench/login_bench.py --url http://127.0.0.1:8099 \\
        --flows client_credentials --service-client-id floor --service-client-secret floor \\
        --client-id - --client-secret - --email floor@example.com --password - \\
        --duration 8 --load --load-seconds 20 --overload-seconds 5 --arrivals uniform
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from flask import Flask
from flask import jsonify
from flask.typing import ResponseReturnValue

app = Flask(__name__)

TOKEN = {"access_token": "floor", "token_type": "Bearer", "expires_in": 300}


@app.post("/token")
def token() -> ResponseReturnValue:
    return jsonify(TOKEN)


@app.get("/.well-known/openid-configuration")
def discovery() -> ResponseReturnValue:
    return jsonify(issuer="http://floor.invalid")


@app.get("/healthz")
def healthz() -> ResponseReturnValue:
    return "ok"


def cpu_per_request(workers: int = 2, threads: int = 4, seconds: float = 8.0) -> None:
    """Serve this app like ``idp serve`` does (sync workers) and print its server CPU per
    ``POST /token`` over a closed loop of ``threads`` keep-alive clients."""
    here = Path(__file__).resolve().parent
    sys.path.insert(0, str(here))
    from loginbench.backchannel import Backchannel
    from loginbench.machine import process_tree_cpu_seconds
    from loginbench.server import free_port
    from loginbench.server import wait_for_workers

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "sync"]
        + ["--bind", f"127.0.0.1:{port}", "floor_app:app"],
        cwd=here,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_workers(server.pid, workers)
        url = f"http://127.0.0.1:{port}"
        counts = [0] * threads
        stop = time.monotonic() + seconds + 1

        def loop(index: int) -> None:
            channel = Backchannel(url)
            while time.monotonic() < stop:
                channel.post_form("/token", {"grant_type": "client_credentials"}, ("a", "b"))
                counts[index] += 1

        workers_threads = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
        for thread in workers_threads:
            thread.start()
        time.sleep(1)  # warm-up: what is counted starts now
        done, cpu = sum(counts), process_tree_cpu_seconds(server.pid) or 0.0
        for thread in workers_threads:
            thread.join()
        done, cpu = sum(counts) - done, (process_tree_cpu_seconds(server.pid) or 0.0) - cpu
        each = cpu / done * 1000
        print(f"floor: {done} POST /token in {seconds:.0f} s, server CPU {each:.3f} ms each")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    cpu_per_request()
