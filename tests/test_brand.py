"""The product's look that a person relies on (issue 14): every provider button says in words,
in Japanese and in English, which provider it is (its own wording, L1/L7/L10/M3), with the
provider's logo marked decorative; the footer's help, terms, privacy and operator links come
from the settings (help always, our own page when unset) and a setting that is not a web
address stops start-up."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from flask import g
from flask import render_template_string

from brokers.registry import UPSTREAMS
from idp.config import ConfigError
from idp.factory import create_app
from tests.conftest import Provider
from tests.conftest import served_provider
from tests.helpers import Browser

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uff01-\uff5e]")
#: What the login page's and the method choice's button markup holds: logo, then its text.
BUTTON = re.compile(
    r'<(?:a|button) [^>]*class="broker broker--([a-z]+)" id="broker-([a-z]+)"[^>]*>'
    r"(<img [^>]*>)<span class=\"broker-text\">([^<]+)</span></(?:a|button)>"
)
OPERATOR = {
    "help_url": "https://operator.example/help",
    "terms_url": "https://operator.example/terms",
    "privacy_url": "/privacy-of-the-operator",
    "operator_name": "Example Operations K.K.",
    "operator_url": "https://operator.example/",
}


@pytest.fixture(scope="module")
def site(smtp_sink: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """A provider without any footer setting."""
    with served_provider(tmp_path_factory.mktemp("brand"), smtp_sink) as provider:
        yield provider


@pytest.fixture(scope="module")
def operated(smtp_sink: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """A provider whose operator set every footer setting."""
    tmp = tmp_path_factory.mktemp("brand-operated")
    with served_provider(tmp, smtp_sink, **OPERATOR) as provider:
        yield provider


def _login_page(provider: Provider, locale: str) -> tuple[Browser, str]:
    browser = Browser(provider.url)
    page = browser.get(provider.new_client().authorize_url(ui_locales=locale))
    assert page.status_code == 200
    return browser, page.text


def _assert_buttons(found: list[tuple[str, str, str, str]], names: list[str], locale: str) -> None:
    assert [name for _style, name, _img, _text in found] == names
    for style, name, img, text in found:
        # The text names the provider; the logo beside it is decoration for screen readers.
        assert 'alt=""' in img and 'aria-hidden="true"' in img, img
        assert f"/static/brands/{style}.svg" in img
        assert text.strip(), name
        if locale == "ja":
            assert JAPANESE.search(text), (name, text)
        else:
            assert not JAPANESE.search(text), (name, text)


@pytest.mark.covers("L1", "L7")
def test_L1_every_login_button_has_its_provider_wording_in_both_languages(site: Provider) -> None:
    texts = {}
    for locale in ("ja", "en"):
        browser, page = _login_page(site, locale)
        found = BUTTON.findall(page)
        _assert_buttons(found, [upstream.name for upstream in UPSTREAMS], locale)
        texts[locale] = {name: text for _style, name, _img, text in found}
        for style in {style for style, *_rest in found}:
            logo = browser.session.get(f"{site.url}/static/brands/{style}.svg", timeout=10)
            assert logo.status_code == 200 and logo.headers["Content-Type"].startswith("image/svg")
    # The providers' own wording (their sign-in button guidelines).
    assert texts["ja"]["google"] == "Google でログイン"
    assert texts["en"]["google"] == "Sign in with Google"
    assert texts["ja"]["facebook"] == "Facebook でログイン"
    assert texts["en"]["facebook"] == "Continue with Facebook"
    assert texts["en"]["microsoft"] == "Sign in with Microsoft"
    assert texts["ja"]["daccount"] == "dアカウントでログイン"


@pytest.mark.covers("L10", "M3")
@pytest.mark.parametrize("locale", ["ja", "en"])
def test_M3_method_choice_buttons_have_text_and_a_decorative_logo(
    site: Provider, locale: str
) -> None:
    """The invitation's and the method change's choices (``upstream_choices``): POST buttons,
    with the contract's Active Directory last."""
    source = '{% from "_macros.html" import upstream_choices %}{{ upstream_choices(u, True, "h") }}'
    with site.app.test_request_context("/"):
        g.locale = locale
        html = render_template_string(source, u=UPSTREAMS)
    found = BUTTON.findall(html)
    _assert_buttons(found, [upstream.name for upstream in UPSTREAMS] + ["ad"], locale)


def _footer(page: str) -> str:
    match = re.search(r'<footer class="site-footer".*?</footer>', page, re.S)
    assert match, "no footer"
    return match.group(0)


def _links(footer: str) -> dict[str, str]:
    return dict(re.findall(r'<a id="(footer-[a-z]+)" href="([^"]+)"', footer))


@pytest.mark.covers("L1")
@pytest.mark.parametrize("locale", ["ja", "en"])
def test_footer_without_settings_links_our_own_help_in_the_page_language(
    site: Provider, locale: str
) -> None:
    browser, page = _login_page(site, locale)
    footer = _footer(page)
    links = _links(footer)
    # Terms and privacy are the operator's text: no link rather than a page that has none.
    assert list(links) == ["footer-help"]
    assert "© WORKSDRIVE" in footer
    help_page = browser.get(links["footer-help"].replace("&amp;", "&"))
    assert help_page.status_code == 200
    assert 'id="help"' in help_page.text and 'id="site-footer"' in help_page.text
    assert f'<html lang="{locale}">' in help_page.text
    body = help_page.text.split("<main", 1)[1].split("</main>", 1)[0]
    assert bool(JAPANESE.search(body)) is (locale == "ja")


def test_footer_links_are_the_operators_settings(operated: Provider) -> None:
    for locale, help_text in (("ja", "ヘルプ"), ("en", "Help")):
        _browser, page = _login_page(operated, locale)
        footer = _footer(page)
        assert _links(footer) == {
            "footer-help": OPERATOR["help_url"],
            "footer-terms": OPERATOR["terms_url"],
            "footer-privacy": OPERATOR["privacy_url"],
            "footer-operator": OPERATOR["operator_url"],
        }
        assert f">{help_text}</a>" in footer
        assert "© Example Operations K.K." in footer
    # Every page, not only the sign-in: the account menu's sign-in and the home page too.
    for path in ("/", "/help"):
        page = Browser(operated.url).get(path)
        assert page.status_code == 200 and 'id="footer-terms"' in page.text


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "//evil.example/terms", "operator.example/terms"]
)
def test_a_footer_setting_that_is_no_web_address_stops_start_up(tmp_path: Any, url: str) -> None:
    """A footer link is an http(s) URL or a path on this site: ``javascript:`` or a
    protocol-relative ``//host`` would put a script or another site behind "Terms of use"."""
    with pytest.raises(ConfigError, match="IDP_TERMS_URL"):
        create_app({"dev": True, "instance_dir": str(tmp_path), "terms_url": url})


def test_page_shell_links_follow_each_requests_script_root(site: Provider) -> None:
    """Served under a path prefix (``SCRIPT_NAME``), a page's style sheet, logos and our help
    link carry the prefix of its own request, also right after pages without it (they are
    built once and kept, idp/pages.py), and each language keeps its own help link."""
    client = site.app.test_client()
    for root, locale in (("", "ja"), ("/idp", "ja"), ("/idp", "en"), ("", "en"), ("", "ja")):
        client.set_cookie("lang", locale)
        page = client.get("/help", base_url=f"http://localhost{root}/")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        assert f'<link rel="stylesheet" href="{root}/static/style.css">' in text
        assert f'<img class="brand-mark" src="{root}/static/mark.svg"' in text
        assert _links(_footer(text)) == {"footer-help": f"{root}/help?lang={locale}"}
