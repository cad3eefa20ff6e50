"""A2: line numbers — ``CAF`` + 10 letters/digits (13 characters) or ``COP`` + 8 (11)."""

from __future__ import annotations

import re

LINE_NUMBER = re.compile(r"(CAF[0-9A-Z]{10}|COP[0-9A-Z]{8})")


def normalise_line_number(raw: str) -> str | None:
    """The number in upper case without spaces or hyphens, or None when it is not one."""
    if not isinstance(raw, str) or len(raw) > 40 or not raw.isascii():
        return None  # "ı".upper() is "I": only ASCII letters and digits are line numbers
    candidate = "".join(raw.split()).replace("-", "").upper()
    return candidate if LINE_NUMBER.fullmatch(candidate) else None
