"""The demo frontend's language (Japanese first, English by choice, like the provider) and its
words for how a sign-in was made: ``amr`` (RFC 8176 values and ours), ``acr`` (the provider's
two levels) and the line-authentication claims (SPEC X5: ``line_auth``, ``line_area``).

The messages are in the provider's catalog (idp/translations), English msgids."""

from __future__ import annotations

import functools
import gettext as stdlib_gettext
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

from babel.support import Translations

from idp.i18n import TRANSLATIONS
from idp.i18n import compile_catalogs
from policies.assurance import ACR_ONE_FACTOR
from policies.assurance import ACR_TWO_FACTOR

LANGUAGES = ("ja", "en")
DEFAULT_LANGUAGE = "ja"


def N_(text: str) -> str:
    """Marks a message for the catalog (babel's ``N_``); translated when shown."""
    return text


#: amr values (RFC 8176 §2; ``line`` is the provider's, SPEC X5) in words.
AMR_WORDS = {
    "pwd": N_("Password"),
    "sms": N_("A code sent by SMS"),
    "otp": N_("A one-time code (authenticator app or recovery code)"),
    "hwk": N_("A passkey or security key"),
    "mfa": N_("More than one factor"),
    "fed": N_("An account at another provider (Google, Microsoft, Facebook, d account or AD)"),
    "line": N_("Line authentication: a registered line, vouched for by the line gateway"),
}
ACR_WORDS = {
    ACR_ONE_FACTOR: N_("One factor"),
    ACR_TWO_FACTOR: N_("Two factors"),
}
AREA_WORDS = {"east": N_("East Japan"), "west": N_("West Japan")}


@functools.cache
def _translations(language: str) -> stdlib_gettext.NullTranslations:
    if language == "en":
        return stdlib_gettext.NullTranslations()
    compile_catalogs()
    return Translations.load(str(TRANSLATIONS), [language])


def gettext_for(language: str) -> Callable[..., str]:
    """``_(msgid, **values)`` in ``language``, formatted like Jinja's new-style gettext."""
    translations = _translations(language if language in LANGUAGES else DEFAULT_LANGUAGE)

    def translate(message: str, **values: Any) -> str:
        text = translations.gettext(message)
        return text % values if values else text

    return translate


def sign_in_facts(claims: Mapping[str, Any]) -> dict[str, Any]:
    """How the ID token says the sign-in was made: each ``amr`` value with its words, the
    ``acr`` in words, and line authentication (None when the token does not say)."""
    amr = claims.get("amr") if isinstance(claims.get("amr"), list) else []
    acr = claims.get("acr")
    line_auth = claims.get("line_auth")
    return {
        "amr": [(str(value), AMR_WORDS.get(str(value), "")) for value in amr or []],
        "acr": acr,
        "acr_words": ACR_WORDS.get(acr, "") if isinstance(acr, str) else "",
        "line_auth": line_auth if isinstance(line_auth, bool) else None,
        "line_area": AREA_WORDS.get(str(claims.get("line_area")), ""),
    }
