"""How a client secret is kept: a leaf module (no idp imports), so that the model's mixin
(``idp.oidc.clients``) and the domain (``idp.clients``) share it without a cycle."""

from __future__ import annotations

import hashlib


def hash_client_secret(secret: str) -> str:
    """Client secrets are high-entropy random strings: SHA-256 suffices (DESIGN.md, Cost on
    the hot paths); never a password hash, the token endpoint checks them on every grant."""
    return hashlib.sha256(secret.encode()).hexdigest()
