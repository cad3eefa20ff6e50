"""L9, X5, O1 in real Chromium against ``idp demo`` itself (issue 14): a newcomer follows the
sheet — the line user signs in at the storage service through the development line gateway
the demo started, answers the West Japan notice, and the service says the sign-in came
through line authentication; the same user from the internet is refused (A1, line-only).

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from idp.demo.accounts import USERS
from tests.demo_run import running_demo

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

LINE_USER = next(user for user in USERS if user.key == "line")


@pytest.fixture()
def demo(tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """``idp demo`` on free ports, until its sheet is printed; (provider, frontend, gateway)."""
    with running_demo(tmp_path) as run:
        yield run.urls


@pytest.mark.covers("L9", "X5", "A1", "O1")
def test_L9_the_demo_line_user_signs_in_through_the_demo_gateway(context_factory, demo, shot):
    provider, frontend, gateway = demo
    page = context_factory(viewport={"width": 375, "height": 740}).new_page()

    # From the internet, the line-only contract's user is refused (A1).
    page.goto(frontend + "/")
    with page.expect_navigation(url=re.compile(re.escape(provider) + r"/authorize\b")):
        page.click("#signin")
    shot(page, "login-internet")
    page.fill("#email", LINE_USER.email)
    page.fill("#password", LINE_USER.password)
    with page.expect_navigation():
        page.click("#submit")
    shot(page, "refused-from-the-internet")
    assert not page.url.startswith(frontend)

    # The sheet's way: the service's sign-in page, then 「回線認証でログイン」 (the gateway).
    page.goto(frontend + "/")
    with page.expect_navigation(url=re.compile(re.escape(provider) + r"/authorize\b")):
        page.click("#signin")
    assert page.locator("#line-login").get_attribute("href").startswith(gateway + "/line/")
    with page.expect_navigation(url=re.compile(re.escape(gateway) + r"/line/login\b")):
        page.click("#line-login")
    shot(page, "login-through-the-line-gateway")
    page.fill("#email", LINE_USER.email)
    page.fill("#password", LINE_USER.password)
    with page.expect_navigation(url=re.compile(r".*/(login/line-notice|line/notice)\b.*")):
        page.click("#submit")
    shot(page, "west-notice")
    page.check("#notify")
    with page.expect_navigation(url=re.compile(re.escape(frontend) + r"/$")):
        page.click("#submit")
    shot(page, "signed-in-through-the-line")
    assert page.locator("#line-auth").get_attribute("data-value") == "true"
    assert "西日本" in page.locator("#line-auth").inner_text()
    assert page.locator('#amr li[data-amr="line"]').count() == 1

    # The sheet follows: the notice was answered in the demo.
    page.goto(provider + "/dev/demo?lang=en")
    shot(page, "sheet-after")
    assert page.locator("#demo-line-notice").inner_text() == "notify (chosen in the demo)"
