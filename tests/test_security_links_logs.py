"""No off-site link on our pages, whatever the path (issue 9, defect 4), and no live secret
in any log line (defect 5): mailed-link tokens, codes, tokens, id_token_hint, cookies.

SPEC O1 (logout, tokens), K3 and X4 (mailed links valid 14 days), DESIGN "Security defaults"."""

from __future__ import annotations

import http.client
import re
from html.parser import HTMLParser
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest

from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.helpers import redirect_params

# ---------------------------------------------------------------------------------------------
# Defect 4: the language switch (and every other link) stays on our site.

#: Paths that put another site into a link built from the raw path. Browsers read ``\`` as
#: ``/`` and drop tabs and newlines, so each of these can become ``//evil.example/…``.
NASTY_PATHS = [
    "/%5Cevil.example/x",
    "/\\evil.example/x",
    "//evil.example/x",
    "/%2F%2Fevil.example",
    "/%2Fevil.example",
    "/%09/evil.example",
    "/%0A/evil.example",
    "/%5C%5Cevil.example",
    "/%5C/evil.example/",
    "///evil.example/%2e%2e",
    "/%2F%5Cevil.example?a=b",
    # Matched routes with a hostile value in the path.
    "/links/%5C%5Cevil.example",
    "/login/ad/%5C%5Cevil.example",
    "/login/broker/%5Cevil.example",
]
URL_ATTRIBUTES = ("href", "src", "action", "formaction")


class _Urls(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in URL_ATTRIBUTES and value]


def browser_resolve(base: str, reference: str) -> str:
    """Resolve ``reference`` the way a browser does (WHATWG URL, http(s) base): strip C0
    controls and spaces at the ends, drop tabs and newlines, read ``\\`` as ``/``, and take
    any run of two or more leading slashes as the start of a host (``///evil`` is ``//evil``)."""
    reference = reference.strip("".join(chr(c) for c in range(0x21)))
    reference = re.sub(r"[\t\n\r]", "", reference).replace("\\", "/")
    reference = re.sub(r"^(https?:)?/{2,}", lambda m: (m[1] or "") + "//", reference)
    return urljoin(base, reference)


def raw_get(provider_url: str, path: str, **headers: str) -> tuple[int, dict[str, str], str]:
    """GET exactly ``path`` (no client-side normalisation or quoting)."""
    netloc = urlsplit(provider_url).netloc
    connection = http.client.HTTPConnection(netloc, timeout=10)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read().decode("utf-8", "replace")
        return response.status, dict(response.getheaders()), body
    finally:
        connection.close()


def offsite(provider_url: str, path: str, headers: dict[str, str], body: str) -> list[str]:
    """Every link target and Location of a response that leaves the provider's origin."""
    base = provider_url + "/" + path.lstrip("/\\")
    parser = _Urls()
    parser.feed(body)
    targets = parser.urls + ([headers["Location"]] if "Location" in headers else [])
    origin = urlsplit(provider_url)
    bad = []
    for target in targets:
        resolved = urlsplit(browser_resolve(base, target))
        if (resolved.scheme, resolved.netloc) != (origin.scheme, origin.netloc):
            bad.append(target)
    return bad


@pytest.mark.covers("O1")
@pytest.mark.parametrize("path", NASTY_PATHS)
def test_O1_no_link_on_our_pages_leaves_the_site(provider, path):
    assert_no_offsite_links(provider.url, path)


def assert_no_offsite_links(provider_url: str, path: str) -> None:
    lang_query = ("&" if "?" in path else "?") + "lang=en"
    # Japanese pages (the English switch link), then English ones (the Japanese link).
    for target, headers in ((path, {}), (path, {"Cookie": "lang=en"}), (path + lang_query, {})):
        status, got, body = raw_get(provider_url, target, **headers)
        assert status < 500, (target, status, body[:300])
        assert 'id="lang-' in body or "Location" in got, (target, status, body[:300])
        assert offsite(provider_url, target, got, body) == [], target


@pytest.mark.covers("O1")
def test_O1_language_switch_keeps_the_page_and_its_parameters(provider, rp):
    """The fix still switches language on the same step of the same sign-in."""
    browser = Browser(provider.url)
    page = browser.get(rp.authorize_url())
    assert 'id="password-form"' in page.text
    link = re.search(r'id="lang-en" href="([^"]+)"', page.text)
    assert link is not None
    english = browser.get(link.group(1).replace("&amp;", "&"))
    assert english.status_code == 200 and english.url.split("?")[0] == page.url.split("?")[0]
    assert 'id="password-form"' in english.text and 'lang="en"' in english.text
    # The transaction survived the switch: the sign-in completes from the English page.
    email = provider.new_user()[1]
    done = browser.submit(english, "password-form", email=email, password=PASSWORD)
    assert "code" in redirect_params(done)
    # On a page without a route the switch is the bare query, on the same (unknown) path.
    status, _headers, body = raw_get(provider.url, "/no/such/page")
    assert status == 404 and 'id="lang-en" href="?lang=en"' in body
