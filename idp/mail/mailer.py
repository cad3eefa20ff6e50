"""The mailer: delivers a built message by SMTP (``IDP_SMTP_URL``) or as an ``.eml`` file in
the outbox folder, and runs mail jobs off the request thread."""

from __future__ import annotations

import logging
import smtplib
import ssl
import time
import uuid
from email.message import EmailMessage
from email.utils import formatdate
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from urllib.parse import urlsplit

from flask import Flask

from idp.background import BackgroundJobs

log = logging.getLogger("idp.mail")


class Mailer:
    def __init__(self, smtp_url: str, outbox_dir: Path, sender: str) -> None:
        self.smtp_url = smtp_url
        self.outbox_dir = outbox_dir
        self.sender = sender
        # Mails go out off the request thread, so that answers do not reveal by their
        # timing whether a mail was sent (K3, L2).
        self._jobs = BackgroundJobs("mail", log)

    def build(self, to: str, subject: str, body: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain="worksdrive.example")
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body, charset="utf-8")
        return message

    def deliver(self, message: EmailMessage) -> None:
        if not self.smtp_url:
            self.outbox_dir.mkdir(parents=True, exist_ok=True)
            name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
            (self.outbox_dir / name).write_bytes(bytes(message))
            return
        url = urlsplit(self.smtp_url)
        host, port = url.hostname or "localhost", url.port
        if url.scheme == "smtps":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                host, port or 465, timeout=10, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(host, port or 25, timeout=10)
        with client:
            if url.scheme == "smtp+starttls":
                client.starttls(context=ssl.create_default_context())
            if url.username:
                client.login(unquote(url.username), unquote(url.password or ""))
            client.send_message(message)

    def submit(self, app: Flask, job: Any, *args: Any) -> None:
        """Run ``job(*args)`` (which renders and sends) in the app context off-thread."""
        self._jobs.submit(app, lambda: job(*args))

    def wait_idle(self, timeout: float = 30) -> None:
        """Block until every queued mail job has finished (CLI, tests of the outbox)."""
        self._jobs.wait_idle(timeout)
