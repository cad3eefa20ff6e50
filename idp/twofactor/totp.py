"""L5: authenticator apps (RFC 6238 TOTP: 30 s, 6 digits, ±1 step), each code accepted once."""

from __future__ import annotations

import time
from typing import Any

import pyotp
import segno

ISSUER_NAME = "WORKSDRIVE"
PERIOD = 30
#: RFC 6238 §5.2: one step of clock drift either way.
VALID_WINDOW = 1


def new_secret() -> str:
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str) -> str:
    """The otpauth URI Google and Microsoft Authenticator read."""
    return pyotp.TOTP(secret, interval=PERIOD).provisioning_uri(
        name=account, issuer_name=ISSUER_NAME
    )


def qr_svg_data_uri(uri: str) -> str:
    """The QR code rendered here (no outside service), as an SVG data URI for an <img>."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=4, border=2))


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code equals ``code`` (within ±1 step), or None."""
    code = "".join(code.split())
    if len(code) != 6 or not code.isdigit():
        return None
    now = time.time() if now is None else now
    totp = pyotp.TOTP(secret, interval=PERIOD)
    current = int(now // PERIOD)
    for step in range(current - VALID_WINDOW, current + VALID_WINDOW + 1):
        if totp.verify(code, for_time=step * PERIOD, valid_window=0):
            return step
    return None


def claim_step(store: Any, factor_id: str, step: int) -> bool:
    """RFC 6238 §5.2: a code is accepted once; atomic, so a replay in parallel fails too."""
    return bool(store.add(f"totp-used:{factor_id}:{step}", "1", PERIOD * (2 * VALID_WINDOW + 2)))
