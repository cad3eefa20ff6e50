"""The mailer: transmits a message by SMTP (``IDP_SMTP_URL``) or as an ``.eml`` file in the
outbox folder, runs mail jobs off the request thread, and on each node a worker thread that
sends what the mail queue holds (``idp/mail/queue.py``)."""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import formatdate
from email.utils import make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import unquote
from urllib.parse import urlsplit

from flask import Flask

from idp.background import BackgroundJobs
from idp.background import Sweeper

log = logging.getLogger("idp.mail")


def _no_queue(_only: list[str] | None) -> None:
    raise RuntimeError("the mail queue is not set up (idp.factory.setup_services)")


class Mailer:
    def __init__(self, smtp_url: str, outbox_dir: Path, sender: str) -> None:
        self.smtp_url = smtp_url
        self.outbox_dir = outbox_dir
        self.sender = sender
        # Mails go out off the request thread, so that answers do not reveal by their
        # timing whether a mail was sent (K3, L2).
        self._jobs = BackgroundJobs("mail", log)
        #: Seconds between the queue worker's sweeps; 0: no worker (``idp mail queue``).
        self.retry_interval = 0
        #: Sends the due mails of the queue (``idp.mail.queue.send_due``, given at setup:
        #: the queue's module needs the app's services, which name this class).
        self.send_due: Callable[[list[str] | None], object] = _no_queue
        # What an earlier run or another node left is sent at once, then every interval.
        self._worker = Sweeper("mail-queue", log, lambda: self.send_due(None), at_start=True)

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

    def transmit(self, raw: bytes) -> None:
        """Hand one message (its bytes, as queued) to the SMTP server, or write it to the
        outbox. Raises ``smtplib.SMTPException`` or ``OSError`` when it could not."""
        if not self.smtp_url:
            self._write_outbox(raw)
            return
        message = BytesParser(_class=EmailMessage, policy=policy.default).parsebytes(raw)
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

    def _write_outbox(self, raw: bytes) -> None:
        """Write the ``.eml`` under a temporary name and rename it: a full disk leaves no
        half-written mail in the outbox (the temporary file is removed, the mail stays
        queued)."""
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        partial = self.outbox_dir / f".{name}.partial"
        try:
            with partial.open("wb") as handle:
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(self.outbox_dir / name)

    def submit(self, app: Flask, job: Any, *args: Any) -> None:
        """Run ``job(*args)`` (which renders and sends) in the app context off-thread."""
        self._jobs.submit(app, lambda: job(*args))

    def wait_idle(self, timeout: float = 30) -> None:
        """Block until every queued mail job has finished (CLI, tests of the outbox)."""
        self._jobs.wait_idle(timeout)

    def send_queued(self, app: Flask, row_id: str) -> None:
        """Send a mail just queued, off the request thread (the worker retries it later
        if the server does not take it now)."""

        self._jobs.submit(app, lambda: self.send_due([row_id]))

    def start_worker(self, app: Flask) -> None:
        """Start this process's queue worker once (at its first request): it sends what is
        due, also what an earlier run or another node left, every ``retry_interval``."""
        self._worker.start(app, self.retry_interval)

    def stop_worker(self, timeout: float = 10) -> None:
        """End the worker thread (a test's app that stops serving)."""
        self._worker.stop(timeout)
