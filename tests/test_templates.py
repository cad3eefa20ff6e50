"""Pages share templates/_macros.html for what each repeats (DESIGN.md "Inside idp/")."""

from __future__ import annotations

import re

import pytest

from idp.config import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "templates"
#: The demo storage frontend is a relying party of its own, not a provider page.
NOT_PROVIDER_PAGES = ("demo/",)


def _provider_pages() -> list[str]:
    return sorted(
        p.relative_to(TEMPLATES).as_posix()
        for p in TEMPLATES.rglob("*.html")
        if p.name != "_macros.html"
        and not p.relative_to(TEMPLATES).as_posix().startswith(NOT_PROVIDER_PAGES)
    )


@pytest.mark.covers("O2")
@pytest.mark.parametrize("page", _provider_pages())
def test_every_form_comes_from_the_post_form_macro(page):
    """A form written by hand could miss its CSRF token; ``post_form`` always adds it."""
    text = (TEMPLATES / page).read_text()
    assert not re.search(r"<form\b", text, re.I), page
    assert "csrf_token" not in text, page
    if "post_form(" in text:
        assert re.search(r'\{% from "_macros.html" import [^%]*\bpost_form\b', text), page


#: A list element with its own role stops being a list, and its items then have no list
#: (axe-core rules "list" and "listitem", serious): the new-password page's errors failed so.
LIST_WITH_ROLE = re.compile(r"<(?:ul|ol)\b[^>]*\brole=", re.IGNORECASE)


def test_no_list_carries_a_role_of_its_own():
    offenders = [
        str(path.relative_to(TEMPLATES))
        for path in sorted(TEMPLATES.rglob("*.html"))
        if LIST_WITH_ROLE.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
