"""Developer pages (only with ``IDP_DEV=1``; a 404 otherwise): the mail and SMS outboxes,
links clickable, and the demo's "try this" sheet read from the live state."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

from flask import Blueprint
from flask import Response
from flask import abort
from flask import current_app
from flask import render_template

from idp import extensions
from idp.sms import list_outbox

bp = Blueprint("dev", __name__)
LINK = re.compile(r"https?://[^\s<>\"']+")


@bp.get("/dev/outbox")
def outbox() -> Response:
    settings = extensions.settings()
    if not settings.dev:
        abort(404)
    folder = Path(settings.instance_dir) / "outbox"
    mails = []
    for path in sorted(folder.glob("*.eml"), reverse=True)[:100]:
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        body = message.get_body(("plain",))
        text = body.get_content() if body is not None else ""
        mails.append(
            {
                "to": message["To"],
                "subject": message["Subject"],
                "date": message["Date"],
                "text": text,
                "links": LINK.findall(text),
            }
        )
    sms = list_outbox(Path(settings.instance_dir))
    return Response(render_template("dev/outbox.html", mails=mails, sms=sms))


@bp.get("/dev/demo")
def demo_sheet() -> Response:
    """The ``idp demo`` sheet as the demo is now (a password changed in the demo says so)."""
    from idp.demo.accounts import read_state
    from idp.demo.sheet import STATUS
    from idp.demo.sheet import read_sheet

    settings = extensions.settings()
    if not settings.dev:
        abort(404)
    state = read_state(current_app.instance_path)
    sheet = read_sheet(state, settings.issuer) if state and "user_ids" in state else None
    return Response(render_template("dev/demo.html", sheet=sheet, status=STATUS))
