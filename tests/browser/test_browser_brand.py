"""The login page as people meet it (issue 14, L1/L7) in real Chromium, at a 375 px phone and a
1280 px desktop, in Japanese and English: the product mark, every provider button at least
44 px high with a visible focus ring, no horizontal scrolling, and footer links that open.

Screenshots go to ``test-artifacts/screenshots/<test-name>/``; any console error, failed
request or sub-resource answered with an error fails the test.
"""

from __future__ import annotations

from typing import Any

import pytest

from brokers.registry import UPSTREAMS
from tests.browser.flows import assert_fits_width

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

#: WCAG 2.5.5 (target size, enhanced) and the brief: 44 CSS px.
MIN_TARGET = 44
WIDTHS = {"phone": 375, "desktop": 1280}


@pytest.mark.covers("L1", "L7")
@pytest.mark.parametrize("locale", ["ja", "en"])
@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_L1_login_page_brand_buttons_and_footer(
    context_factory: Any, browser_provider: Any, shot: Any, locale: str, device: str
) -> None:
    width = WIDTHS[device]
    options: dict[str, Any] = {"viewport": {"width": width, "height": 900}}
    if device == "phone":
        options.update(device_scale_factor=2, is_mobile=True, has_touch=True)
    page = context_factory(**options).new_page()
    page.goto(browser_provider.new_client().authorize_url(ui_locales=locale))
    page.locator("#password-form").wait_for()
    shot(page, f"login-{locale}-{device}")

    assert page.get_attribute("html", "lang") == locale
    assert page.evaluate("() => window.innerWidth") == width
    assert_fits_width(page)
    # The product mark is shown (loaded, not a broken image) beside the product name.
    mark = page.locator("#brand img.brand-mark")
    assert mark.evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.locator("#brand").inner_text().strip() == "WORKSDRIVE"

    for upstream in UPSTREAMS:
        button = page.locator(f"#broker-{upstream.name}")
        box = button.bounding_box()
        assert box is not None, upstream.name
        assert box["height"] >= MIN_TARGET, (upstream.name, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (upstream.name, box)
        assert button.inner_text().strip(), upstream.name
        logo = button.locator("img.broker-logo")
        assert logo.evaluate("img => img.complete && img.naturalWidth > 0"), upstream.name

    # Keyboard focus on a provider button draws a ring around it.
    page.locator("#broker-google").focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    ring = page.locator("#broker-google").evaluate(
        "b => { const s = getComputedStyle(b); return [s.outlineStyle, s.outlineWidth]; }"
    )
    assert ring[0] != "none" and float(ring[1].removesuffix("px")) >= 2, ring
    shot(page, f"login-{locale}-{device}-focus")

    # Every footer link opens (200), in the page's language.
    links = page.locator("#site-footer a")
    assert links.count() >= 1
    for index in range(links.count()):
        href = links.nth(index).get_attribute("href")
        assert href
        response = page.request.get(page.url if href.startswith("#") else _absolute(page, href))
        assert response.status == 200, href
    with page.expect_navigation():
        page.click("#footer-help")
    page.locator("#help").wait_for()
    assert page.get_attribute("html", "lang") == locale
    assert_fits_width(page)
    shot(page, f"help-{locale}-{device}")


def _absolute(page: Any, href: str) -> str:
    return str(page.evaluate("h => new URL(h, document.baseURI).href", href))
