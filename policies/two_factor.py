"""L3, A4, L9: whether a sign-in needs the second factor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from policies.assurance import ACR_TWO_FACTOR
from policies.assurance import is_two_factor_requested
from policies.decision import ALLOW
from policies.decision import Decision
from policies.decision import allow_because
from policies.decision import need
from policies.vocabulary import AccessRoute
from policies.vocabulary import LoginMethod

__all__ = [
    "ACR_TWO_FACTOR",
    "TwoFactorContext",
    "explain_two_factor",
    "is_contract_two_factor_on",
    "second_factor_mode",
    "two_factor_decision",
]

#: L3: a remembered browser counts for 30 days from its last use.
REMEMBER_FOR = timedelta(days=30)
#: L4–L6: the factors a challenge asks for first (a passkey is added beside them, X1).
CHALLENGE_KINDS = ("sms", "totp")


@dataclass(frozen=True)
class TwoFactorContext:
    """What the rule needs to know about one sign-in."""

    contract_two_factor: bool
    access_route: AccessRoute
    login_method: LoginMethod
    via_line: bool
    #: When this browser was remembered for this user, and when it was last used; None when
    #: it is not remembered (or the record was revoked).
    remembered_at: datetime | None
    remembered_last_used: datetime | None
    #: When the contract last turned 2FA on; browsers remembered before that do not count.
    two_factor_enabled_at: datetime | None
    #: acr values the relying party asked for (space-separated list, as sent).
    requested_acr: tuple[str, ...] = ()


def is_contract_two_factor_on(two_factor: bool, access_route: AccessRoute) -> bool:
    """A4: while the route is ``line-only`` the 2FA setting reads as off."""
    return two_factor and access_route != AccessRoute.LINE_ONLY


def is_browser_remembered(ctx: TwoFactorContext, now: datetime) -> bool:
    """L3, X2: remembered, used within 30 days, and remembered after 2FA was last turned on."""
    if ctx.remembered_at is None or ctx.remembered_last_used is None:
        return False
    if ctx.two_factor_enabled_at is not None and ctx.remembered_at < ctx.two_factor_enabled_at:
        return False
    return now - ctx.remembered_last_used <= REMEMBER_FOR


def explain_two_factor(ctx: TwoFactorContext, now: datetime) -> Decision:
    """L3 with its reasons both ways: the second factor that is needed and why (the reason
    code the login audits), or why none is (for the "what if" view, X3): ``2fa_upstream``
    (L7), ``2fa_off`` (T1), ``2fa_off_line_only`` (A4), ``2fa_line`` (L9),
    ``2fa_remembered`` (L3)."""
    if ctx.login_method != LoginMethod.PASSWORD:
        return allow_because("2fa_upstream")  # L7: brokered users verify upstream
    if is_two_factor_requested(ctx.requested_acr):
        return need("second_factor", "2fa_acr_requested")
    if not ctx.contract_two_factor:
        return allow_because("2fa_off")
    if not is_contract_two_factor_on(ctx.contract_two_factor, ctx.access_route):
        return allow_because("2fa_off_line_only")
    if ctx.via_line:
        return allow_because("2fa_line")  # L9: line authentication replaces 2FA
    if ctx.remembered_at is None:
        return need("second_factor", "2fa_new_browser")
    if not is_browser_remembered(ctx, now):
        return need("second_factor", "2fa_browser_stale")
    return allow_because("2fa_remembered")


def two_factor_decision(ctx: TwoFactorContext, now: datetime) -> Decision:
    """L3: a second factor is needed when the contract has 2FA on, the user signs in by
    password, not through line authentication, and this browser is not remembered (or was
    last used more than 30 days ago). A relying party asking for the two-factor ``acr``
    gets a second factor from any password user, remembered browser or not.

    The login audits the reason of a needed factor only, so an allowing answer is plain
    :data:`ALLOW` here (:func:`explain_two_factor` keeps its reason)."""
    decision = explain_two_factor(ctx, now)
    return ALLOW if decision.is_allowed else decision


def second_factor_mode(is_enrollment_complete: bool, factor_kinds: Sequence[str]) -> str:
    """L4, L6: ``challenge`` a user whose enrollment is complete (the recovery code was
    confirmed) with a factor a challenge can ask for (SMS or an authenticator app, in the
    order enrolled); anyone else ``enroll``s, SMS first.

    :param factor_kinds: the user's enrolled factors (``sms``, ``totp``, ``passkey``, …).
    """
    if is_enrollment_complete and any(kind in CHALLENGE_KINDS for kind in factor_kinds):
        return "challenge"
    return "enroll"
