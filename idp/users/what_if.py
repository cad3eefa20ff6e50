"""X3: the "what if" view of one user of a contract — for a route (the internet, or a line and
its area) and a browser state (new, or remembered), which steps a sign-in would need and why.

This module reads the rows the live login reads (the user, their 2FA enrollment, the
contract, its lines, a remembered browser) into the plain data of ``policies/what_if.py``,
which composes the login's own rules. Reading changes nothing, and another contract's user is
"not found" (G8)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from datetime import datetime

from sqlalchemy import select

from idp.contracts.contract import contract_state
from idp.contracts.contract import get_contract
from idp.contracts.lines import line_choices
from idp.errors import NotFoundError
from idp.errors import ProvisioningError
from idp.models import RememberedBrowser
from idp.models import SecondFactor
from idp.models import User
from idp.models import db
from idp.users.detail import find_contract_user
from idp.users.invitations import pending_invitation
from idp.vocabulary import AccessRoute
from idp.vocabulary import LoginMethod
from idp.vocabulary import Role
from idp.vocabulary import Target
from policies.line_numbers import normalise_line_number
from policies.what_if import BrowserFacts
from policies.what_if import ContractFacts
from policies.what_if import RequestFacts
from policies.what_if import RouteFacts
from policies.what_if import Step
from policies.what_if import UserFacts
from policies.what_if import what_if

#: The line areas the gateway reports (L9).
AREAS = ("east", "west")


@dataclass(frozen=True)
class WhatIfQuery:
    """The sign-in to imagine."""

    #: A line number as an admin types it (A2 rules), or None for the internet.
    line: str | None = None
    area: str = "east"
    #: A browser remembered for this user (L3, X2), or a new one.
    is_remembered: bool = False
    #: Which of the user's remembered browsers; None: the one used last (or, when the user has
    #: none, one remembered now).
    remembered_browser_id: str | None = None
    target: Target = Target.FRONTEND
    #: ``acr_values`` as a relying party would send them.
    requested_acr: tuple[str, ...] = ()


@dataclass(frozen=True)
class WhatIfAnswer:
    steps: tuple[Step, ...]
    #: The line as registered (upper case, no separators), or None for the internet.
    line: str | None
    #: Whether that line is registered to the contract.
    is_line_registered: bool
    #: The remembered browser assumed, and its dates; all None for a new browser.
    remembered_browser_id: str | None
    remembered_at: datetime | None
    last_used_at: datetime | None


def _aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive UTC values."""
    return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)


def _user_facts(user: User) -> UserFacts:
    kinds = db.session.scalars(
        select(SecondFactor.kind)
        .where(SecondFactor.user_id == user.id)
        .order_by(SecondFactor.created_at)
    ).all()
    return UserFacts(
        login_method=LoginMethod(user.login_method),
        role=Role(user.role),
        is_locked=user.locked_at is not None,
        failed_logins=user.failed_logins,
        is_two_factor_enrolled=user.two_factor_enrolled_at is not None,
        factor_kinds=tuple(kinds),
        has_password=user.password_hash is not None,
        is_invited=pending_invitation(user) is not None,
        is_disabled=user.disabled_at is not None,
    )


def _browser(user: User, query: WhatIfQuery, now: datetime) -> tuple[str | None, BrowserFacts]:
    """The remembered browser named (or the one used last); a browser remembered ``now``
    when the user has none. Revoked records never count (X2)."""
    if not query.is_remembered:
        return None, BrowserFacts()
    chosen = select(RememberedBrowser).where(
        RememberedBrowser.user_id == user.id, RememberedBrowser.revoked_at.is_(None)
    )
    if query.remembered_browser_id is not None:
        chosen = chosen.where(RememberedBrowser.id == query.remembered_browser_id)
    record = db.session.scalars(
        chosen.order_by(RememberedBrowser.last_used_at.desc()).limit(1)
    ).first()
    if record is None and query.remembered_browser_id is not None:
        raise NotFoundError("No such remembered browser.", "browser_not_found")
    if record is None:
        return None, BrowserFacts(now, now)
    return record.id, BrowserFacts(_aware(record.created_at), _aware(record.last_used_at))


def what_if_for_user(
    contract_id: str, user_id: str, query: WhatIfQuery, now: datetime | None = None
) -> WhatIfAnswer:
    """X3: the steps a sign-in of ``user_id`` (of ``contract_id``, G8) would need for
    ``query``, as the live login would take them at ``now``.

    :raises NotFoundError: another contract's or an unknown user; an unknown remembered browser.
    :raises ProvisioningError: a line number that is none (A2), an unknown area.
    """
    now = now or datetime.now(UTC)
    user = find_contract_user(contract_id, user_id)
    contract = get_contract(contract_id)
    line = None
    if query.line is not None:
        line = normalise_line_number(query.line)
        if line is None:
            raise ProvisioningError(
                "Not a line number (CAF + 10 or COP + 8 letters or digits).", "not_a_line_number"
            )
    if query.area not in AREAS:
        raise ProvisioningError("The area is east or west.", "invalid_area")
    lines = line_choices(contract.id)
    browser_id, browser = _browser(user, query, now)
    steps = what_if(
        _user_facts(user),
        ContractFacts(
            state=contract_state(contract),
            two_factor=contract.two_factor,
            two_factor_enabled_at=_aware(contract.two_factor_enabled_at),
            access_route=AccessRoute(contract.access_route),
            lines=lines,
        ),
        RouteFacts(line, query.area),
        browser,
        RequestFacts(query.target, query.requested_acr),
        now,
    )
    return WhatIfAnswer(
        steps=steps,
        line=line,
        is_line_registered=line in lines,
        remembered_browser_id=browser_id,
        remembered_at=browser.remembered_at,
        last_used_at=browser.last_used_at,
    )
