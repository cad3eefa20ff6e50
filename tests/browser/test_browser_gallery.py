"""Issue 14's screenshots gallery: each main page at 375 px and 1280 px, in Japanese and
English, saved under ``test-artifacts/screenshots/test_gallery_<width>_<lang>/``; on a phone
no page scrolls sideways. O1 (the service's pages), L1, L3 (2FA setup), U1 (account menu),
G1 (admin console), K2 (forgot password).

README's pictures (docs/screenshots/) come from these files: ``make screenshots``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.browser.flows import new_phone
from tests.browser.flows import sms_code
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

VIEWPORTS = {375: {"width": 375, "height": 740}, 1280: {"width": 1280, "height": 900}}
HORIZONTAL_SCROLL = (
    "() => ({scroll: document.documentElement.scrollWidth, "
    "width: document.documentElement.clientWidth})"
)
#: The account menu's items and the admin console's pages, visited by their links.
MENU_ITEMS = 'a[id^="item-"]:not(#item-top)'
#: Admin console pages of one user that only show (their forms are not sent here).
ADMIN_USER_PAGES = ("", "/what-if", "/sign-out", "/reset-two-factor")
ADMIN_PAGES = ("/admin/users", "/admin/invitations", "/admin/lines", "/admin/audit")


class Gallery:
    """Visits pages, saves each and checks it fits a phone's width."""

    def __init__(self, page: Any, shot: Any, width: int) -> None:
        self.page = page
        self.shot = shot
        self.width = width
        self.seen: list[str] = []

    def capture(self, what: str) -> None:
        self.page.wait_for_load_state("load")
        self.shot(self.page, what)
        self.seen.append(what)
        if self.width <= 375:
            sizes = self.page.evaluate(HORIZONTAL_SCROLL)
            assert sizes["scroll"] <= sizes["width"], (what, self.page.url, sizes)

    def visit(self, url: str, what: str) -> Any:
        response = self.page.goto(url)
        self.capture(what)
        return response

    def click(self, selector: str, what: str) -> None:
        with self.page.expect_navigation():
            self.page.click(selector)
        self.capture(what)


def sign_in_at_service(gallery: Gallery, frontend: Any, email: str, what: str) -> None:
    page = gallery.page
    gallery.visit(frontend.url + "/", f"{what}-service-signed-out")
    gallery.click("#signin", f"{what}-login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("#submit")


@pytest.mark.covers("O1", "L1", "L3", "U1", "G1", "K2")
@pytest.mark.parametrize("lang", ["ja", "en"])
@pytest.mark.parametrize("width", [375, 1280])
def test_gallery(context_factory, browser_provider, frontend, shot, width, lang):
    provider = browser_provider
    page = context_factory(viewport=VIEWPORTS[width]).new_page()
    gallery = Gallery(page, shot, width)
    # The language is chosen once; the provider and the frontend each remember it.
    gallery.visit(f"{provider.url}/?lang={lang}", "home")
    page.goto(f"{frontend.url}/?lang={lang}")
    assert page.get_attribute("html", "lang") == lang

    # Error pages: an unknown page, and an authorization request from an unknown client.
    assert gallery.visit(provider.url + "/no-such-page", "error-not-found").status == 404
    gallery.visit(provider.url + "/authorize?client_id=nope&response_type=code", "error-client")

    # Sign-in: a wrong password, then forgot password and its "check your mail" end page.
    contract_id = provider.new_contract()
    _id, email = provider.new_user(contract_id, role="contractor", name="見本 花子")
    gallery.visit(frontend.url + "/", "service-signed-out")
    gallery.click("#signin", "login")
    page.fill("#email", email)
    page.fill("#password", "Not-The-Password-1")
    gallery.click("#submit", "login-wrong-password")
    gallery.click("#forgot", "forgot-password")
    page.fill("#email", email)
    gallery.click("#submit", "forgot-password-sent")

    # Signed in at the service, then a relying party that asks for consent.
    page.goto(frontend.url + "/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    with page.expect_navigation(url=frontend.url + "/"):
        page.click("#submit")
    gallery.capture("service-signed-in")
    rp = provider.new_client(trusted=False, name="Partner app")
    gallery.visit(rp.authorize_url(), "consent")

    # The account menu and each of its items (the sign-in is fresh: no re-authentication).
    gallery.visit(provider.url + "/account", "account-menu")
    items = page.eval_on_selector_all(MENU_ITEMS, "links => links.map(a => a.href)")
    assert len(items) >= 5, items
    for href in items:
        gallery.visit(href, "account-" + href.rstrip("/").rsplit("/", 1)[-1])

    # The admin console (the contractor's).
    gallery.visit(provider.url + "/admin", "admin-console")
    for path in ADMIN_PAGES:
        gallery.visit(provider.url + path, "admin-" + path.rsplit("/", 1)[-1])
    other_id, _other = provider.new_user(contract_id, name="見本 太郎")
    for suffix in ADMIN_USER_PAGES:
        url = f"{provider.url}/admin/users/{other_id}{suffix}"
        gallery.visit(url, "admin-user" + suffix.replace("/", "-"))

    # Logged out at the provider (no relying party to return to): an end page.
    with page.expect_navigation():
        page.goto(provider.url + "/logout")
    if page.locator("form button[type=submit]").count():
        gallery.capture("logout-confirm")
        gallery.click("form button[type=submit]", "logged-out")
    else:
        gallery.capture("logged-out")

    # Two-step verification: a user of a contract with 2FA on sets it up at first sign-in
    # (another browser: the service still holds the contractor's tokens).
    page = context_factory(viewport=VIEWPORTS[width]).new_page()
    gallery.page = page
    page.goto(f"{provider.url}/?lang={lang}")
    page.goto(f"{frontend.url}/?lang={lang}")
    two_factor_contract = provider.new_contract(two_factor=True)
    _id, second = provider.new_user(two_factor_contract)
    sign_in_at_service(gallery, frontend, second, "two-factor")
    page.wait_for_url(re.compile(r".*/login/2fa/enroll/sms\b.*"))
    gallery.capture("two-factor-enroll-sms")
    gallery.click("#use-app", "two-factor-enroll-app")
    page.go_back()
    typed, e164 = new_phone()
    page.fill("#phone", typed)
    gallery.click("#submit", "two-factor-sms-code")
    page.fill("#code", sms_code(provider, e164))
    gallery.click("#submit", "two-factor-recovery-code")
    page.check("#saved")
    with page.expect_navigation(url=frontend.url + "/"):
        page.click("#submit")
    # The next sign-in asks for the code (a fresh browser: none is remembered).
    page = context_factory(viewport=VIEWPORTS[width]).new_page()
    gallery.page = page
    page.goto(f"{provider.url}/?lang={lang}")
    page.goto(f"{frontend.url}/?lang={lang}")
    sign_in_at_service(gallery, frontend, second, "two-factor-again")
    gallery.capture("two-factor-sms-challenge")

    assert len(gallery.seen) >= 25, gallery.seen
