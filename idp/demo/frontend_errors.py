"""The demo frontend's errors: every failed protocol step becomes an error page with a stable
error code, never a 500."""

from __future__ import annotations

import requests
from authlib.integrations.base_client import OAuthError
from joserfc.errors import JoseError

#: Errors that protocol steps may raise; each becomes an error page, never a 500.
PROTOCOL_ERRORS: tuple[type[Exception], ...] = (
    OAuthError,
    JoseError,
    requests.RequestException,
    ValueError,
    RuntimeError,
    KeyError,
)


class FrontendError(Exception):
    """A failure shown to the user as an error page with a stable error code."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status


def error_description(exc: Exception) -> tuple[str, str]:
    """Map a protocol exception to an (error code, description) pair for display."""
    if isinstance(exc, OAuthError):
        return str(exc.error or "oauth_error"), str(exc.description or "")
    if isinstance(exc, JoseError):
        return "invalid_id_token", f"{type(exc).__name__}: {exc}"
    if isinstance(exc, requests.RequestException):
        return "provider_unreachable", f"{type(exc).__name__}: {exc}"
    return "invalid_response", f"{type(exc).__name__}: {exc}"
