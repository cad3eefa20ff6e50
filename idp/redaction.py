"""Live secrets out of every log line: request lines, referrers, messages, tracebacks.

Access logs print whole request lines, and a request line may carry a bearer secret: a
mailed link's token (``/links/<token>``, valid 14 days), an authorization code, an
``id_token_hint``, a token or a client secret. :func:`redact` replaces each with
:data:`REDACTED` and keeps the rest, so a line still says who asked for what and how it ended.

Kept on purpose: ``state`` (the relying party's CSRF value, bound to its browser; useless
alone and useful to correlate an error with an RP's report) and ``tx`` (our login
transaction id, bound to the browser's ``idp_browser`` cookie: without that cookie it opens
nothing). ``login_hint`` is not a secret but an email address, personal data that a log has
no need of, so it goes too."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[redacted]"

#: Parameter (query, form, cookie) names whose values are secrets, or personal data a log
#: has no need of. Matched case-insensitively as ``name=value`` anywhere in a line.
SECRET_NAMES = (
    "code",
    "code_verifier",
    "id_token_hint",
    "id_token",
    "access_token",
    "refresh_token",
    "token",
    "logout_token",
    "client_secret",
    "client_assertion",
    "assertion",
    "password",
    "password_confirmation",
    "login_hint",
    "csrf_token",
    # Cookies: the SSO session, the browser binding, remembered browsers, Flask's session.
    "idp_sso",
    "idp_browser",
    "idp_rb",
    "session",
)
#: HTTP headers whose whole value is a credential (gunicorn's ``{name}i``/``{name}o`` atoms).
SECRET_HEADERS = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-line-signature"}
)
#: Mapping keys (structured log fields) whose values are dropped whole.
SECRET_KEYS = frozenset(SECRET_NAMES) | SECRET_HEADERS | {"secret", "client_secret"}

_NAMES = "|".join(sorted((re.escape(n) for n in SECRET_NAMES), key=len, reverse=True))
#: ``name=value`` (also percent-encoded ``name%3Dvalue`` inside a nested URL); the name is
#: not part of a longer word (``error_code=`` stays).
_PARAM = re.compile(
    rf"(?:(?<![\w.-])|(?<=%3F)|(?<=%26))({_NAMES})(=|%3D)"
    r"([^&\s\"'<>;,]*?)(?=%26|&|[\s\"'<>;,]|$)",
    re.IGNORECASE,
)
#: ``"name": "value"`` in JSON or a Python repr (an upstream's token response in an error).
_FIELD = re.compile(rf"([\"'])({_NAMES})\1(\s*:\s*)([\"'])(?:\\.|(?!\4).)*\4", re.IGNORECASE)
#: A mailed link's token in a path (``/links/<token>``, also under ``/line``).
_LINK_PATH = re.compile(r"(/links/)([^/?#\s\"'<>]+)")
#: ``Bearer …``/``Basic …`` credentials (an Authorization header quoted in an error).
_AUTH_SCHEME = re.compile(r"\b(Bearer|Basic)(\s+)[A-Za-z0-9._~+/=-]+", re.IGNORECASE)
#: A JWT or JWS anywhere (an ID token quoted outside a parameter).
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
#: Passwords in URLs (``smtp://user:secret@host``, ``redis://:secret@host``).
_USERINFO = re.compile(r"(\b[a-z][a-z0-9+.-]*://)([^/@\s\"'<>]*:[^/@\s\"'<>]*)@", re.IGNORECASE)


#: A text of only these characters holds nothing an expression can match but a JWT: no
#: space, ``=``, ``%``, quote, ``/`` or ``://``. Most log values are such (an id, an
#: address, an event name, a status), and this one test is cheaper than the others.
_PLAIN = re.compile(r"[A-Za-z0-9_.:@+-]*")

#: The names as :func:`_folded` spells them, for the cheap checks before the expressions.
_FOLDED_NAMES = tuple(name.casefold() for name in SECRET_NAMES)


def _folded(text: str) -> str:
    """``text`` case-folded so that a substring test finds whatever the expressions'
    ``IGNORECASE`` would match: ``ſ`` and ``K`` fold to ``s`` and ``k``; ``re`` also
    matches the dotless ``ı`` and the dotted ``İ`` (folded ``i`` + U+0307) to ``i``. Folding
    more than ``re`` matches only runs an expression for nothing."""
    return text.casefold().replace("\u0131", "i").replace("\u0307", "")


def _has_param(folded: str) -> bool:
    """A secret name right before ``=`` or ``%3d`` somewhere (what :data:`_PARAM` needs)."""
    for separator in ("=", "%3d"):
        at = folded.find(separator)
        while at != -1:
            if folded.endswith(_FOLDED_NAMES, 0, at):
                return True
            at = folded.find(separator, at + 1)
    return False


def redact(text: str) -> str:
    """``text`` with every secret this module knows replaced by :data:`REDACTED`.

    Every log line passes here (an access line costs ~0.2 ms through all six expressions), so
    each expression runs only when a substring it cannot match without is in the line."""
    if not text or (_PLAIN.fullmatch(text) and "eyJ" not in text):
        return text
    folded = _folded(text)
    if "@" in text and "://" in text:
        text = _USERINFO.sub(rf"\1{REDACTED}@", text)
    if "/links/" in text:
        text = _LINK_PATH.sub(rf"\1{REDACTED}", text)
    if "bearer" in folded or "basic" in folded:
        text = _AUTH_SCHEME.sub(rf"\1\2{REDACTED}", text)
    if "eyJ" in text:
        text = _JWT.sub(REDACTED, text)
    # ``map`` over the bound method: no Python frame per name (a generator cost more than
    # the rest of a short text's checks together).
    if not any(map(folded.__contains__, _FOLDED_NAMES)):
        return text
    if "'" in text or '"' in text:
        text = _FIELD.sub(lambda m: f"{m[1]}{m[2]}{m[1]}{m[3]}{m[4]}{REDACTED}{m[4]}", text)
    if _has_param(_folded(text)):
        text = _PARAM.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", text)
    return text


def redact_value(value: Any, key: str | None = None) -> Any:
    """A structured log field (audit details, extras) with secrets redacted: whole values
    under secret keys, :func:`redact` on every string."""
    if value is None:  # the commonest field value, and not a Mapping (an ABC's slow test)
        return value
    if key is not None and key.lower() in SECRET_KEYS and value != "":
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def redact_header(name: str, value: Any) -> Any:
    """One HTTP header for a log line: credentials whole, anything else through :func:`redact`."""
    if name.lower() in SECRET_HEADERS:
        return REDACTED
    return redact(value) if isinstance(value, str) else value


class RedactingFilter(logging.Filter):
    """Redacts a record's message and traceback before any handler formats it.

    On a logger, it sees only records logged on that logger itself (werkzeug's request log,
    gunicorn's access and error logs); our own ``idp`` logs are redacted by the JSON
    formatter."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        record.redacted = True  # the JSON formatter need not redact the message again
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
