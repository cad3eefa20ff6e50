"""No off-site link on our pages, whatever the path (issue 9, defect 4), and no live secret
in any log line (defect 5): mailed-link tokens, codes, tokens, id_token_hint, cookies.

SPEC O1 (logout, tokens), K3 and X4 (mailed links valid 14 days), DESIGN "Security defaults"."""

from __future__ import annotations

import http.client
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests
from cryptography.fernet import Fernet

from idp.log_lines import JsonFormatter
from idp.redaction import REDACTED
from idp.redaction import redact
from idp.redaction import redact_value
from tests.conftest import PASSWORD
from tests.conftest import build_provider
from tests.helpers import Browser
from tests.helpers import RelyingParty
from tests.helpers import redirect_params
from tests.observe_services import idp_serve

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
    link = re.search(r'id="lang-en"[^>]* href="([^"]+)"', page.text)
    assert link is not None
    english = browser.get(link.group(1).replace("&amp;", "&"))
    assert english.status_code == 200 and english.url.split("?")[0] == page.url.split("?")[0]
    assert 'id="password-form"' in english.text and 'lang="en"' in english.text
    # The transaction survived the switch: the sign-in completes from the English page.
    email = provider.new_user()[1]
    done = browser.submit(english, "password-form", email=email, password=PASSWORD)
    assert "code" in redirect_params(done)
    # After a wrong password the page comes back from the POST: its switch still names the
    # sign-in (it once linked to /login?lang=ja without it: "something went wrong").
    other = Browser(provider.url)
    page = other.get(rp.authorize_url())
    wrong = other.submit(page, "password-form", email=email, password="Wrong-password-1")
    assert 'id="password-form"' in wrong.text
    link = re.search(r'id="lang-en"[^>]* href="([^"]+)"', wrong.text)
    assert link is not None
    english = other.get(link.group(1).replace("&amp;", "&"))
    assert 'id="password-form"' in english.text and 'lang="en"' in english.text
    done = other.submit(english, "password-form", email=email, password=PASSWORD)
    assert "code" in redirect_params(done)
    # On a page without a route the switch is the bare query, on the same (unknown) path.
    status, _headers, body = raw_get(provider.url, "/no/such/page")
    assert status == 404 and re.search(r'id="lang-en"[^>]* href="\?lang=en"', body)


# ---------------------------------------------------------------------------------------------
# Defect 5: one redaction function, tested by a table.

JWT = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJlLXZhbHVl"
REDACTION_TABLE = [
    # (log text, secrets that must go, what must stay)
    ("GET /links/AbCd-123_xyz HTTP/1.1", ["AbCd-123_xyz"], ["GET /links/", "HTTP/1.1"]),
    ("POST /line/links/AbCd-123_xyz?x=1 HTTP/1.1", ["AbCd-123_xyz"], ["?x=1"]),
    (
        "GET /callback?code=c0de-SECRET&state=rp-state&iss=http%3A%2F%2Fidp HTTP/1.1",
        ["c0de-SECRET"],
        ["state=rp-state", "iss=http"],
    ),
    (f"GET /logout?id_token_hint={JWT}&state=s HTTP/1.1", [JWT, "eyJzdWIi"], ["state=s"]),
    ("GET /userinfo?access_token=AT-123.secret HTTP/1.1", ["AT-123.secret"], ["/userinfo"]),
    ("grant_type=refresh_token&refresh_token=RT-secret", ["RT-secret"], ["grant_type"]),
    ("client_id=rp&client_secret=CS-secret&code_verifier=V-secret", ["CS-secret", "V-secret"], []),
    ("token=T-secret&token_type_hint=access_token", ["T-secret"], ["token_type_hint"]),
    ("GET /authorize?login_hint=a%40b.example&tx=abc HTTP/1.1", ["a%40b.example"], ["tx=abc"]),
    ("Cookie: idp_sso=SSO-secret; idp_rb=RB-secret; lang=en", ["SSO-secret", "RB-secret"], []),
    ("Set-Cookie: idp_browser=BR-secret; HttpOnly", ["BR-secret"], ["HttpOnly"]),
    ("Authorization: Bearer AT-bearer-secret", ["AT-bearer-secret"], ["Authorization"]),
    ("Authorization: Basic cnA6Y2xpZW50LXNlY3JldA==", ["cnA6Y2xpZW50LXNlY3JldA=="], []),
    (f"ID token was {JWT} here", [JWT], ["ID token was", "here"]),
    # A bare JWT is made of the characters of a plain value (an id, an address): still found.
    (JWT, [JWT], []),
    (f"rp-1.{JWT}", [JWT], ["rp-1."]),
    ('{"access_token": "AT-json", "token_type": "Bearer"}', ["AT-json"], ['"token_type"']),
    ("{'refresh_token': 'RT-repr', 'scope': 'openid'}", ["RT-repr"], ["'scope': 'openid'"]),
    ("smtp+starttls://mailer:P4ss@smtp.example:587", ["P4ss", "mailer:"], ["smtp.example:587"]),
    (
        "post_logout_redirect_uri=https%3A%2F%2Frp%2F%3Fcode%3Dnested-secret%26a%3D1",
        ["nested-secret"],
        ["%26a%3D1"],
    ),
    ("error_code=42 response_type=code code_challenge=abc", [], ["error_code=42", "=code", "abc"]),
    ("\x1b[33mGET /cb?code=ansi-secret HTTP/1.1\x1b[0m", ["ansi-secret"], ["HTTP/1.1\x1b[0m"]),
]


