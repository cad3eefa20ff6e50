"""The ephemeral store: short-lived shared state (DESIGN.md, State).

One small interface with two backends, Redis and a SQL table; the rest of the code never
imports redis directly.
"""

from idp.store.base import EphemeralStore

__all__ = ["EphemeralStore"]
