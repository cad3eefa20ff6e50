"""What goes wrong in a browser test's pages beyond what its user reads (issue 14): console
errors, uncaught script errors, requests failed on the network, sub-resources answered with an
error, axe-core's serious and critical violations, and untranslated text. ``Watched`` follows
every page of a test's browser contexts (tests/browser/conftest.py attaches it); each
screenshot checks the page shown, the end of the test every page still open, and any problem
fails the test.

Untranslated text: on a Japanese page an English msgid of the catalogue shown as is (its
Japanese is missing, or the string never went through gettext on that page); on an English
page Japanese characters, except in user data (inside ``translate="no"``) and in parts marked
with their own language (the "日本語" switch carries ``lang="ja"``).
"""

from __future__ import annotations

import re
import time
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

from tests.browser import axe

CATALOGUE = Path(__file__).resolve().parents[2] / "idp/translations/ja/LC_MESSAGES/messages.po"
#: Chromium logs a page answered with 4xx as a console error; that page is what the test
#: reads (and asserts on), so only such a line about the page itself is not a problem.
DOCUMENT_STATUS_LINE = re.compile(r"^Failed to load resource: the server responded with a status")
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff01-\uff60]")
#: Every text the page shows (text nodes, and what names or labels an element), with the
#: language of its part; user data (``translate="no"``), code and scripts left out.
TEXTS = """() => {
  const skip = 'script, style, code, pre, [translate="no"]';
  const found = [];
  const lang = el => (el.closest('[lang]') || document.documentElement).lang;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.nodeValue.replace(/\\s+/g, ' ').trim();
    if (text && !node.parentElement.closest(skip)) found.push([text, lang(node.parentElement)]);
  }
  const named = '[placeholder], [aria-label], [title], [alt], input[type=submit]';
  for (const el of document.body.querySelectorAll(named)) {
    if (el.closest(skip)) continue;
    for (const name of ['placeholder', 'aria-label', 'title', 'alt', 'value']) {
      const value = (el.getAttribute(name) || '').trim();
      if (value && (name !== 'value' || el.matches('input'))) found.push([value, lang(el)]);
    }
  }
  found.push([document.title, document.documentElement.lang]);
  return found;
}"""


@cache
def _english_msgids() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """Two patterns of the catalogue's msgids whose Japanese differs from them: short ones
    (one or two words: "Next", "Save") must be a whole text, longer ones may be part of one."""
    with CATALOGUE.open("rb") as po:
        catalogue = read_po(po)
    short: list[str] = []
    long: list[str] = []
    for message in catalogue:
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not ids[0] or ids[0] in strings:
            continue
        for msgid in ids:
            if not re.search(r"[A-Za-z]{2}", msgid):
                continue
            pattern = re.sub(r"%\\\((\w+)\\\)d", r"\\d+", re.escape(msgid))
            pattern = re.sub(r"%\\\((\w+)\\\)s", r".+?", pattern)
            (short if len(msgid.split()) <= 2 else long).append(pattern)
    return (
        re.compile("|".join(sorted(short, key=len, reverse=True))),
        re.compile("|".join(sorted(long, key=len, reverse=True))),
    )


def untranslated(texts: list[tuple[str, str]]) -> list[str]:
    """The texts (with their part's language) that show another language than their part's."""
    short, long = _english_msgids()
    found = []
    for text, lang in texts:
        if lang.startswith("ja") and (short.fullmatch(text) or long.search(text)):
            found.append(f"English on a Japanese page: {text!r}")
        elif lang.startswith("en") and JAPANESE.search(text):
            found.append(f"Japanese on an English page: {text!r}")
    return found


class Cost:
    """What the checks cost over a session (printed at its end): pages checked, seconds in
    axe and the translation check, and documents loaded (each could have been checked)."""

    checks = 0
    seconds = 0.0
    navigations = 0


class Watched:
    """One test's pages, watched from their first request (``watch`` each new page)."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.documents: set[str] = set()
        self.pages: list[Any] = []

    def watch(self, page: Any) -> None:
        self.pages.append(page)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"script error: {error}"))
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)
        page.on("load", self._loaded)

    @staticmethod
    def _loaded(_page: Any) -> None:
        Cost.navigations += 1

    def _console(self, message: Any) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            self.problems.append(f"console error: {message.text} ({where})")

    def _request_failed(self, request: Any) -> None:
        if request.failure and "ERR_ABORTED" in request.failure:
            # The browser dropped a request because the page was left before it finished (a
            # form sent while the icon loads): nothing failed on the server or the network.
            return
        self.problems.append(f"request failed: {request.method} {request.url} {request.failure}")

    def _response(self, response: Any) -> None:
        if response.status < 400:
            return
        if response.request.resource_type == "document":
            self.documents.add(response.url)
        else:
            self.problems.append(
                f"{response.status} for {response.request.resource_type} {response.url}"
            )

    def check(self, page: Any) -> None:
        """axe and the translation check on ``page`` as it is now, then ``assert_none``."""
        if page.url.startswith(("http://", "https://")):
            started = time.perf_counter()
            where = f" on {page.url}"
            self.problems += [f"axe {found}{where}" for found in axe.violations(page)]
            self.problems += [found + where for found in untranslated(page.evaluate(TEXTS))]
            Cost.seconds += time.perf_counter() - started
            Cost.checks += 1
        self.assert_none()

    def finish(self) -> None:
        """The end of a test: every page still open is checked as it was left."""
        for page in self.pages:
            if not page.is_closed():
                self.check(page)
        self.assert_none()

    def assert_none(self) -> None:
        problems = [
            problem
            for problem in self.problems
            if not (
                DOCUMENT_STATUS_LINE.search(problem.removeprefix("console error: "))
                and any(problem.endswith(f"({url})") for url in self.documents)
            )
        ]
        assert not problems, problems