@pytest.mark.covers("O1", "X4")
@pytest.mark.parametrize(("text", "secrets", "kept"), REDACTION_TABLE)
def test_redaction_table(text, secrets, kept):
    redacted = redact(text)
    for secret in secrets:
        assert secret not in redacted, redacted
    for part in kept:
        assert part in redacted, redacted
    if secrets:
        assert REDACTED in redacted
    assert redact(redacted) == redacted  # idempotent: a second pass changes nothing


def test_redaction_of_structured_fields():
    details = {
        "client_secret": "CS",
        "nested": {"token": "T", "note": "GET /links/LINK HTTP/1.1"},
        "list": ["code=C1", "fine"],
        "route": "internet",
    }
    assert redact_value(details) == {
        "client_secret": REDACTED,
        "nested": {"token": REDACTED, "note": f"GET /links/{REDACTED} HTTP/1.1"},
        "list": [f"code={REDACTED}", "fine"],
        "route": "internet",
    }


def test_json_log_lines_redact_message_audit_and_traceback():
    try:
        raise ValueError("failed on https://idp.example/links/LINK-in-exc?code=CODE-in-exc")
    except ValueError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "idp.web", logging.ERROR, __file__, 1, "Exception on %s", ("/links/LINK-in-msg",), exc_info
    )
    record.audit = {"event": "login", "details": {"access_token": "AT-in-audit"}}
    line = JsonFormatter().format(record)
    for secret in ("LINK-in-exc", "CODE-in-exc", "LINK-in-msg", "AT-in-audit"):
        assert secret not in line
    assert "ValueError" in line and "/links/" in line


@pytest.mark.covers("X4")
def test_X4_werkzeug_request_log_has_no_secrets(provider, caplog):
    """The development server (``idp demo``, the tests) logs request lines through werkzeug."""
    caplog.set_level(logging.INFO, logger="werkzeug")
    secrets = {"link": "Lnk" + uuid.uuid4().hex, "code": "Cod" + uuid.uuid4().hex}
    requests.get(f"{provider.url}/links/{secrets['link']}", timeout=10)
    requests.get(f"{provider.url}/logout?id_token_hint={JWT}&code={secrets['code']}", timeout=10)
    lines = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert any("/links/" in line for line in lines), lines  # the request was logged …
    text = "\n".join(lines)
    for secret in [*secrets.values(), JWT]:
        assert secret not in text  # … without its secrets


