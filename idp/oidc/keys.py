"""Signing keys: one RSA (RS256) and one EC (ES256) key per generation, kept as JWK files.

``idp keys rotate`` adds a generation and signs with it; older generations stay published in
the JWKS until every token they signed has expired, then are removed (at the next rotation or
``idp purge``). Every node reads the shared folder again when its modification time changes, so
a rotation done elsewhere reaches every node without a restart.

How often the folder is looked at (a ``stat`` on every token request was a measurable share of
the token endpoint, issue 13): the JWKS and the verification keys look at every call, as a node
must publish and accept a key the moment any node may sign with it (a relying party that meets
an unknown ``kid`` fetches the JWKS from whichever node it reaches). Signing looks at most once
per :data:`SIGNING_RECHECK_SECONDS` (monotonic clock): for that long after a rotation elsewhere
a node may still sign with the generation it holds. That is safe because a rotation retires
that generation without removing it: it stays in the JWKS until the retention has passed, far
longer than the window. A rotation in this process is used at once.

Private keys are readable by their owner only: files are written 0600 in a 0700 folder. At
start-up (:meth:`KeyStore.check_permissions`) a key file that its group or others may read
stops the provider with the command to fix it, rather than being fixed silently: it may have
been read already, and only the operator can decide to rotate (PostgreSQL and OpenSSH refuse
such key files too). A folder others may enter is only tightened to 0700 (its listing holds
no secret); one others may write to is refused (a planted file would be signed with).
"""

from __future__ import annotations

import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from joserfc.jwk import ECKey
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey

from idp.config import ConfigError

SIGNING_ALGORITHMS = ("RS256", "ES256")
#: Signing looks at the folder at most this often (see the module's docstring).
SIGNING_RECHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Generation:
    created_at: float
    retired_at: float | None
    keys: dict[str, RSAKey | ECKey]  # alg -> key


class KeyStore:
    """Reads the keys folder, reloading when it changes (so a rotation by the CLI reaches
    running workers); the folder must be shared by all nodes."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        retention_seconds: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = Path(folder)
        self.retention_seconds = retention_seconds
        self.clock = clock
        #: ``clock()`` before which signing need not look at the folder again.
        self._signing_fresh_until = float("-inf")
        self._lock = threading.Lock()
        self._stamp: int | None = None
        self._generations: list[Generation] = []
        self._keyset = KeySet([])
        self._checked: tuple[str, int, int] | None = None

    def _files(self) -> list[Path]:
        return sorted(self.folder.glob("gen-*.json"))

    def _read(self) -> list[Generation]:
        return sorted(
            (_generation(json.loads(path.read_text())) for path in self._files()),
            key=lambda g: g.created_at,
        )

    def _load(self) -> None:
        try:
            stamp: int | None = os.stat(self.folder).st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp is not None and stamp == self._stamp:
            return
        with self._lock:
            generations = self._read()
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
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder.chmod(0o700)
        for path in self._files():
            data = json.loads(path.read_text())
            if data.get("retired_at") is None:
                data["retired_at"] = now
                _write_private(path, data)
        self.prune(now)
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

    def prune(self, now: float | None = None) -> int:
        """Delete the generations retired longer ago than the retention (no token they
        signed can still be valid); returns how many."""
        now = time.time() if now is None else now
        pruned = 0
        for path in self._files():
            retired_at = json.loads(path.read_text()).get("retired_at")
            if retired_at is not None and retired_at + self.retention_seconds < now:
                path.unlink()
                pruned += 1
        return pruned

    def check(self) -> None:
        """Readiness: the newest generation can be read from the folder now (not from this
        process's cache) and holds a private key for every algorithm; raises otherwise.

        Importing an RSA private key costs ~30 ms (its validation), so a file already
        checked and unchanged (same name, size and modification time) is only read again."""
        files = [(json.loads(path.read_text()), path) for path in self._files()]
        if not files:
            raise RuntimeError("no signing keys")
        data, path = max(files, key=lambda item: float(item[0]["created_at"]))
        info = path.stat()
        stamp = (path.name, info.st_size, info.st_mtime_ns)
        if stamp == self._checked:
            return
        keys = _generation(data).keys
        if any(alg not in keys or not keys[alg].is_private for alg in SIGNING_ALGORITHMS):
            raise RuntimeError("the newest key generation lacks a private key")
        self._checked = stamp

    def check_permissions(self) -> None:
        """Refuse key files others may read and a folder others may write to; tighten a
        folder others may enter to 0700 (see the module's docstring for why)."""
        if not self.folder.exists():
            return
        mode = self.folder.stat().st_mode & 0o777
        if mode & 0o022:
            raise ConfigError(
                f"IDP_KEYS_DIR {self.folder} may be written to by others (mode {mode:04o}): "
                f"run `chmod 700 {self.folder}`"
            )
        if mode & 0o077:
            self.folder.chmod(0o700)
        for path in self._files():
            mode = path.stat().st_mode & 0o777
            if mode & 0o077:
                raise ConfigError(
                    f"private key file {path} may be read by others (mode {mode:04o}): "
                    f"run `chmod 600 {path}`, then `idp keys rotate` if it may have been read"
                )

    def signing_key(self, alg: str) -> RSAKey | ECKey:
        """The newest generation's key for ``alg`` (as of the folder at most
        :data:`SIGNING_RECHECK_SECONDS` ago)."""
        now = self.clock()
        if now >= self._signing_fresh_until or not self._generations:
            self._load()
            self._signing_fresh_until = now + SIGNING_RECHECK_SECONDS
        if not self._generations:
            raise RuntimeError("no signing keys: run `idp init`")
        return self._generations[-1].keys[alg]

    def public_jwks(self) -> dict[str, object]:
        self._load()
        return dict(self._keyset.as_dict(private=False))

    def verification_keys(self) -> KeySet:
        self._load()
        return self._keyset


def _generation(data: dict[str, Any]) -> Generation:
    keys: dict[str, RSAKey | ECKey] = {}
    for jwk in data["keys"]:
        keys[jwk["alg"]] = RSAKey.import_key(jwk) if jwk["kty"] == "RSA" else ECKey.import_key(jwk)
    return Generation(data["created_at"], data.get("retired_at"), keys)


def _write_private(path: Path, data: dict[str, object]) -> None:
    """Write a private-key file readable by its owner only, atomically."""
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a left-over temporary file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    os.replace(tmp, path)
