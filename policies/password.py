"""P2: the password rule, wherever a password is set."""

from __future__ import annotations

import string
from collections.abc import Collection

MIN_LENGTH = 8
#: Long enough for passphrases and password managers; bounded so hashing cost stays bounded.
MAX_LENGTH = 128
MIN_CLASSES = 3
SYMBOLS = frozenset(string.punctuation + " ")


def count_character_classes(password: str) -> int:
    """How many of upper case, lower case, digits and symbols ``password`` uses."""
    has_upper = any(c.isupper() for c in password)
    has_lower = any(c.islower() for c in password)
    has_digit = any(c.isdigit() for c in password)
    has_symbol = any(c in SYMBOLS or not c.isalnum() for c in password)
    return sum((has_upper, has_lower, has_digit, has_symbol))


def check_password(
    password: str,
    *,
    common_passwords: Collection[str] = (),
    email: str | None = None,
) -> list[str]:
    """P2: at least 8 characters using 3 of the 4 classes; also at most ``MAX_LENGTH``,
    not a well-known common password and not the email address.

    :returns: reason codes of every rule broken; empty when the password is acceptable.
    """
    problems: list[str] = []
    if len(password) < MIN_LENGTH:
        problems.append("too_short")
    if len(password) > MAX_LENGTH:
        problems.append("too_long")
    if count_character_classes(password) < MIN_CLASSES:
        problems.append("too_few_classes")
    folded = password.casefold()
    if folded in common_passwords:
        problems.append("common")
    if email and folded in (email.casefold(), email.casefold().split("@")[0]):
        problems.append("is_email")
    return problems
