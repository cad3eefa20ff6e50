"""SPEC Links, X4: when a mailed link may be used.

Every mailed link is single-use, valid 14 days, and bound to its purpose and user; it is void
once the account state it was sent for has changed (X4: a password or email change voids older
links). The database rows are kept by ``idp/users/links.py``; the rules are here, over plain
values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from enum import StrEnum

from policies.decision import ALLOW
from policies.decision import Decision
from policies.decision import deny

#: SPEC Links: every mailed link is valid 14 days.
LINK_VALIDITY = timedelta(days=14)


class LinkPurpose(StrEnum):
    """What a mailed link does (``mail_links.purpose``); each has one handler in
    ``idp/links/``."""

    UNLOCK = "unlock"  # K1, K2
    RESET = "reset"  # K3
    INVITE = "invite"  # L10, G3: the registration link of the invitation mail
    METHOD_CHANGE = "method_change"  # M2, M6: the login-method change mail
    EMAIL_CHANGE = "email_change"  # M7, M2: mailed to the new address
    NOT_ME = "not_me"  # X6: mailed to the old address after an email or method change


@dataclass(frozen=True)
class LinkState:
    """A stored link as the rules see it."""

    purpose: str
    created_at: datetime
    used_at: datetime | None
    #: The account's version when the link was sent: ``state_version`` (any password, email
    #: or method change voids the link), for X6's link its ``identity_version``.
    state_version: int


def is_link_valid(created_at: datetime, now: datetime, validity: timedelta = LINK_VALIDITY) -> bool:
    """SPEC Links: a mailed link works for 14 days from when it was sent."""
    return created_at <= now < created_at + validity


def check_link(
    link: LinkState, *, purpose: str, account_state_version: int | None, now: datetime
) -> Decision:
    """SPEC Links, X4: may ``link`` be used now, for ``purpose``, on an account whose state is
    ``account_state_version`` (``None``: the account is gone)?

    Denies with the reason the person is shown, checked in this order: ``used`` (single use),
    ``expired`` (14 days), ``wrong_purpose`` (a link does only what it was sent for), ``void``
    (the account changed since the link was sent, or is gone).
    """
    if link.used_at is not None:
        return deny("used")
    if not is_link_valid(link.created_at, now):
        return deny("expired")
    if link.purpose != purpose:
        return deny("wrong_purpose")
    if account_state_version is None or account_state_version != link.state_version:
        return deny("void")
    return ALLOW
