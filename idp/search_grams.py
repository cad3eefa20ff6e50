"""G2, X9: the bigrams a user is found by when the admin list is searched.

A substring search (``LIKE '%…%'``) scans every row of the contract, and neither a B-tree nor
pg_trgm helps: a two-character kanji surname (田中) has no trigram, and under the C locale kanji
are not word characters. So each user gets the set of two-character pieces of their searchable
name (spaces removed) and of their email's local part (``user_search_grams``); a search of two
or more characters first takes the users holding every bigram of the search text, then checks
the real substring on those few. Japanese full-text engines index bigrams for the same reason.
"""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """How names and searches are compared: NFKC (full-width letters and half-width kana fold
    to their usual forms) and casefold."""
    return unicodedata.normalize("NFKC", text or "").casefold()


def _pieces(text: str) -> set[str]:
    compact = "".join(text.split())
    return {compact[i : i + 2] for i in range(len(compact) - 1)}


def user_grams(name_key: str, email_key: str) -> set[str]:
    """The bigrams of a user's folded name and of their email's local part (the domain is the
    same for most of a contract and would only make every list long)."""
    return _pieces(name_key) | _pieces(email_key.split("@", 1)[0])


def search_grams(needle: str) -> set[str] | None:
    """The bigrams every match must hold, or None when the index cannot narrow the search
    (one character, or a search reaching into the domain with ``@``)."""
    if "@" in needle:
        return None
    grams = _pieces(needle)
    return grams or None
