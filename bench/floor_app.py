"""The floor of the latency targets: a Flask app that answers ``POST /token`` with a fixed
token and nothing else (no database, no store, no hashing, no logging), served like the
provider (gunicorn, the same worker class and workers), measured by the same load client.

Whatever p99/p50 this app shows at 80 % of its own saturating rate is what the machine, the
kernel, gunicorn, Flask and the load client (on the same cores) cost the tail of any request;
the provider's own tail can only be judged above it (bench/README.md, "The tail's floor")::

    .venv/bin/gunicorn --workers 2 --worker-class sync --bind 127.0.0.1:8099 \\
        'bench.floor_app:app' &
    .venv/bin/python bench/login_bench.py --url http://127.0.0.1:8099 \\
        --flows client_credentials --service-client-id floor --service-client-secret floor \\
        --client-id - --client-secret - --email floor@example.com --password - \\
        --duration 8 --load --load-seconds 20 --overload-seconds 5 --arrivals uniform
"""

from __future__ import annotations

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
