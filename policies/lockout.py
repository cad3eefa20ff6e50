"""K1/K2: the account lock after consecutive wrong passwords."""

from __future__ import annotations

from policies.vocabulary import LoginMethod

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


def is_sign_in_locked(is_locked: bool, login_method: LoginMethod, is_by_password: bool) -> bool:
    """K1, X6: a locked account's password sign-in is refused. K1 locks only ``password``
    users, so a locked upstream user was locked by a "this was not me" revert (X6): every
    sign-in of theirs is refused until the reset. Sessions and tokens of a password user from
    before a lock are checked without ``is_by_password`` and go on (a lock caused by someone
    guessing must not sign the real user out)."""
    return is_locked and (is_by_password or login_method != LoginMethod.PASSWORD)