# ---------------------------------------------------------------------------------------------
# Defect 5 end to end: `idp serve` (gunicorn) logs a whole flow without a live secret.


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, smtp_sink: Any) -> Iterator[tuple[Any, Path]]:
    """``idp serve`` (gunicorn, one worker, access log on) over a provider's SQLite database;
    yields the provider (for provisioning) and the file that holds its stdout and stderr."""
    tmp_path = tmp_path_factory.mktemp("served")
    secret_key = "serve-secret-" + uuid.uuid4().hex
    encryption_key = Fernet.generate_key().decode()
    provider = build_provider(
        "sqlite+sqlstore",
        tmp_path,
        {"smtp": smtp_sink},
        secret_key=secret_key,
        encryption_key=encryption_key,
    )
    try:
        with idp_serve(provider, tmp_path, workers=1) as (_url, log_path):
            yield provider, log_path
    finally:
        provider.close()


@pytest.mark.covers("O1")
def test_O1_no_link_leaves_the_site_under_gunicorn(served):
    """Production parses request lines with gunicorn, not werkzeug: the same paths there."""
    provider, _log_path = served
    for path in NASTY_PATHS:
        assert_no_offsite_links(provider.url, path)


@pytest.mark.covers("O1", "K3", "X4")
def test_O1_K3_X4_idp_serve_logs_a_whole_flow_without_live_secrets(served, mailbox):
    provider, log_path = served
    rp: RelyingParty = provider.new_client()
    _user_id, email = provider.new_user()
    seen: dict[str, str] = {"client_secret": rp.secret or ""}

    # Sign-in: the code, the tokens, the SSO cookie.
    browser = Browser(provider.url)
    callback = rp.sign_in(browser, email, PASSWORD)
    seen["code"] = callback["code"]
    tokens = rp.exchange(callback["code"])
    assert tokens["_status"] == 200, tokens
    seen["sso_cookie"] = browser.session.cookies["idp_sso"]
    seen["browser_cookie"] = browser.session.cookies["idp_browser"]
    refreshed = rp.refresh(tokens["refresh_token"], scope=tokens["scope"])
    assert refreshed["_status"] == 200, refreshed
    for name in ("access_token", "refresh_token", "id_token"):
        seen[name] = tokens[name]
        seen["refreshed_" + name] = refreshed[name]
    # A client that puts a token in the query (RFC 6750 §2.3) still gets it kept out of logs.
    requests.get(
        rp.metadata["userinfo_endpoint"],
        params={"access_token": refreshed["access_token"]},
        timeout=10,
    )

    # RP-initiated logout with id_token_hint in the URL.
    bye = browser.session.get(
        rp.metadata["end_session_endpoint"],
        params={
            "id_token_hint": refreshed["id_token"],
            "post_logout_redirect_uri": "https://rp.example/bye",
            "state": "bye-state",
        },
        allow_redirects=False,
        timeout=10,
    )
    assert bye.status_code == 302, bye.text[:300]

    # Password reset: the mailed link's token in GET and POST request lines.
    page = browser.get("/password/forgot")
    assert browser.submit(page, email=email).status_code == 200
    mail = mailbox.wait_for(to=email, subject_contains="パスワードリセット")
    link = next(u for u in mailbox.links_in(mail) if "/links/" in u)
    seen["link_token"] = link.rsplit("/links/", 1)[1]
    form = browser.get(link)
    assert form.status_code == 200, form.text[:300]
    new_password = "Fresh-Start-2026"
    done = browser.submit(form, password=new_password, password_confirmation=new_password)
    assert done.status_code == 200 and 'id="done"' in done.text

    # A second sign-in with the new password: a second code and cookie.
    second = Browser(provider.url)
    again = rp.sign_in(second, email, new_password, login_hint=email)
    seen["second_code"] = again["code"]
    seen["second_sso_cookie"] = second.session.cookies["idp_sso"]
    assert rp.exchange(again["code"])["_status"] == 200

    provider.app.extensions["idp.mailer"].wait_idle()
    log = log_path.read_text(errors="replace")
    # The flow was logged (so the absence below means something) …
    assert "GET /links/" in log and "GET /logout?" in log and "/authorize?" in log
    # … and nothing in it is a live secret.
    leaked = {name: value for name, value in seen.items() if value and value in log}
    assert leaked == {}, f"secrets in the server log: {sorted(leaked)}"
    assert email not in log  # login_hint: personal data the log has no need of
