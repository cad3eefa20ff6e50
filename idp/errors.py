"""Our own exception tree (STYLE.md §8): each family has one error handler."""

from __future__ import annotations


class IdpError(Exception):
    """Base of every error a person sees as a page."""

    status_code = 400
    code = "error"

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class TransactionError(IdpError):
    """The login transaction is missing, expired or belongs to another browser."""

    code = "login_expired"


class LinkError(IdpError):
    """A mailed link is unknown, used, expired or void."""

    code = "link_invalid"
