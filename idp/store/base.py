"""The interface both ephemeral-store backends implement."""

from __future__ import annotations

import json
from abc import ABC
from abc import abstractmethod
from typing import Any


class EphemeralStore(ABC):
    """Keys with a time to live; every operation is atomic on its key."""

    @abstractmethod
    def set(self, key: str, value: str, ttl: int) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds, replacing any value."""

    @abstractmethod
    def get(self, key: str) -> str | None:
        """The value, or None when absent or expired."""

    @abstractmethod
    def pop(self, key: str) -> str | None:
        """Remove and return the value atomically: of parallel callers, one gets it."""

    @abstractmethod
    def add(self, key: str, value: str, ttl: int) -> bool:
        """Store only if absent (or expired); True when this call stored it."""

    @abstractmethod
    def incr(self, key: str, ttl: int) -> int:
        """Add one and return the new count; a new counter lives ``ttl`` seconds."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the key if present."""

    def set_json(self, key: str, value: Any, ttl: int) -> None:
        self.set(key, json.dumps(value, separators=(",", ":")), ttl)

    def get_json(self, key: str) -> Any:
        raw = self.get(key)
        return None if raw is None else json.loads(raw)

    def pop_json(self, key: str) -> Any:
        raw = self.pop(key)
        return None if raw is None else json.loads(raw)
