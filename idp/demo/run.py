"""``idp demo``: a demo contract, users and the demo storage frontend, all on this machine.

The provider runs under gunicorn-like production code paths but on werkzeug's threaded
server (one process, so the demo needs nothing else running); mails go to the outbox folder,
shown at /dev/outbox."""

from __future__ import annotations

import json
import os
import secrets
import threading
from pathlib import Path
from typing import Any

import click
from werkzeug.serving import make_server

from idp import extensions

DEMO_STATE = "demo.json"
DEMO_CLIENT_ID = "worksdrive-frontend"


def prepare_demo(app: Any, frontend_url: str) -> dict[str, Any]:
    """Create the demo contract, contractor, user and client once; returns their details."""
    from idp.actor import Actor
    from idp.clients import add_client
    from idp.contracts.contract import add_contract
    from idp.maintenance import init_database
    from idp.users.add import add_user

    init_database(app)
    state_path = Path(app.instance_path) / DEMO_STATE
    if state_path.exists():
        return dict(json.loads(state_path.read_text()))
    actor = Actor.system("demo")
    with app.app_context():
        contract_id = add_contract(actor, "Demo contract", "basic", False, "line+internet").id
        passwords = {
            "contractor": "Demo-" + secrets.token_urlsafe(9),
            "user": "Demo-" + secrets.token_urlsafe(9),
        }
        add_user(
            actor,
            contract_id,
            "contractor@demo.example",
            passwords["contractor"],
            name="デモ 契約者",
            role="contractor",
        )
        add_user(actor, contract_id, "user@demo.example", passwords["user"], name="デモ 利用者")
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
    state = {
        "contract_id": contract_id,
        "users": {
            "contractor@demo.example": passwords["contractor"],
            "user@demo.example": passwords["user"],
        },
        "client_id": DEMO_CLIENT_ID,
        "client_secret": secret,
    }
    state_path.write_text(json.dumps(state, indent=2))
    os.chmod(state_path, 0o600)
    return state


def run_demo(port: int, frontend_port: int, host: str = "127.0.0.1") -> None:
    from idp.demo.frontend import create_frontend_app
    from idp.factory import create_app

    os.environ.setdefault("IDP_DEV", "1")
    os.environ.setdefault("IDP_ISSUER", f"http://{host}:{port}")
    app = create_app()
    issuer = extensions.settings.of(app).issuer
    frontend_url = f"http://{host}:{frontend_port}"
    state = prepare_demo(app, frontend_url)
    frontend = create_frontend_app(issuer, state["client_id"], state["client_secret"], frontend_url)

    provider_server = make_server(host, port, app, threaded=True)
    frontend_server = make_server(host, frontend_port, frontend, threaded=True)
    threading.Thread(target=provider_server.serve_forever, daemon=True).start()
    click.echo(f"Provider:        {issuer}  (mails: {issuer}/dev/outbox)")
    click.echo(f"Storage frontend: {frontend_url}")
    click.echo(f"Contract:        {state['contract_id']} (plan basic, 2FA off)")
    for email, password in state["users"].items():
        click.echo(f"  {email:28} password: {password}")
    click.echo("Ctrl-C stops both.")
    try:
        frontend_server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        provider_server.shutdown()
