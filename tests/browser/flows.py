"""What the browser walks share: signing in at the storage frontend or the account menu,
reading the mails the SMTP sink caught and the SMS of the outbox, the second-factor pages, and
small page checks. Every walk imports these from here (none copies them)."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from typing import NamedTuple

import pytest
from playwright.sync_api import Error as PlaywrightError
from werkzeug.serving import make_server

from idp.actor import Actor
from idp.sms import list_outbox
from idp.users.invitations import invite_user
from tests.conftest import PASSWORD

#: The account menu's name, its heading and band (U1).
MENU_JA = "認証・契約情報変更メニュー"
#: The phone width of the screenshots at phone size.
PHONE_WIDTH = 375
ACR_2FA = "urn:worksdrive:acr:2fa"
#: A recovery code as the page shows it.
RECOVERY_CODE = re.compile(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){3}")
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
INVITATION_SUBJECT = "【WORKSDRIVE】利用者登録のご案内"
INVITEE_NAME = "招待 花子"
#: Every mailed link is valid 14 days (SPEC Links).
LINK_DAYS = 14


def claim(page: Any, name: str) -> Any:
    """The JSON value of one ID-token claim in the frontend's ``#claims`` table."""
    cell = page.locator(f'#claims tr[data-claim="{name}"] td.value')
    assert cell.count() == 1, f"claim {name!r} not shown"
    return json.loads(cell.inner_text())


def open_login_from_frontend(
    page: Any, frontend: Any, provider: Any, shot: Any, what: str = "frontend-signed-out"
) -> None:
    """Storage frontend → sign in → the provider's login page (in answer to the authorization
    request itself: no redirect to /login)."""
    page.goto(frontend.url + "/")
    page.locator("#signin").wait_for()
    shot(page, what)
    with page.expect_navigation(
        url=re.compile("^" + re.escape(provider.url) + r"/authorize\b")
    ) as navigation:
        page.click("#signin")
    response = navigation.value
    assert response is not None and response.status == 200
    # Served as HTML (not text/plain), and never cached: it carries a CSRF token.
    assert response.headers["content-type"].startswith("text/html"), response.headers
    assert "no-store" in response.headers.get("cache-control", "")
    page.locator("#password-form").wait_for()


def submit_password(page: Any, email: str, password: str) -> None:
    page.fill("#email", email)
    page.fill("#password", password)
    with page.expect_navigation():
        page.click("#submit")


def wait_signed_in(page: Any, frontend: Any) -> None:
    # Facebook appends "#_=_" to its redirect; the browser keeps the fragment to the end.
    page.wait_for_url(re.compile("^" + re.escape(frontend.url) + r"/(#_=_)?$"))
    page.locator("#claims").wait_for()


def click_and_wait(page: Any, selector: str) -> None:
    with page.expect_navigation():
        page.click(selector)


def heading(page: Any) -> str:
    return page.locator("h1").inner_text().strip()


def on_path(page: Any, provider: Any, path: str) -> None:
    page.wait_for_url(re.compile("^" + re.escape(provider.url + path) + r"(\?.*)?$"))


def assert_fits_width(page: Any) -> None:
    """No horizontal scrolling at the page's width."""
    sizes = page.evaluate(
        "() => ({scroll: document.scrollingElement.scrollWidth, inner: window.innerWidth})"
    )
    assert sizes["scroll"] <= sizes["inner"], (page.url, sizes)


def phone_snap(page: Any, snap: Any, what: str) -> None:
    """The same page at a 375 px phone width (then back to the desktop size)."""
    desktop = page.viewport_size
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 812})
    try:
        assert page.evaluate("() => window.innerWidth") == PHONE_WIDTH
        assert_fits_width(page)
        snap(what + "-phone")
    finally:
        page.set_viewport_size(desktop)


