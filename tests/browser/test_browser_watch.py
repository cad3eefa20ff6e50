"""The strict browser suite's watch (tests/browser/watch.py, issue 14) catches what it is for:
each kind of problem on a page served with our Content-Security-Policy fails the check, and a
page without them passes. Without this, a watch that silently stopped seeing (axe not injected
under the CSP, a catalogue not read) would leave every browser test green.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from idp.web import CONTENT_SECURITY_POLICY
from tests.browser.watch import Watched

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

ORIGIN = "http://watch.test"
CLEAN_JA = '<main><h1>ログイン</h1><p>メールアドレス</p><a lang="en" href="/">English</a></main>'


def html(lang: str, body: str) -> str:
    head = "<head><title>t</title></head>"
    return f'<!doctype html><html lang="{lang}">{head}<body>{body}</body></html>'


@pytest.fixture()
def served(chromium: Any) -> Iterator[tuple[Any, Watched, dict[str, str]]]:
    """A page whose documents (``pages``: path → HTML) come with our CSP; other paths 404."""
    pages: dict[str, str] = {}
    context = chromium.new_context()
    context.set_default_timeout(10_000)
    watch = Watched()
    context.on("page", watch.watch)

    def answer(route: Any) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path in pages:
            headers = {"Content-Security-Policy": CONTENT_SECURITY_POLICY}
            route.fulfill(
                status=200,
                headers=headers,
                content_type="text/html; charset=utf-8",
                body=pages[path],
            )
        else:
            route.fulfill(status=404, content_type="text/plain", body="not found")

    context.route(f"{ORIGIN}/**", answer)
    page = context.new_page()
    yield page, watch, pages
    context.close()


def problems_of(served: tuple[Any, Watched, dict[str, str]], lang: str, body: str) -> str:
    """The watch's complaint about a page (``""``: none)."""
    page, watch, pages = served
    watch.problems.clear()
    pages["/page"] = html(lang, body)
    page.goto(f"{ORIGIN}/page")
    try:
        watch.check(page)
    except AssertionError as error:
        return str(error)
    return ""


def test_a_clean_page_passes(served):
    assert problems_of(served, "ja", CLEAN_JA) == ""


def test_axe_runs_under_our_csp_and_reports_a_serious_violation(served):
    """The new-password page's old error list: role=alert on the <ul> (axe: list, listitem)."""
    found = problems_of(served, "ja", '<main><ul role="alert"><li>8文字以上</li></ul></main>')
    assert "axe serious list" in found or "axe serious listitem" in found, found


def test_an_english_msgid_on_a_japanese_page_is_untranslated(served):
    found = problems_of(served, "ja", "<main><h1>ログイン</h1><p>Forgot your password?</p></main>")
    assert "English on a Japanese page: 'Forgot your password?'" in found, found
    # A msgid with a placeholder is recognised with any value in it.
    found = problems_of(
        served, "ja", "<main><p>We have mailed them to yamada@example.jp.</p></main>"
    )
    assert "English on a Japanese page" in found, found


def test_japanese_on_an_english_page_except_user_data_and_the_language_switch(served):
    body = "<main><h1>Sign in</h1><p>パスワード</p></main>"
    found = problems_of(served, "en", body)
    assert "Japanese on an English page: 'パスワード'" in found, found
    allowed = (
        '<main><h1>Sign in</h1><p translate="no">山田 花子</p>'
        '<a lang="ja" href="/">日本語</a></main>'
    )
    assert problems_of(served, "en", allowed) == ""


def test_a_sub_resource_answered_with_an_error_and_a_script_error(served):
    found = problems_of(served, "ja", CLEAN_JA + '<img src="/missing.png" alt="">')
    assert "404 for image" in found, found
    page, watch, _pages = served
    with page.expect_event("pageerror"):
        page.evaluate("() => setTimeout(() => { throw new Error('boom') })")
    with pytest.raises(AssertionError, match="script error: .*boom"):
        watch.assert_none()
