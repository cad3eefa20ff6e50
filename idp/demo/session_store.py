"""The demo frontend's token store: per-browser token data kept in this process, keyed by a
random id held in the signed session cookie (browsers drop cookies above 4 KB, and a signed,
not encrypted, cookie would expose the tokens)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

MAX_STORED_SESSIONS = 1000


class SessionStore:
    """Thread-safe in-process store of per-browser token data (bounded, oldest dropped first)."""

    def __init__(self, limit: int = MAX_STORED_SESSIONS) -> None:
        self._data: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._limit = limit

    def get(self, sid: str | None) -> dict[str, Any] | None:
        """Return a copy of the data stored under ``sid``, if any."""
        if not sid:
            return None
        with self._lock:
            data = self._data.get(sid)
            return dict(data) if data is not None else None

    def put(self, sid: str, data: dict[str, Any]) -> None:
        """Store ``data`` under ``sid``, evicting the oldest entries beyond the limit."""
        with self._lock:
            self._data[sid] = data
            self._data.move_to_end(sid)
            while len(self._data) > self._limit:
                self._data.popitem(last=False)

    def end_sessions(self, sub: str | None, sid: str | None) -> int:
        """Forget every session of the provider's session ``sid`` (and ``sub`` when given),
        or with ``sid`` None every session of ``sub`` (a logout token, §2.4)."""

        def matches(data: dict[str, Any]) -> bool:
            claims = data.get("claims") or {}
            if sid is not None and claims.get("sid") != sid:
                return False
            return sub is None or claims.get("sub") == sub

        with self._lock:
            ended = [key for key, data in self._data.items() if matches(data)]
            for key in ended:
                del self._data[key]
        return len(ended)

    def delete(self, sid: str | None) -> None:
        """Forget ``sid``."""
        if not sid:
            return
        with self._lock:
            self._data.pop(sid, None)
