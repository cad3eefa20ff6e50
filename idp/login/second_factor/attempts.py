"""Hourly limits on wrong second-factor codes (DESIGN.md: atomic counters), and the 429 page
that answers past them."""

from __future__ import annotations

from flask import Response

from idp import audit
from idp import extensions
from idp.login.limits import Limit
from idp.login.limits import is_exhausted
from idp.login.limits import too_many
from idp.login.transaction import Transaction
from idp.models import User
from idp.twofactor.factors import is_enrolled

#: Wrong second-factor codes (authenticator app, SMS; failed passkeys count too) per user per
#: hour; past it every code is refused, even a right one, until the hour has passed.
MAX_FAILURES_PER_HOUR = 10
CODE_LIMIT = Limit("2fa-failures", MAX_FAILURES_PER_HOUR, 3600)
#: Wrong recovery codes per user per hour. A budget of its own: the recovery code (80 bits)
#: cannot be guessed in ten tries, and someone who used up the codes' budget must not also
#: shut the user out of "Lost your device?" (L6).
RECOVERY_LIMIT = Limit("2fa-recovery-failures", 10, 3600)


def refuse(user: User, reason: str) -> None:
    """Audit a refused second-factor attempt."""
    audit.record("second_factor", "refused", reason, user_id=user.id, contract_id=user.contract_id)


def count_failure(user: User, reason: str) -> None:
    """A failure that was not reserved beforehand (a passkey, which cannot be guessed)."""
    extensions.store().incr(CODE_LIMIT.key(user.id), CODE_LIMIT.window)
    refuse(user, reason)


def too_many_attempts(
    tx: Transaction, user: User, limit: Limit, is_attempt: bool = True
) -> Response:
    """429: this user's wrong codes (or recovery codes) are used up for the hour; an attempt
    refused for it is audited."""
    if limit is RECOVERY_LIMIT:
        reason, alternative = "too_many_recovery_codes", None
    else:
        reason, alternative = "too_many_codes", "recovery" if is_enrolled(user) else None
    if is_attempt:
        refuse(user, reason)
    return too_many(limit.key(user.id), reason, tx=tx, alternative=alternative)


def exhausted_page(tx: Transaction, user: User, limit: Limit) -> Response | None:
    """The 429 page instead of a form whose next entry would be refused anyway."""
    if is_exhausted(limit, user.id):
        return too_many_attempts(tx, user, limit, is_attempt=False)
    return None
