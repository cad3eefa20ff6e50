"""The ephemeral store: short-lived shared state (DESIGN.md, State).

One small interface with two backends, Redis and a SQL table; the rest of the code never
imports redis directly.
"""

from idp.store.base import EphemeralStore
from idp.store.base import StoreUnavailable

__all__ = ["EphemeralStore", "StoreUnavailable"]
