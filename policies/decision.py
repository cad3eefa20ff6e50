"""The answer every policy gives: allow, deny with a reason code, or a step that is needed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Outcome = Literal["allow", "deny", "step"]


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    #: Reason code for the audit log (X3), e.g. ``locked``, ``wrong_password``.
    reason: str | None = None
    #: The step needed when ``outcome == "step"``, e.g. ``second_factor``.
    step: str | None = None

    @property
    def is_allowed(self) -> bool:
        return self.outcome == "allow"


ALLOW = Decision("allow")


def deny(reason: str) -> Decision:
    return Decision("deny", reason=reason)


def need(step: str, reason: str) -> Decision:
    return Decision("step", reason=reason, step=step)


def allow_because(reason: str) -> Decision:
    """Allowed, with the reason it needs nothing more (shown by the "what if" view, X3)."""
    return Decision("allow", reason=reason)
