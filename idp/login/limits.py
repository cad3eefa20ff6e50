"""Attempt limits (DESIGN.md: counters that guard security are atomic, so parallel requests
cannot exceed a limit). An attempt is reserved in the ephemeral store *before* it is checked,
as the K1 lockout does (idp/login/identify.py); a reservation past the limit is refused without
checking, even when the entry is right; an attempt that turns out right hands its reservation
back, so the counter counts wrong attempts only. A refusal answers 429 with a page that says
when to retry (``Retry-After``)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from flask import Response
from flask import render_template

from idp import extensions


@dataclass(frozen=True)
class Limit:
    """At most ``maximum`` wrong attempts per subject in a fixed window of ``window`` s."""

    prefix: str
    maximum: int
    window: int

    def key(self, subject: str) -> str:
        return f"{self.prefix}:{subject}"


@dataclass(frozen=True)
class Attempt:
    """A reserved attempt: ``allowed`` when it is within the limit."""

    key: str
    count: int
    allowed: bool

    def hand_back(self) -> None:
        """The attempt was right (or never checked): it does not count."""
        extensions.store().decr(self.key)


def reserve(limit: Limit, subject: str) -> Attempt:
    """Count this attempt first (atomic ``incr``), then say whether it may be checked."""
    key = limit.key(subject)
    count = extensions.store().incr(key, limit.window)
    return Attempt(key, count, count <= limit.maximum)


def is_exhausted(limit: Limit, subject: str) -> bool:
    """True when the next attempt would be refused (for showing the page before a form)."""
    return bool(extensions.store().count(limit.key(subject)) >= limit.maximum)


def too_many(key: str, reason: str, **context: Any) -> Response:
    """HTTP 429 with the page that says when to retry (RFC 6585 §4, RFC 9110 Retry-After).

    :param key: the counter whose window must pass.
    :param reason: the audit reason code; the page words its message after it.
    """
    retry_after = extensions.store().ttl(key) or 1
    response = Response(
        render_template(
            "login/too_many.html",
            reason=reason,
            retry_after=retry_after,
            minutes=max(1, math.ceil(retry_after / 60)),
            **context,
        ),
        429,
    )
    response.headers["Retry-After"] = str(retry_after)
    return response
