"""Checks on request parameters that authlib leaves to us: no parameter more than once
(RFC 6749 §3.1, §3.2), and nothing from the request inside an ``error_description``
unless its characters are the few RFC 6749 §5.2 allows."""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sized

from authlib.oauth2.base import invalid_error_characters
from authlib.oauth2.rfc6749 import InvalidRequestError


def is_error_safe(text: str) -> bool:
    """True if ``text`` may appear in an ``error_description`` (%x20-21 / %x23-5B / %x5D-7E).

    authlib refuses to build an error whose description holds anything else (it raises
    ValueError), so a value echoed from the request is checked first.
    """
    return not invalid_error_characters(text)


def check_no_repeated_parameter(
    datalist: Mapping[str, Sized], names: Iterable[str] | None = None
) -> None:
    """RFC 6749 §3.1 and §3.2: "Request and response parameters MUST NOT be included more
    than once." ``names`` limits the check to those parameters (default: every one).

    :raises InvalidRequestError: naming the parameter when its name is printable.
    """
    for name in sorted(datalist) if names is None else names:
        if len(datalist.get(name) or ()) > 1:
            shown = f"'{name}'" if is_error_safe(name) and len(name) <= 40 else "a parameter"
            raise InvalidRequestError(f"Multiple {shown} in request.")
