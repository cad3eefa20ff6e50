"""Development outbox: each SMS becomes one JSON file in ``<instance>/sms-outbox`` instead of
leaving the machine, and the developer page lists them, as it lists the mail outbox."""

from __future__ import annotations

import errno
import json
import logging
import os
import uuid
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from idp.sms.base import SmsError
from idp.sms.base import check_e164
from idp.sms.base import mask_number

log = logging.getLogger(__name__)

FOLDER_NAME = "sms-outbox"


class OutboxSender:
    """Writes ``{"id", "to", "text", "created_at"}`` per SMS; fails only for a number that a
    real gateway would refuse too, or when the disk is full."""

    name = "outbox"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, to: str, text: str) -> str:
        check_e164(to, self.name)
        now = datetime.now(UTC)
        message_id = f"outbox-{uuid.uuid4().hex}"
        entry = {"id": message_id, "to": to, "text": text, "created_at": now.isoformat()}
        self.folder.mkdir(parents=True, exist_ok=True)
        # The name sorts by time; write then rename, so that the page never reads half a file.
        path = self.folder / f"{now.strftime('%Y%m%dT%H%M%S.%f')}-{message_id}.json"
        temporary = path.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(entry, ensure_ascii=False), encoding="utf-8")
        except OSError as error:
            # A full disk: no half-written file stays; the page says the SMS could not be
            # sent (503, as for a gateway that is down) and the person may retry.
            temporary.unlink(missing_ok=True)
            raise SmsError(
                "server_error", self.name, errno.errorcode.get(error.errno or 0, "")
            ) from error
        os.replace(temporary, path)
        log.info("SMS to %s written to the outbox as %s", mask_number(to), message_id)
        return message_id


def list_outbox(instance_dir: Path, limit: int = 100) -> list[dict[str, Any]]:
    """The newest ``limit`` SMS of the outbox, newest first (for the developer page)."""
    messages: list[dict[str, Any]] = []
    for path in sorted(Path(instance_dir, FOLDER_NAME).glob("*.json"), reverse=True):
        if len(messages) >= limit:
            break
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):  # removed meanwhile, or not ours
            continue
        if isinstance(entry, dict):
            messages.append(entry)
    return messages
