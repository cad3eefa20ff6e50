"""L4: SMS codes — 6 digits, 10 minutes, 5 attempts per code, and at most 5 sends per user and
per number an hour; every counter atomic in the ephemeral store."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from dataclasses import dataclass

from idp import extensions
from idp.sms.base import SmsError

log = logging.getLogger("idp.sms")

CODE_TTL = 600
MAX_ATTEMPTS = 5
SENDS_PER_HOUR = 5
MESSAGE = {
    "ja": "WORKSDRIVE 認証コード: {code}（10分間有効）。このコードを他人に教えないでください。",
    "en": "WORKSDRIVE verification code: {code} (valid 10 minutes). Never share this code.",
}


@dataclass(frozen=True)
class SendOutcome:
    sent: bool
    #: ``rate_limited_user``, ``rate_limited_phone`` or the gateway's reason (``timeout`` …).
    reason: str | None = None
    #: When rate-limited: the counter whose window must pass (for ``Retry-After``).
    limit_key: str | None = None


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def send_code(tx_id: str, user_id: str, phone: str, locale: str) -> SendOutcome:
    """Send a fresh code for this transaction to ``phone`` (E.164); replaces an earlier one."""
    store = extensions.store()
    # Each send is counted before it is made (atomic), so parallel sends cannot pass a limit.
    for reason, key in (
        ("rate_limited_user", f"sms-sends-user:{user_id}"),
        ("rate_limited_phone", f"sms-sends-phone:{phone}"),
    ):
        if store.incr(key, 3600) > SENDS_PER_HOUR:
            return SendOutcome(False, reason, limit_key=key)
    code = f"{secrets.randbelow(1_000_000):06d}"
    code_id = secrets.token_hex(8)
    text = MESSAGE.get(locale, MESSAGE["ja"]).format(code=code)
    try:
        extensions.sms().send(phone, text)
    except SmsError as error:
        log.warning(
            "sms not sent: provider=%s reason=%s detail=%s",
            error.provider,
            error.reason,
            error.detail,
        )
        return SendOutcome(False, error.reason or "gateway_error")
    store.set_json(
        f"sms-code:{tx_id}",
        {"id": code_id, "hash": _digest(code), "phone": phone, "exp": time.time() + CODE_TTL},
        CODE_TTL,
    )
    return SendOutcome(True)


def check_code(tx_id: str, code: str) -> tuple[str | None, str | None]:
    """(phone, None) when ``code`` is right; (None, reason) otherwise. The 6th attempt on one
    code is refused even when right (``too_many_attempts``)."""
    store = extensions.store()
    data = store.get_json(f"sms-code:{tx_id}")
    if data is None or time.time() >= data["exp"]:
        return None, "code_expired"
    if store.incr(f"sms-attempts:{tx_id}:{data['id']}", CODE_TTL) > MAX_ATTEMPTS:
        return None, "too_many_attempts"
    code = "".join(code.split())
    if len(code) != 6 or not hmac.compare_digest(_digest(code), data["hash"]):
        return None, "wrong_code"
    if store.pop(f"sms-code:{tx_id}") is None:
        return None, "code_expired"  # used by a parallel request
    return str(data["phone"]), None


def has_pending_code(tx_id: str) -> bool:
    return extensions.store().get(f"sms-code:{tx_id}") is not None
