"""Our own exception tree (STYLE.md §8): each family has one error handler.

- ``IdpError`` — a person sees it as a page (400 unless the class says otherwise).
  - ``TransactionError``, ``LinkError`` — the login transaction or a mailed link.
  - ``DomainError`` — a domain function (``idp/users``, ``idp/contracts``, ``idp/clients``)
    refused a change; its message says why, ``reason`` is the audit reason code.
    - ``ProvisioningError`` — bad input for creating or changing a resource.
    - ``NotFoundError`` — the resource named does not exist.
  - ``ForbiddenError`` — the caller may not do this to this target (G8: 403).
  - ``ConflictError`` — the target's state already is what was asked, or forbids it (409).
"""

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
    """A mailed link is unknown, used, expired or void. ``purpose`` (when the link was found)
    lets the page say what to do for that kind of link."""

    code = "link_invalid"

    def __init__(self, reason: str = "", purpose: str | None = None) -> None:
        super().__init__(reason)
        self.purpose = purpose


class DomainError(IdpError):
    """A domain function refused a change. ``str(error)`` is the message for the operator
    or the page; ``reason`` the reason code of the audit event."""

    code = "refused"
    default_reason = "refused"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(reason or self.default_reason)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ProvisioningError(DomainError):
    """Bad input for creating or changing a resource (a rule of SPEC or a malformed value)."""

    default_reason = "invalid"


class NotFoundError(ProvisioningError):
    """The contract, user, client, line or connection named does not exist."""

    default_reason = "not_found"


class ForbiddenError(DomainError):
    """The caller may not do this operation to this target (G4, G8); ``reason`` is the
    rule's code (``policies/admin.py``)."""

    status_code = 403
    default_reason = "forbidden"


class ConflictError(DomainError):
    """The target's state conflicts with the operation (already disabled, already an
    admin…)."""

    status_code = 409
    default_reason = "conflict"
