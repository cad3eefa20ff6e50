"""A1, A3, L9: whether a sign-in may come by the route it came by."""

from __future__ import annotations

from dataclasses import dataclass

from policies.decision import ALLOW
from policies.decision import Decision
from policies.decision import deny
from policies.decision import need
from policies.vocabulary import AccessRoute
from policies.vocabulary import Role
from policies.vocabulary import Target


@dataclass(frozen=True)
class RouteContext:
    access_route: AccessRoute
    #: The line the sign-in came through (verified gateway headers), or None (internet).
    line_number: str | None
    #: The contract's registered line numbers.
    registered_lines: frozenset[str]
    role: Role
    #: The frontend, or the account menu's own sign-in.
    target: Target


def route_decision(ctx: RouteContext) -> Decision:
    """L9: a line not registered for the contract is refused (``line_not_registered``);
    A1: ``line-only`` refuses internet sign-ins (``route_line_only``), except A3: the
    contractor's sign-in to the account menu, so they can fix a wrong number."""
    if ctx.line_number is not None:
        if ctx.line_number not in ctx.registered_lines:
            return deny("line_not_registered")
        return ALLOW
    if ctx.access_route == AccessRoute.LINE_ONLY:
        if ctx.role == Role.CONTRACTOR and ctx.target == Target.ACCOUNT_MENU:
            return ALLOW
        return deny("route_line_only")
    return ALLOW


def line_notice_decision(area: str | None, notification: str | None) -> Decision:
    """L9: the first line-authenticated access from the West Japan area shows the "line
    information notification" screen (``line_notice``) until the line's choice is made;
    "do not notify" closes line authentication for that line (``line_notification_declined``).

    :param area: the gateway's area of the line (``east`` or ``west``).
    :param notification: the line's choice: ``notify``, ``do_not_notify`` or None (not asked).
    """
    if area != "west":
        return ALLOW
    if notification == "do_not_notify":
        return deny("line_notification_declined")
    if notification is None:
        return need("line_notice", "line_west_first_access")
    return ALLOW


def is_session_route_still_valid(
    access_route: AccessRoute, line_number: str | None, registered_lines: frozenset[str]
) -> bool:
    """At refresh (A1, X5): an internet session dies when the contract turns ``line-only``;
    a line session dies when its line is removed from the contract."""
    if line_number is not None:
        return line_number in registered_lines
    return access_route != AccessRoute.LINE_ONLY
