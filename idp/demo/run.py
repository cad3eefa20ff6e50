"""``idp demo``: demo contracts and users, the demo storage frontend and the development line
gateway, all on this machine.

The provider runs on werkzeug's threaded server (one process, so the demo needs nothing else
running); mails go to the outbox folder, shown at /dev/outbox. The request log and the app's
own lines go to ``<instance>/demo.log`` (warnings and errors stay on the terminal), so that the
"try this" sheet printed once the servers answer stays on screen; /dev/demo shows it as well,
read from the live state."""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any

import click
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server

from idp import extensions
from idp.actor import Actor
from idp.demo.accounts import DEMO_CLIENT_ID
from idp.demo.accounts import DEMO_GATEWAY_SECRET
from idp.demo.accounts import DEMO_LINE
from idp.demo.accounts import DEMO_LINE_AREA
from idp.demo.accounts import forget_deleted
from idp.demo.accounts import prepare_accounts
from idp.demo.accounts import read_state
from idp.demo.accounts import restore_accounts
from idp.demo.accounts import write_state
from idp.demo.sheet import format_sheet
from idp.demo.sheet import read_sheet

LOG_FILE = "demo.log"


def prepare_demo(app: Any, frontend_url: str, gateway_url: str = "") -> dict[str, Any]:
    """Create what is missing of the demo (contracts, users, line, client) and record the
    URLs it runs on; returns the state kept in ``<instance>/demo.json``."""
    from idp.clients import add_client
    from idp.maintenance import init_database

    init_database(app)
    actor = Actor.system("demo")
    with app.app_context():
        state = forget_deleted(read_state(app.instance_path) or {})
        state = prepare_accounts(actor, state)
        if "client_secret" not in state:
            _client, secret = add_client(
                actor,
                "WORKSDRIVE demo storage frontend",
                [f"{frontend_url}/callback"],
                [f"{frontend_url}/"],
                client_id=DEMO_CLIENT_ID,
                trusted=True,
                # X7: the frontend ends its own session when the provider's ends.
                backchannel_logout_uri=f"{frontend_url}/backchannel-logout",
            )
            state.update(client_id=DEMO_CLIENT_ID, client_secret=secret)
        state.update(frontend_url=frontend_url, gateway_url=gateway_url)
        write_state(app.instance_path, state)
    return state


def reset_demo(app: Any) -> list[str]:
    """``idp demo --reset``: the demo users' passwords, locks and the line's notice back to
    the demo values (every other change made in the demo is kept)."""
    state = read_state(app.instance_path)
    if state is None or "user_ids" not in state:
        return []
    with app.app_context():
        # The operator's command (the admin rules let the command line enable a user).
        return restore_accounts(Actor.cli(), forget_deleted(state))


def quiet_logs(path: Path) -> None:
    """Request and app log lines to ``path``; warnings and errors still on the terminal."""
    from idp.log_lines import JsonFormatter

    to_file = logging.FileHandler(path, encoding="utf-8")
    to_file.setFormatter(JsonFormatter())
    to_terminal = logging.StreamHandler(sys.stderr)
    to_terminal.setFormatter(JsonFormatter())
    to_terminal.setLevel(logging.WARNING)
    for name in ("idp", "werkzeug"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
        logger.addHandler(to_file)
        logger.addHandler(to_terminal)
        logger.setLevel(logging.INFO)
        logger.propagate = False


def _serve(server: BaseWSGIServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


def run_demo(
    port: int,
    frontend_port: int,
    gateway_port: int,
    host: str = "127.0.0.1",
    reset: bool = False,
) -> None:
    from idp.demo.frontend import create_frontend_app
    from idp.factory import create_app
    from idp.line.dev_gateway import make_dev_gateway_app

    gateway_url = f"http://{host}:{gateway_port}"
    os.environ.setdefault("IDP_DEV", "1")
    os.environ.setdefault("IDP_ISSUER", f"http://{host}:{port}")
    os.environ.setdefault("IDP_LINE_GATEWAY_SECRET", DEMO_GATEWAY_SECRET)
    os.environ.setdefault("IDP_LINE_LOGIN_URL", f"{gateway_url}/line")
    app = create_app()
    settings = extensions.settings.of(app)
    issuer = settings.issuer
    log_path = Path(app.instance_path) / LOG_FILE
    quiet_logs(log_path)
    if reset:
        for line in reset_demo(app):
            click.echo(f"reset: {line}")
    frontend_url = f"http://{host}:{frontend_port}"
    state = prepare_demo(app, frontend_url, gateway_url)
    frontend = create_frontend_app(issuer, state["client_id"], state["client_secret"], frontend_url)
    gateway = make_dev_gateway_app(
        DEMO_LINE, DEMO_LINE_AREA, issuer, settings.line_gateway_secret.encode()
    )
    servers = [
        make_server(host, port, app, threaded=True),
        make_server(host, frontend_port, frontend, threaded=True),
        make_server(host, gateway_port, gateway, threaded=True),
    ]
    threads = [_serve(server) for server in servers]
    # The servers listen from make_server on; the sheet comes once they serve.
    with app.app_context():
        click.echo(format_sheet(read_sheet(state, issuer)))
    click.echo(f"Log: {log_path} · the sheet, live: {issuer}/dev/demo · Ctrl-C stops all.")
    sys.stdout.flush()
    try:
        threads[0].join()
    except KeyboardInterrupt:
        pass
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
