"""Encryption at rest of second-factor secrets (TOTP seeds), with a key from the environment."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet
from cryptography.fernet import InvalidToken


class SecretBox:
    """Fernet (AES-128-CBC + HMAC-SHA256) with the key from ``IDP_ENCRYPTION_KEY``."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    @classmethod
    def for_development(cls, secret_key: str) -> SecretBox:
        """Development only: a key derived from the secret key."""
        digest = hashlib.sha256(b"idp-encryption:" + secret_key.encode()).digest()
        return cls(base64.urlsafe_b64encode(digest).decode())

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as error:
            raise ValueError("cannot decrypt: wrong IDP_ENCRYPTION_KEY or damaged value") from error
