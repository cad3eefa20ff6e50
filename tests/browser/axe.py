"""axe-core (Deque's accessibility engine, from its npm package: tests/browser/axe) run on the
page a browser test is on; what it finds of ``serious`` or ``critical`` impact fails the test.

The source is evaluated through the DevTools protocol (Playwright's ``evaluate``), not added as
a ``<script>``: our pages' Content-Security-Policy (``script-src 'self'``) refuses an inline
script, and ``bypass_csp=True`` would switch the policy off for the whole context, so a page
breaking its own CSP would no longer show (the console error the watch fails on). Evaluation by
the protocol is not the page's script and is not subject to the policy; axe needs no ``eval``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.npm import npm_ci

FOLDER = Path(__file__).resolve().parent / "axe"
SOURCE = FOLDER / "node_modules" / "axe-core" / "axe.min.js"
IMPACTS = ("serious", "critical")
#: Runs axe on the whole document and keeps what fails, with the elements concerned.
RUN = """async impacts => {
  const results = await window.axe.run(document, {resultTypes: ['violations']});
  return results.violations
    .filter(v => impacts.includes(v.impact))
    .map(v => `${v.impact} ${v.id}: ${v.help} at ` +
              v.nodes.slice(0, 5).map(n => n.target.join(' ')).join(', '));
}"""

_source: str | None = None


def install() -> None:
    """``npm ci`` of tests/browser/axe (once; the browser fixtures call it at session start)."""
    npm_ci(FOLDER)


def _axe_source() -> str:
    global _source
    if _source is None:
        install()
        # An arrow function wrapping the file makes Playwright evaluate it as one expression
        # (with no ``module`` in scope axe's UMD header sets ``window.axe``).
        _source = "() => {\n" + SOURCE.read_text() + "\n}"
    return _source


def violations(page: Any) -> list[str]:
    """axe's serious and critical violations on ``page``'s current document (``[]``: none)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(_axe_source())
    result: list[str] = page.evaluate(RUN, list(IMPACTS))
    return result
