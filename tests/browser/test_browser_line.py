"""L9, A1, A4, X5 in real Chromium through the development line gateway
(``idp/line/dev_gateway.py``): the browser follows the sign-in page's "line authentication"
link to the gateway, which forwards it to the provider as a NTT West line with signed headers.

- A registered line, first access from the West: the line information notification (no choice
  is refused; "notify", then decide), then the storage frontend signed in with ``line`` in
  ``amr`` and no 2FA screen although the contract has 2FA on, in a line-only contract (A1);
  the next sign-in through that line does not ask again.
- A user of a contract without that line: the line-authentication error page.

The provider here is a module's own: its line gateway secret and line login URL (the
gateway's address) are settings the session's provider has not. Every page visited is saved
to ``test-artifacts/screenshots/<test-name>/`` after checking the page for console errors,
script errors and failed requests (``snap``).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from idp.actor import Actor
from idp.contracts.lines import add_line
from idp.line.dev_gateway import make_dev_gateway_app
from tests.browser.flows import as_shot
from tests.browser.flows import claim
from tests.browser.flows import click_and_wait
from tests.browser.flows import heading
from tests.browser.flows import open_login_from_frontend
from tests.browser.flows import phone_snap
from tests.browser.flows import served
from tests.browser.flows import served_frontend
from tests.browser.flows import submit_password
from tests.browser.flows import wait_signed_in
from tests.browser.test_browser_account_menu import snap as snap  # noqa: F401 (fixture)
from tests.conftest import PASSWORD
from tests.conftest import build_provider
from tests.realservices import free_port

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

SECRET = "browser-line-gateway-secret"
#: The line the gateway speaks for (NTT West).
LINE = "CAF" + "".join(secrets.choice("0123456789ABCDEFGHJK") for _ in range(10))


class LineSetup:
    def __init__(self, provider: Any, frontend: Any, gateway: str) -> None:
        self.provider = provider
        self.frontend = frontend
        self.gateway = gateway


@pytest.fixture(scope="module")
def line_setup(smtp_sink: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LineSetup]:
    """A provider whose line login URL is the development gateway's, the gateway (line
    ``LINE``, west) and a storage frontend of that provider."""
    gateway_port = free_port()
    gateway = f"http://127.0.0.1:{gateway_port}"
    provider = build_provider(
        "sqlite+sqlstore",
        tmp_path_factory.mktemp("browser-line"),
        {"smtp": smtp_sink},
        line_gateway_secret=SECRET,
        line_login_url=gateway + "/line",
    )
    gateway_app = make_dev_gateway_app(LINE, "west", provider.url, SECRET.encode())
    try:
        with (
            served(provider.app, provider.app.config["TEST_PORT"]),
            served(gateway_app, gateway_port),
            served_frontend(provider, "WORKSDRIVE storage (line browser tests)") as frontend,
        ):
            yield LineSetup(provider, frontend, gateway)
    finally:
        provider.close()


def through_the_line(page: Any, setup: LineSetup, email: str, snap: Any, what: str) -> None:
    """The service's sign-in page → "line authentication" → the password through the gateway."""
    open_login_from_frontend(page, setup.frontend, setup.provider, as_shot(snap), what)
    link = page.locator("#line-login")
    assert link.get_attribute("href").startswith(setup.gateway + "/line/login?tx=")
    click_and_wait(page, "#line-login")
    assert page.url.startswith(setup.gateway + "/line/login")
    page.locator("#password-form").wait_for()
    snap(what + "-line-login")
    submit_password(page, email, PASSWORD)


@pytest.mark.covers("L9", "A1", "A4", "X5")
def test_L9_west_line_notice_then_signed_in_without_2fa_and_not_asked_again(page, line_setup, snap):
    provider = line_setup.provider
    contract_id = provider.new_contract(two_factor=True, access_route="line-only")
    with provider.app.app_context():
        add_line(Actor.cli(), contract_id, LINE)
    user_id, email = provider.new_user(contract_id)

    through_the_line(page, line_setup, email, snap, "first")
    page.locator("#notice-form").wait_for()
    snap("line-notice")
    phone_snap(page, snap, "line-notice")
    assert page.url.startswith(line_setup.gateway + "/")  # still through the line
    assert heading(page) == "回線情報通知"
    assert page.locator("#line-number").inner_text().strip() == LINE
    # Deciding without a choice is refused on the same page.
    with page.expect_navigation() as navigation:
        page.click("#submit")
    assert navigation.value is not None and navigation.value.status == 400
    snap("line-notice-no-choice")
    assert "どちらかを選択してください" in page.locator("main").inner_text()
    page.check("#notify")
    click_and_wait(page, "#submit")

    # Signed in through the line: no 2FA screen (line authentication replaces it, L9; and
    # the line-only contract has it off, A4), the tokens say so.
    wait_signed_in(page, line_setup.frontend)
    snap("frontend-claims-line")
    assert claim(page, "sub") == user_id
    assert claim(page, "amr") == ["pwd", "line"]
    assert claim(page, "line_auth") is True
    assert claim(page, "line_area") == "west"

    # The next sign-in through the same line: the choice is kept, no notice.
    page.click("#logout")
    page.locator("#signed-out").wait_for()
    through_the_line(page, line_setup, email, snap, "again")
    wait_signed_in(page, line_setup.frontend)
    snap("frontend-claims-line-again")
    assert claim(page, "line_auth") is True

    # A1: from the internet (the sign-in page itself, not the line link) it is refused.
    page.click("#logout")
    page.locator("#signed-out").wait_for()
    open_login_from_frontend(page, line_setup.frontend, provider, as_shot(snap), "internet")
    submit_password(page, email, PASSWORD)
    page.locator("#error").wait_for()
    snap("internet-refused-line-only")
    assert page.locator("#error").get_attribute("data-reason") == "route_line_only"


@pytest.mark.covers("L9")
def test_L9_a_line_not_registered_to_the_contract_gets_the_line_error_page(page, line_setup, snap):
    provider = line_setup.provider
    contract_id = provider.new_contract(two_factor=False)
    _user_id, email = provider.new_user(contract_id)

    through_the_line(page, line_setup, email, snap, "unregistered")
    page.locator("#error").wait_for()
    snap("line-error")
    phone_snap(page, snap, "line-error")
    assert heading(page) == "ログインできません"
    error = page.locator("#error")
    assert error.get_attribute("data-reason") == "line_not_registered"
    assert "この回線はご契約に登録されていません" in error.inner_text()
    assert "回線番号" in error.inner_text()