def assert_error_next_to(page: Any, field: str, expected: str) -> None:
    """The field's message is shown right under the field itself (not at the top of the page)."""
    error = page.locator(f"#error-{field}")
    assert error.is_visible(), f"no message next to #{field}"
    assert expected in error.inner_text(), error.inner_text()
    follows = page.evaluate("field => document.getElementById(field).nextElementSibling?.id", field)
    assert follows == f"error-{field}", follows
    field_box = page.locator(f"#{field}").bounding_box()
    error_box = error.bounding_box()
    assert field_box and error_box
    assert 0 <= error_box["y"] - (field_box["y"] + field_box["height"]) < 40, (field_box, error_box)


def menu_sign_in(page: Any, provider: Any, email: str, snap: Any) -> None:
    """U1: the menu's own sign-in (visibly the menu's: its band), then the menu."""
    page.goto(provider.url + "/account/login")
    page.locator("#password-form").wait_for()
    snap("menu-sign-in")
    assert page.get_attribute("html", "lang") == "ja"
    band = page.locator("#account-band")
    assert band.is_visible() and MENU_JA in band.inner_text()
    assert heading(page) == "アカウント設定にログイン"
    # The menu's sign-in does not offer itself.
    assert page.locator("#account-menu").count() == 0
    submit_password(page, email, PASSWORD)
    on_path(page, provider, "/account")
    page.locator("#menu-items").wait_for()


def open_item(page: Any, provider: Any, item: str, path: str) -> None:
    click_and_wait(page, f"#item-{item}")
    on_path(page, provider, path)


def back_to_menu(page: Any, provider: Any) -> None:
    click_and_wait(page, "#back-to-menu")
    on_path(page, provider, "/account")
    assert heading(page) == MENU_JA


def contractor(provider: Any, plan: str) -> tuple[str, str, str]:
    """A contract (2FA off, route line+internet) and its contractor: (contract, user, email)."""
    contract_id = provider.new_contract(plan=plan, two_factor=False)
    user_id, email = provider.new_user(contract_id, role="contractor")
    return contract_id, user_id, email


def new_phone() -> tuple[str, str]:
    """A unique 090 number (as typed, and in E.164): the send limit is 5 per number and hour."""
    digits = f"{1 + secrets.randbelow(9)}{secrets.randbelow(10**7):07d}"
    return f"090-{digits[:4]}-{digits[4:]}", f"+8190{digits}"


def sms_code(provider: Any, to: str) -> str:
    """The 6-digit code of the newest SMS to ``to`` in the provider's outbox."""
    # The outbox gateway writes the SMS in the request that sends it; the page showing the
    # code form is that request's answer, so the SMS is there (no waiting).
    instance_dir = Path(provider.app.extensions["idp.settings"].instance_dir)
    for message in list_outbox(instance_dir):
        if message["to"] == to:
            found = re.search(r"\b(\d{6})\b", message["text"])
            assert found, message
            return found.group(1)
    raise AssertionError(f"no SMS to {to}")


def assert_japanese_page(page: Any) -> None:
    assert page.get_attribute("html", "lang") == "ja"
    assert JAPANESE.search(page.locator("h1").inner_text()), page.locator("h1").inner_text()


def enroll_phone(page: Any, provider: Any, shot: Any, remember: bool) -> None:
    """L4: the SMS enrollment page → phone number → code (→ remember) → recovery code page."""
    on_path(page, provider, "/login/2fa/enroll/sms")
    page.locator("#phone-form").wait_for()
    shot(page, "enroll-sms")
    assert_japanese_page(page)
    assert page.locator("h1").inner_text().strip() == "2段階認証の設定"
    assert page.locator("#sms-help").is_visible() and page.locator("#use-app").is_visible()
    assert_fits_width(page)

    typed, e164 = new_phone()
    page.fill("#phone", typed)
    click_and_wait(page, "#submit")
    on_path(page, provider, "/login/2fa/sms")
    page.locator("#code-form").wait_for()
    shot(page, "sms-code-sent")
    assert_japanese_page(page)
    masked = page.locator("#masked-phone").inner_text()
    assert e164[-4:] in masked and e164[3:-4] not in masked.replace("-", ""), masked
    assert_fits_width(page)

    page.fill("#code", sms_code(provider, e164))
    if remember:
        page.check("#remember")
    shot(page, "sms-code-entered")
    click_and_wait(page, "#submit")


