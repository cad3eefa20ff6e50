"""Developer pages (only with ``IDP_DEV=1``): the mail and SMS outboxes, links clickable."""

from __future__ import annotations

import email
import re
from email import policy
from pathlib import Path

from flask import Blueprint
from flask import Response
from flask import abort
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
