"""Browser-test fixtures: real Chromium (Playwright) against the provider and the demo frontend.

One provider (SQLite with the SQL-backed store, real SMTP to the session's ``smtp_sink``) and
one demo storage frontend are served over real HTTP for the whole session; Chromium is launched
once; every test gets a fresh browser context (no cookies shared between tests).

Strict: every page of every context a test makes through ``context_factory`` (so ``page`` too)
is watched (tests/browser/watch.py): a console error, an uncaught script error, a failed
request, a sub-resource answered with an error, an axe-core violation of serious or critical
impact or untranslated text fails the test. axe and the translation check run on each page
``shot`` takes and on every page still open when the test ends; ``watched`` is that watch
(``watched.check(page)`` checks a page a test does not screenshot).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser import axe
from tests.browser.watch import Cost
from tests.browser.watch import Watched
from tests.conftest import Provider
from tests.conftest import served_provider

#: Playwright's default is 30 s; local pages answer in milliseconds, so fail fast.
TIMEOUT_MS = 10_000
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@dataclass
class Frontend:
    """The running demo storage frontend and the client it uses at the provider."""

    url: str
    client_id: str


@pytest.fixture(scope="session")
def browser_provider(
    smtp_sink: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provider]:
    """The provider on its own port (issuer ``http://127.0.0.1:PORT``)."""
    with served_provider(tmp_path_factory.mktemp("browser-sqlite"), smtp_sink) as provider:
        yield provider


@pytest.fixture(scope="session")
def frontend(browser_provider: Provider) -> Iterator[Frontend]:
    """The demo storage frontend, a trusted confidential client of ``browser_provider``."""
    from tests.browser.flows import served_frontend

    with served_frontend(browser_provider, "WORKSDRIVE storage (browser tests)") as frontend:
        yield frontend


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Keep the call's report on the item: the end-of-test checks skip a test already failed."""
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


CALL_FAILED = pytest.StashKey[bool]()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """What axe and the translation check cost in this run (issue 14 asks it be measured)."""
    if Cost.checks:
        terminalreporter.write_line(
            f"browser page checks (axe, translation): {Cost.checks} pages in "
            f"{Cost.seconds:.1f} s ({Cost.seconds / Cost.checks * 1000:.0f} ms each); "
            f"{Cost.navigations} page loads in all"
        )


@pytest.fixture(scope="session", autouse=True)
def _axe_installed() -> None:
    """axe-core's npm package (tests/browser/axe), installed once before the first test."""
    axe.install()


@pytest.fixture()
def watched() -> Watched:
    """The watch over every page of this test (its checks run in ``context_factory``)."""
    return Watched()


@pytest.fixture()
def context_factory(
    chromium: Any, watched: Watched, request: pytest.FixtureRequest
) -> Iterator[Callable[..., Any]]:
    """Make fresh browser contexts (closed at test end); keyword args go to new_context.
    Each page opened in them is watched; at the end every page still open is checked."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        context = chromium.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        context.set_default_navigation_timeout(TIMEOUT_MS)
        context.on("page", watched.watch)
        contexts.append(context)
        return context

    yield make
    try:
        if not request.node.stash.get(CALL_FAILED, True):
            watched.finish()
    finally:
        for context in contexts:
            context.close()


@pytest.fixture()
def page(context_factory: Callable[..., Any]) -> Any:
    """A page in a fresh desktop browser context."""
    return context_factory(viewport={"width": 1280, "height": 900}).new_page()


class Screenshots:
    """Numbered full-page screenshots under ``test-artifacts/screenshots/<test-name>/``; each
    page shot is then checked by the test's watch (axe, translation, errors so far)."""

    def __init__(self, folder: Path, watched: Watched) -> None:
        self.folder = folder
        self.count = 0
        self.watched = watched

    def __call__(self, page: Any, what: str) -> Path:
        self.count += 1
        path = self.folder / f"{self.count:02d}-{re.sub(r'[^A-Za-z0-9_-]+', '-', what)}.png"
        # Headless Chromium sometimes answers a full-page capture with "Unable to capture
        # screenshot" while its compositor is busy (a fresh-clone CI run failed on it once in
        # ~300 screenshots; chromium bug 714058). The picture is an artefact, not what the
        # test asserts: try the full page twice, then keep the visible part.
        for full_page in (True, True, False):
            try:
                page.screenshot(path=str(path), full_page=full_page)
                break
            except Exception as error:  # playwright's Error
                if "Unable to capture screenshot" not in str(error) or not full_page:
                    raise
        self.watched.check(page)
        return path


@pytest.fixture()
def shot(request: pytest.FixtureRequest, watched: Watched) -> Screenshots:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    folder = SCREENSHOTS / name
    if folder.exists():
        for old in folder.glob("*.png"):
            old.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    return Screenshots(folder, watched)


@pytest.fixture(scope="session")
def passkey_provider(
    smtp_sink: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Provider]:
    """A second provider whose issuer is ``http://localhost:PORT``, for WebAuthn (X1).

    The WebAuthn RP ID is the issuer's host, and Chromium refuses an IP address as RP ID
    ("SecurityError: This is an invalid domain") even on the trustworthy 127.0.0.1 origin.
    Only started when a passkey test asks for it.
    """
    from tests.realservices import free_port

    issuer = f"http://localhost:{free_port()}"
    tmp = tmp_path_factory.mktemp("browser-passkey")
    with served_provider(tmp, smtp_sink, issuer=issuer) as provider:
        yield provider


@pytest.fixture(scope="session")
def passkey_frontend(passkey_provider: Provider) -> Iterator[Frontend]:
    """The demo storage frontend as a client of ``passkey_provider``."""
    from tests.browser.flows import served_frontend

    name = "WORKSDRIVE storage (passkey browser tests)"
    with served_frontend(passkey_provider, name) as frontend:
        yield frontend
