"""L6: the recovery code — shown once, stored hashed, accepted as copied, replaced on use."""

from __future__ import annotations

import hashlib
import hmac
import secrets

#: Unambiguous alphabet (no 0/O, 1/I/L): 16 characters ≈ 80 bits.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
LENGTH = 16


def new_recovery_code() -> str:
    """Grouped for reading: ``ABCD-EFGH-JKMN-PQRS``."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, LENGTH, 4))


def normalise(code: str) -> str:
    """Accepted as copied: spaces and hyphens ignored, case-insensitive."""
    return "".join(c for c in code.upper() if c not in " -\u3000\t\r\n")


def hash_recovery_code(code: str) -> str:
    # High entropy: SHA-256 is enough (like client secrets), compared in constant time.
    return hashlib.sha256(normalise(code).encode()).hexdigest()


def matches(code: str, stored_hash: str) -> bool:
    if len(code) > 100:
        return False
    return hmac.compare_digest(hash_recovery_code(code), stored_hash)
