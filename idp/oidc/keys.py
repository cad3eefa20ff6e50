"""Signing keys: one RSA (RS256) and one EC (ES256) key per generation, kept as JWK files.

``idp keys rotate`` adds a generation and signs with it; older generations stay published in
the JWKS until every token they signed has expired, then are removed.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from joserfc.jwk import ECKey
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey

SIGNING_ALGORITHMS = ("RS256", "ES256")


@dataclass(frozen=True)
class Generation:
    created_at: float
    retired_at: float | None
    keys: dict[str, RSAKey | ECKey]  # alg -> key


class KeyStore:
    """Reads the keys folder, reloading when it changes (so a rotation by the CLI reaches
    running workers); the folder must be shared by all nodes."""

    def __init__(self, folder: str | os.PathLike[str], retention_seconds: int) -> None:
        self.folder = Path(folder)
        self.retention_seconds = retention_seconds
        self._lock = threading.Lock()
        self._stamp: float | None = None
        self._generations: list[Generation] = []
        self._keyset = KeySet([])

    def _files(self) -> list[Path]:
        return sorted(self.folder.glob("gen-*.json"))

    def _load(self) -> None:
        stamp = self.folder.stat().st_mtime if self.folder.exists() else None
        if stamp is not None and stamp == self._stamp:
            return
        with self._lock:
            generations = []
            for path in self._files():
                data = json.loads(path.read_text())
                keys: dict[str, RSAKey | ECKey] = {}
                for jwk in data["keys"]:
                    key = RSAKey.import_key(jwk) if jwk["kty"] == "RSA" else ECKey.import_key(jwk)
                    keys[jwk["alg"]] = key
                generations.append(Generation(data["created_at"], data.get("retired_at"), keys))
            generations.sort(key=lambda g: g.created_at)
            self._generations = generations
            self._keyset = KeySet([k for g in generations for k in g.keys.values()])
            self._stamp = stamp

    def ensure(self) -> bool:
        """Create the first generation when there is none; True if one was created."""
        self._load()
        if self._generations:
            return False
        self.rotate()
        return True

    def rotate(self, now: float | None = None) -> str:
        """Add a generation, retire the previous ones, drop those past retention.

        :returns: the new RS256 key id.
        """
        now = time.time() if now is None else now
        self.folder.mkdir(parents=True, exist_ok=True)
        for path in self._files():
            data = json.loads(path.read_text())
            if data.get("retired_at") is None:
                data["retired_at"] = now
                _write_private(path, data)
            elif data["retired_at"] + self.retention_seconds < now:
                path.unlink()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
        suffix = secrets.token_hex(4)
        rsa_kid = f"rs-{stamp}-{suffix}"
        rsa = RSAKey.generate_key(
            2048, parameters={"kid": rsa_kid, "use": "sig", "alg": "RS256"}, private=True
        )
        ec = ECKey.generate_key(
            "P-256",
            parameters={"kid": f"ec-{stamp}-{suffix}", "use": "sig", "alg": "ES256"},
            private=True,
        )
        data = {
            "created_at": now,
            "retired_at": None,
            "keys": [rsa.as_dict(private=True), ec.as_dict(private=True)],
        }
        _write_private(self.folder / f"gen-{stamp}-{suffix}.json", data)
        self._stamp = None
        self._load()
        return rsa_kid

    def signing_key(self, alg: str) -> RSAKey | ECKey:
        """The newest generation's key for ``alg``."""
        self._load()
        if not self._generations:
            raise RuntimeError("no signing keys: run `idp init`")
        return self._generations[-1].keys[alg]

    def public_jwks(self) -> dict[str, object]:
        self._load()
        return dict(self._keyset.as_dict(private=False))

    def verification_keys(self) -> KeySet:
        self._load()
        return self._keyset


def _write_private(path: Path, data: dict[str, object]) -> None:
    """Write a private-key file readable by its owner only, atomically."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)
