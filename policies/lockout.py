"""K1/K2: the account lock after consecutive wrong passwords."""

from __future__ import annotations

#: K1: the 10th consecutive wrong password locks the account.
MAX_FAILED_LOGINS = 10


def may_attempt(failed_logins: int, is_locked: bool) -> bool:
    """K1: a password may be checked only while the account is unlocked and under the limit.

    The caller reserves the attempt atomically (``failed_logins < MAX_FAILED_LOGINS``) before
    the check, so parallel attempts cannot exceed the limit.
    """
    return not is_locked and failed_logins < MAX_FAILED_LOGINS


def locks_after_failure(attempt_number: int) -> bool:
    """K1: the wrong password that was attempt number ``attempt_number`` locks the account."""
    return attempt_number >= MAX_FAILED_LOGINS
