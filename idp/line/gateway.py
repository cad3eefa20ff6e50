"""L9/X5: the signed line headers that the line gateway adds to each request.

In production a reverse proxy on the line network adds the line number and area to every
request it forwards, with a timestamp and an HMAC-SHA256 signature under a secret shared with
the provider (DESIGN.md, "Line gateway"). The provider trusts these headers only on the
line-authentication URL prefix (``/line/``, :data:`LINE_PATH_PREFIX`); the caller checks the
prefix before calling :func:`verify_line_headers`. Anywhere else they are ignored.

The contract with the production gateway, version ``v1``:

- ``X-Line-Number``: the line number, ``CAF`` + 10 letters/digits or ``COP`` + 8 (A2); the
  provider normalises it as everywhere else (``policies.line_numbers``: upper case, spaces
  and hyphens dropped).
- ``X-Line-Area``: ``east`` or ``west``.
- ``X-Line-Timestamp``: the time of signing, integer Unix seconds (ASCII digits only); the
  provider accepts it within ±60 s of its own clock.
- ``X-Line-Signature``: lower-case hex of ``HMAC-SHA256(secret, canonical)``, where
  ``canonical`` is the UTF-8 encoding of::

      "\\n".join(["v1", number, area, timestamp, METHOD, path])

  ``number``, ``area`` and ``timestamp`` are the header values exactly as sent, ``METHOD`` is
  the upper-cased HTTP method and ``path`` is the percent-decoded request path without the
  query string (Flask's ``request.path``). The path comes last and the fields before it
  cannot contain a newline, so two different requests never share a canonical string.

Binding the method and path stops a captured header set from being replayed on another
request; the timestamp bounds how long it can be replayed on the same one.

These functions are pure: plain values in, plain values out (STYLE.md §4).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Literal
from typing import Protocol

from policies.line_numbers import normalise_line_number

LINE_NUMBER_HEADER = "X-Line-Number"
LINE_AREA_HEADER = "X-Line-Area"
LINE_TIMESTAMP_HEADER = "X-Line-Timestamp"
LINE_SIGNATURE_HEADER = "X-Line-Signature"
LINE_HEADERS = (
    LINE_NUMBER_HEADER,
    LINE_AREA_HEADER,
    LINE_TIMESTAMP_HEADER,
    LINE_SIGNATURE_HEADER,
)
#: The URL prefix on which the provider trusts line headers; the caller checks it.
LINE_PATH_PREFIX = "/line/"
#: L9: the areas a line belongs to; ``west`` gets the line information notification.
LINE_AREAS = ("east", "west")
#: How far the gateway's timestamp may be from the provider's clock, in seconds.
MAX_SKEW = 60
SIGNATURE_VERSION = "v1"
_TIMESTAMP_PATTERN = re.compile(r"[0-9]{1,15}")

RejectReason = Literal["absent", "incomplete", "malformed", "stale", "bad_signature"]


@dataclass(frozen=True)
class LineAssertion:
    """X5: the gateway vouches that this request came from ``number`` in ``area``."""

    number: str
    area: str
    timestamp: int


@dataclass(frozen=True)
class RejectedLine:
    """Line headers that prove nothing: the caller treats the request as internet access.

    ``reason`` is ``absent`` for plain internet access (no line headers at all), otherwise
    ``incomplete``, ``malformed``, ``stale`` or ``bad_signature``, which the caller logs.
    """

    reason: RejectReason


def compute_line_signature(
    secret: bytes, number: str, area: str, timestamp: str, method: str, path: str
) -> str:
    """The hex HMAC-SHA256 over the ``v1`` canonical string (see the module docstring).

    :param timestamp: the ``X-Line-Timestamp`` value exactly as sent.
    """
    if not secret:
        raise ValueError("the line gateway secret must not be empty")
    canonical = "\n".join([SIGNATURE_VERSION, number, area, timestamp, method.upper(), path])
    return hmac.new(secret, canonical.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def sign_line_headers(
    secret: bytes, number: str, area: str, method: str, path: str, now: float
) -> dict[str, str]:
    """The four line headers a gateway adds to a request for ``method`` and ``path``.

    The values are signed as given; :func:`verify_line_headers` judges whether they are well
    formed.

    :param path: the request path without the query string, percent-decoded.
    :param now: the current Unix time; the timestamp is its integer part.
    """
    timestamp = str(int(now))
    return {
        LINE_NUMBER_HEADER: number,
        LINE_AREA_HEADER: area,
        LINE_TIMESTAMP_HEADER: timestamp,
        LINE_SIGNATURE_HEADER: compute_line_signature(
            secret, number, area, timestamp, method, path
        ),
    }


class HeaderSource(Protocol):
    """What the verification reads: Werkzeug's ``Headers`` or a plain ``dict``."""

    def get(self, key: str, /) -> str | None: ...


def _get_header(headers: HeaderSource, name: str) -> str | None:
    # Werkzeug's headers are case-insensitive; a plain dict may hold either spelling.
    value = headers.get(name)
    return value if value is not None else headers.get(name.lower())


def verify_line_headers(
    headers: HeaderSource,
    secret: bytes,
    method: str,
    path: str,
    now: float,
    max_skew: int = MAX_SKEW,
) -> LineAssertion | RejectedLine:
    """L9/X5: the line the gateway signed for this request, or why the headers prove nothing.

    :param headers: the request headers (Werkzeug ``Headers`` or a plain dict).
    :param path: the request path without the query string, percent-decoded
        (``request.path``).
    :param now: the current Unix time.
    :param max_skew: how many seconds the timestamp may lie before or after ``now``.
    """
    number, area, timestamp, signature = (_get_header(headers, name) for name in LINE_HEADERS)
    if number is None and area is None and timestamp is None and signature is None:
        return RejectedLine("absent")
    if number is None or area is None or timestamp is None or signature is None:
        return RejectedLine("incomplete")
    normalised = normalise_line_number(number)
    if normalised is None or area not in LINE_AREAS or not _TIMESTAMP_PATTERN.fullmatch(timestamp):
        return RejectedLine("malformed")
    if abs(int(timestamp) - now) > max_skew:
        return RejectedLine("stale")
    expected = compute_line_signature(secret, number, area, timestamp, method, path)
    # Constant time: the comparison must not tell a forger how many characters were right.
    if not hmac.compare_digest(expected.encode("ascii"), signature.lower().encode("utf-8")):
        return RejectedLine("bad_signature")
    return LineAssertion(normalised, area, int(timestamp))
