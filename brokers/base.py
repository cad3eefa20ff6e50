"""What every broker returns (DESIGN.md, Layout): the upstream identity and nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field


@dataclass(frozen=True)
class BrokeredIdentity:
    """An upstream sign-in: found by (provider, subject), never by email alone (L7)."""

    provider: str
    subject: str
    email: str | None = None
    email_verified: bool = False
    #: The upstream's ``amr`` values, mapped into ours by the login transaction.
    upstream_amr: tuple[str, ...] = field(default_factory=tuple)
