"""The SMS provider interface (L4): every gateway sends one text to one E.164 number and
either returns the provider's message id or raises :class:`SmsError` with a reason code that
the two-step-verification pages turn into a message for the person."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from typing import Protocol
from typing import runtime_checkable

import requests

log = logging.getLogger("idp.sms")

#: E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
#: Every ``SmsError.reason``, with what it means for the person at the SMS screen.
REASONS: dict[str, str] = {
    "timeout": "the gateway did not answer in time; retrying may work",
    "unreachable": "the gateway could not be reached; retrying may work",
    "server_error": "the gateway failed (5xx or a garbled answer); retrying may work",
    "rate_limited": "the gateway asked us to slow down (429); retry in a while",
    "auth": "our gateway credentials were refused; an operator must fix the settings",
    "invalid_number": "the number is not a valid phone number; ask for it again",
    "unsupported_number": "this gateway cannot deliver to that country; another may",
    "rejected": "the gateway refused this message (blocked or unsubscribed recipient, ...)",
}
#: Reasons after which the same request may succeed a little later.
RETRYABLE_REASONS = frozenset({"timeout", "unreachable", "server_error", "rate_limited"})


class SmsError(Exception):
    """Delivery failed. ``reason`` is a key of :data:`REASONS`, ``provider`` the gateway's
    name and ``detail`` a short note for the log (HTTP status and provider error code; never
    the message text, which holds a one-time code)."""

    def __init__(self, reason: str, provider: str, detail: str = "") -> None:
        super().__init__(f"{provider}: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.provider = provider
        self.detail = detail

    @property
    def is_retryable(self) -> bool:
        return self.reason in RETRYABLE_REASONS


@runtime_checkable
class SmsSender(Protocol):
    """One gateway (or a fail-over chain of them)."""

    name: str

    def send(self, to: str, text: str) -> str:
        """Send ``text`` to ``to`` (E.164, ``+819012345678``); return the provider's message
        id. Raises :class:`SmsError` and nothing else."""
        ...


def mask_number(number: str) -> str:
    """``+819012345678`` → ``+81******5678``: enough to tell numbers apart in a log."""
    if len(number) <= 7:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 7) + number[-4:]


def optional_setting(config: Mapping[str, str], key: str) -> str:
    """The stripped value of ``IDP_SMS_<KEY>``; empty when unset."""
    return (config.get(key) or "").strip()


def require_setting(config: Mapping[str, str], key: str) -> str:
    """The value of ``IDP_SMS_<KEY>``; a missing one stops startup with its name."""
    value = optional_setting(config, key)
    if not value:
        raise ValueError(f"IDP_SMS_{key.upper()} is required by the configured SMS provider")
    return value


def check_e164(to: str, provider: str) -> None:
    """Refuse anything but an E.164 number before it reaches a gateway."""
    if not E164.fullmatch(to):
        raise SmsError("invalid_number", provider, "not an E.164 number")


class HttpGateway:
    """Base of the adapters that POST a form to a JSON HTTP API: it turns every transport
    failure, 5xx and 429 into :class:`SmsError`, so each adapter only reads its own 2xx and
    4xx answers."""

    name = "http"

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def post_form(
        self,
        url: str,
        data: dict[str, str],
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        """POST ``data`` form-encoded; return the status (2xx-4xx) and the JSON object
        answered (empty when the body is no JSON object)."""
        try:
            response = requests.post(
                url,
                data=data,
                headers=headers,
                auth=auth,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.Timeout as error:  # also ConnectTimeout
            raise SmsError("timeout", self.name, type(error).__name__) from error
        except requests.RequestException as error:
            raise SmsError("unreachable", self.name, type(error).__name__) from error
        status = response.status_code
        if status == 429:
            raise SmsError("rate_limited", self.name, "HTTP 429")
        if not (200 <= status < 300 or 400 <= status < 500):
            raise SmsError("server_error", self.name, f"HTTP {status}")
        try:
            payload = response.json()
        except ValueError:
            payload = None
        return status, payload if isinstance(payload, dict) else {}
