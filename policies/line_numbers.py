"""A2: line numbers — ``CAF`` + 10 letters/digits (13 characters) or ``COP`` + 8 (11).

The one normaliser for every place a number is read: the admin console and CLI (typed by a
person, often with the hyphens and spaces of NTT's paperwork), the development gateway's
``--line`` and the signed ``X-Line-Number`` header (``idp/line/gateway.py``).
"""

from __future__ import annotations

import re

LINE_NUMBER = re.compile(r"(CAF[0-9A-Z]{10}|COP[0-9A-Z]{8})")
#: Longer input is not a line number, however many separators it has.
MAX_INPUT_LENGTH = 40
#: What a person writes between the groups of digits; dropped before the check.
SEPARATORS = str.maketrans("", "", " -")


def normalise_line_number(raw: str) -> str | None:
    """The number in upper case without spaces or hyphens, or None when it is not one.

    Only ASCII is accepted (``"ı".upper()`` is ``"I"``), and no other character is dropped,
    so a control character such as a newline never survives: the gateway's signed canonical
    string relies on the number holding none (``idp/line/gateway.py``).
    """
    if not isinstance(raw, str) or len(raw) > MAX_INPUT_LENGTH or not raw.isascii():
        return None
    candidate = raw.translate(SEPARATORS).upper()
    return candidate if LINE_NUMBER.fullmatch(candidate) else None