def read_recovery_code(page: Any, provider: Any, shot: Any, what: str = "recovery-code") -> str:
    on_path(page, provider, "/login/2fa/recovery-code")
    page.locator("#saved-form").wait_for()
    shot(page, what)
    assert_japanese_page(page)
    code = page.locator("#recovery-code").inner_text().strip()
    assert RECOVERY_CODE.fullmatch(code), code
    assert page.locator("#recovery-code").is_visible()
    return code


def confirm_recovery_code(page: Any, shot: Any) -> None:
    page.check("#saved")
    shot(page, "recovery-code-saved-ticked")
    click_and_wait(page, "#submit")


def sign_out_at_frontend(page: Any, frontend: Any, shot: Any) -> None:
    # The navigation the click starts, not the page already shown: its URL matches the same
    # pattern, and waiting for the URL alone raced the logout's redirects (one run timed out).
    with page.expect_navigation(url=re.compile("^" + re.escape(frontend.url) + r"/(\?.*)?$")):
        page.click("#logout")
    page.locator("#signed-out").wait_for()
    shot(page, "frontend-signed-out")


def sign_in_again(page: Any, frontend: Any, provider: Any, email: str, shot: Any) -> None:
    """From the signed-out frontend: Sign in → the password page (the provider session ended)."""
    with page.expect_navigation(url=re.compile("^" + re.escape(provider.url) + r"/authorize\b")):
        page.click("#signin")
    page.locator("#password-form").wait_for()
    shot(page, "login-again")
    submit_password(page, email, PASSWORD)


def assert_two_factor_claims(page: Any, user_id: str, email: str, amr: list[str]) -> None:
    assert page.locator("#user-email").inner_text() == email
    assert claim(page, "sub") == user_id
    assert claim(page, "amr") == amr
    assert claim(page, "acr") == ACR_2FA


def add_virtual_authenticator(context: Any, page: Any) -> Any:
    """Chromium's virtual CTAP2 authenticator (CDP WebAuthn) for this page's target."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


def run_webauthn(page: Any, shot: Any, what: str) -> None:
    """Press #webauthn-start; webauthn.js runs the ceremony and posts the form.

    Fails with the page's #webauthn-error text (and a screenshot) when the browser refuses.
    """
    page.locator("#webauthn-form").wait_for()
    start = page.url
    page.click("#webauthn-start")
    error = page.locator("#webauthn-error")
    deadline = time.monotonic() + 10
    while page.url == start:
        try:
            refused = error.is_visible() and error.inner_text()
        except PlaywrightError:  # the page is navigating away: the form was posted
            refused = ""
        if refused:
            shot(page, what + "-refused")
            pytest.fail(f"WebAuthn refused on {start}: {refused!r}", pytrace=False)
        assert time.monotonic() < deadline, "the WebAuthn ceremony did not finish"
        page.wait_for_timeout(50)
    page.wait_for_load_state()


def invite(
    provider: Any, mailbox: Any, contract_id: str | None = None
) -> tuple[str, str, str, str]:
    """A contract (2FA off; or ``contract_id``) with a contractor, who invites a user; the
    registration link of the mail the user receives. Returns (user id, email, contractor's
    email, link)."""
    if contract_id is None:
        contract_id = provider.new_contract(two_factor=False)
        _owner_id, owner = provider.new_user(contract_id, role="contractor")
    else:
        owner = _contractor_email(provider, contract_id)
    email = f"inv-{uuid.uuid4().hex[:10]}@example.jp"
    with provider.app.app_context():
        invitation = invite_user(Actor.cli(), contract_id, email, INVITEE_NAME, "user")
        user_id = invitation.user_id
    mail = mailbox.wait_for(to=email, subject_contains="利用者登録")
    assert mail["Subject"] == INVITATION_SUBJECT
    body = mailbox.text_of(mail)
    assert f"{INVITEE_NAME} 様" in body and f"{LINK_DAYS}日間" in body and owner in body
    links = [u for u in mailbox.links_in(mail) if u.startswith(provider.url + "/links/")]
    assert len(links) == 1, mailbox.links_in(mail)
    return user_id, email, owner, links[0]


def _contractor_email(provider: Any, contract_id: str) -> str:
    from idp.models import User

    with provider.app.app_context():
        query = provider.db().session.query(User)
        return str(query.filter_by(contract_id=contract_id, role="contractor").one().email)


def fill_password(page: Any, password: str, confirmation: str) -> None:
    page.fill("#password", password)
    page.fill("#password_confirmation", confirmation)


def as_shot(snap: Any) -> Any:
    """The watched ``snap(what)`` in the ``shot(page, what)`` form the helpers above take."""
    return lambda _page, what: snap(what)


def frontend_sign_in(page: Any, frontend: Any, provider: Any, email: str, snap: Any) -> None:
    """From the storage frontend to the provider's login page, the password sent: the page
    after it is the second factor's (or the frontend, when nothing else is due)."""
    open_login_from_frontend(page, frontend, provider, as_shot(snap))
    snap("login")
    submit_password(page, email, PASSWORD)


