"""SPEC Links, X4: when a mailed link may be used, as tables over plain values (no app)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from policies.decision import ALLOW
from policies.decision import deny
from policies.links import LINK_VALIDITY
from policies.links import LinkPurpose
from policies.links import LinkState
from policies.links import check_link
from policies.links import is_link_valid

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
SENT = NOW - timedelta(days=1)


@pytest.mark.covers("K1", "K2")
@pytest.mark.parametrize(
    ("age", "valid"),
    [
        (timedelta(0), True),
        (timedelta(days=13, hours=23, minutes=59, seconds=59), True),
        (timedelta(days=14), False),
        (timedelta(days=30), False),
        (-timedelta(seconds=1), False),
    ],
)
def test_links_valid_fourteen_days(age, valid):
    assert LINK_VALIDITY == timedelta(days=14)
    assert is_link_valid(NOW - age, NOW) is valid


def _link(
    purpose: str = LinkPurpose.RESET,
    created_at: datetime = SENT,
    used_at: datetime | None = None,
    state_version: int = 3,
) -> LinkState:
    return LinkState(purpose, created_at, used_at, state_version)


@pytest.mark.covers("K1", "K2", "K3", "X4")
@pytest.mark.parametrize(
    ("link", "purpose", "account_state_version", "decision"),
    [
        # a fresh, unused link of the right purpose on an unchanged account
        (_link(), LinkPurpose.RESET, 3, ALLOW),
        (_link(LinkPurpose.UNLOCK), LinkPurpose.UNLOCK, 3, ALLOW),
        (_link(created_at=NOW - timedelta(days=14) + timedelta(seconds=1)), "reset", 3, ALLOW),
        # single use
        (_link(used_at=NOW - timedelta(minutes=1)), LinkPurpose.RESET, 3, deny("used")),
        # 14 days
        (_link(created_at=NOW - timedelta(days=14)), LinkPurpose.RESET, 3, deny("expired")),
        (_link(created_at=NOW + timedelta(seconds=1)), LinkPurpose.RESET, 3, deny("expired")),
        # bound to its purpose: an unlock link does not reset, a reset link does not unlock
        (_link(LinkPurpose.UNLOCK), LinkPurpose.RESET, 3, deny("wrong_purpose")),
        (_link(LinkPurpose.RESET), LinkPurpose.UNLOCK, 3, deny("wrong_purpose")),
        # bound to the account's state when sent (X4): a password reset voids older links
        (_link(), LinkPurpose.RESET, 4, deny("void")),
        (_link(), LinkPurpose.RESET, 2, deny("void")),
        # bound to its user: the account is gone
        (_link(), LinkPurpose.RESET, None, deny("void")),
        # the order: a used link says "used" even when it has also expired or is void
        (
            _link(created_at=NOW - timedelta(days=20), used_at=NOW - timedelta(days=19)),
            LinkPurpose.RESET,
            4,
            deny("used"),
        ),
        (_link("unlock", created_at=NOW - timedelta(days=20)), "reset", 4, deny("expired")),
        (_link(LinkPurpose.UNLOCK), LinkPurpose.RESET, 4, deny("wrong_purpose")),
    ],
)
def test_check_link(link, purpose, account_state_version, decision):
    assert (
        check_link(link, purpose=purpose, account_state_version=account_state_version, now=NOW)
        == decision
    )


def test_link_purposes_are_the_stored_strings():
    assert [p.value for p in LinkPurpose] == [
        "unlock",
        "reset",
        "invite",
        "method_change",
        "email_change",
        "not_me",
    ]
    assert LinkPurpose("unlock") == "unlock"
