"""The demo frontend's claims tables: each claim's JSON value, and a readable UTC time for
NumericDate claims."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from typing import Any

#: Claims holding NumericDate values, shown with a readable UTC time as well.
TIME_CLAIMS = frozenset({"exp", "iat", "nbf", "auth_time", "updated_at"})


def claim_rows(claims: Mapping[str, Any] | None) -> list[dict[str, str]]:
    """Turn claims into table rows: name, JSON value and a readable note for time claims."""
    rows: list[dict[str, str]] = []
    for name in sorted(claims or {}):
        value = claims[name] if claims else None
        note = ""
        if name in TIME_CLAIMS and isinstance(value, int | float) and not isinstance(value, bool):
            stamp = datetime.datetime.fromtimestamp(value, tz=datetime.UTC)
            note = stamp.isoformat(timespec="seconds").replace("+00:00", "Z")
        rows.append({"name": name, "value": json.dumps(value, ensure_ascii=False), "note": note})
    return rows