def enrolled_user(
    provider: Any, kind: str, data: dict[str, Any], contract_id: str | None = None
) -> tuple[str, str, str]:
    """A user (of a new contract with 2FA on, or of ``contract_id``) whose enrollment was
    completed earlier (``kind`` with ``data``, and a recovery code): (user id, email, recovery
    code)."""
    from idp.models import User
    from idp.twofactor.factors import add_factor
    from idp.twofactor.factors import complete_enrollment
    from idp.twofactor.factors import issue_recovery_code

    contract_id = contract_id or provider.new_contract(two_factor=True)
    user_id, email = provider.new_user(contract_id)
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        add_factor(Actor.cli(), user, kind, data)
        code = issue_recovery_code(Actor.cli(), user)
        complete_enrollment(Actor.cli(), user)
    return user_id, email, code


class SmsUser(NamedTuple):
    """A user enrolled with SMS earlier: ids, the recovery code, the number typed and E.164."""

    user_id: str
    email: str
    recovery_code: str
    typed_phone: str
    e164: str


def sms_challenge(page: Any, frontend: Any, provider: Any, snap: Any) -> SmsUser:
    """L3: a user whose SMS enrollment (a new number) was completed earlier signs in with the
    password at the storage frontend; the page is now the provider's SMS challenge."""
    typed_phone, e164 = new_phone()
    user_id, email, recovery_code = enrolled_user(provider, "sms", {"phone": e164})
    frontend_sign_in(page, frontend, provider, email, snap)
    on_path(page, provider, "/login/2fa/sms")
    return SmsUser(user_id, email, recovery_code, typed_phone, e164)


@contextmanager
def served_frontend(
    provider: Any, name: str, trusted: bool = True, backchannel_logout: bool = False
) -> Iterator[Any]:
    """The demo storage frontend as a client of ``provider`` named ``name``, served until the
    end: the session's (tests/browser/conftest.py), one of a provider of a module's own, or a
    client that is not trusted; with ``backchannel_logout`` registered as ``idp demo``
    registers it, with its back-channel logout URI (X7)."""
    from idp.clients import add_client
    from idp.demo.frontend import create_frontend_app
    from tests.browser.conftest import Frontend
    from tests.realservices import free_port

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    client_id = f"frontend-{uuid.uuid4().hex[:8]}"
    with provider.app.app_context():
        _client, secret = add_client(
            Actor.cli(),
            name,
            [url + "/callback"],
            [url + "/"],
            client_id=client_id,
            trusted=trusted,
            backchannel_logout_uri=url + "/backchannel-logout" if backchannel_logout else None,
        )
    assert secret
    with served(create_frontend_app(provider.url, client_id, secret, url), port):
        yield Frontend(url, client_id)


@contextmanager
def served(app: Any, port: int) -> Iterator[None]:
    """A WSGI app on 127.0.0.1:``port`` in a thread, until the block ends."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


def watched_snap(page: Any, shot: Any) -> Any:
    """``snap`` for a second page of a test (every page of ``context_factory`` is watched from
    its first request, tests/browser/conftest.py; each screenshot checks it)."""

    def take(what: str) -> None:
        shot(page, what)

    return take
