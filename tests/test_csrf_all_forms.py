"""CSRF on every form (DESIGN.md, Security defaults): every route of the app that accepts
POST is either a machine endpoint listed below with its reason, or a form with a scenario
here that reaches a state where the form is valid and then checks that a missing, forged or
another browser's token gets the CSRF refusal, and that the right token goes through.

The routes come from the app's URL map, so a new POST route fails this test until it has a
scenario (and CSRF) or an entry in :data:`MACHINE_ENDPOINTS`.
"""

from __future__ import annotations

import json
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import pyotp
import pytest
from cryptography.fernet import Fernet
from werkzeug.serving import make_server

from idp.actor import Actor
from idp.contracts.ad import add_ad_connection
from idp.contracts.lines import add_line
from idp.factory import create_app
from idp.line.gateway import sign_line_headers
from tests.conftest import PASSWORD
from tests.conftest import build_provider
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.helpers import tx_of
from tests.softauthn import SoftAuthenticator
from tests.test_two_factor import last_sms_code
from tests.test_two_factor import new_phone

#: POST routes that are not forms of a page: relying parties and resource servers call them
#: with client or bearer credentials (no cookie session to ride on), so CSRF does not apply.
MACHINE_ENDPOINTS = {
    # OIDC Core §3.1.2.1: the authorization request may come as a POST (an RP's auto-submitted
    # form); it only opens a transaction, whose own forms carry the token.
    "/authorize": "authorization request (OIDC Core 3.1.2.1)",
    "/token": "client-authenticated back channel (RFC 6749 §3.2)",
    "/revoke": "client-authenticated back channel (RFC 7009)",
    "/introspect": "client-authenticated back channel (RFC 7662)",
    "/userinfo": "bearer token in the form body (RFC 6750 §2.2, OIDC Core §5.3.1)",
    # G7: the admin API reads a bearer token from the Authorization header and no cookie.
    **{
        f"/api/admin/v1{path}": "admin API: JSON with a bearer token in the header (G7)"
        for path in (
            "/invitations",
            "/invitations/bulk",
            "/invitations/<invitation_id>/resend",
            "/users/<user_id>/change-link",
            "/users/<user_id>/disable",
            "/users/<user_id>/enable",
            "/users/<user_id>/reset-two-factor",
            "/users/<user_id>/sign-out",
            "/users/<user_id>/unlock",
        )
    },
    "/scim/v2/Users": "SCIM (RFC 7644), bearer token in the Authorization header only",
    "/scim/v2/<path:rest>": "SCIM's unknown endpoints (404), bearer token only",
}
LINE_SECRET = "csrf-line-secret"


def _post_routes() -> list[str]:
    """Every URL rule of the app that accepts POST (built once, at collection)."""
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(
            {
                "instance_dir": tmp,
                "keys_dir": f"{tmp}/keys",
                "secret_key": "collect-only",
                "encryption_key": Fernet.generate_key().decode(),
            }
        )
        return sorted({r.rule for r in app.url_map.iter_rules() if "POST" in (r.methods or ())})


@dataclass
class Form:
    """A browser on a valid form: where it posts, what it posts (its CSRF token included),
    and how the right answer looks."""

    browser: Browser
    url: str
    data: dict[str, str]
    accepted: Callable[[Any], bool]
    #: Files of a multipart form (an upload), sent with every attempt.
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def node(services: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    provider = build_provider(
        "sqlite+sqlstore",
        tmp_path_factory.mktemp("csrf"),
        services,
        line_gateway_secret=LINE_SECRET,
    )
    server = make_server("127.0.0.1", provider.app.config["TEST_PORT"], provider.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield provider
    server.shutdown()
    provider.close()


def _form(page: Any, form_id: str | None = None, **values: str) -> dict[str, str]:
    forms = forms_in(page.text)
    form = next(f for f in forms if f.id == form_id) if form_id else forms[0]
    return {**form.fields, **values}


def _redirect(response: Any) -> bool:
    return response.status_code in (302, 303)


def _login_page(node: Any, **client: Any) -> tuple[Browser, Any]:
    browser = Browser(node.url)
    return browser, browser.get(node.new_client(**client).authorize_url())


def _after_password(node: Any, email: str) -> tuple[Browser, Any]:
    browser, page = _login_page(node)
    return browser, browser.submit(page, "password-form", email=email, password=PASSWORD)


def _tx(url: str) -> str:
    return re.search(r"tx=([\w-]+)", url).group(1)  # type: ignore[union-attr]


def _two_factor_email(node: Any) -> str:
    return node.new_user(node.new_contract(two_factor=True))[1]


def _enrolled_by_app(node: Any) -> tuple[str, pyotp.TOTP, str]:
    """A user enrolled with an authenticator app: (email, its TOTP, the recovery code)."""
    email = _two_factor_email(node)
    browser, page = _after_password(node, email)
    page = browser.get(f"/login/2fa/enroll/app?tx={_tx(page.url)}")
    totp = pyotp.TOTP(re.search(r'id="secret">([^<]+)<', page.text).group(1))  # type: ignore[union-attr]
    shown = browser.submit(page, "code-form", code=totp.now())
    recovery = re.search(r'id="recovery-code">([^<]+)<', shown.text).group(1)  # type: ignore[union-attr]
    browser.submit(shown, "saved-form", saved="yes")
    return email, totp, recovery


def _sms_code_page(node: Any, email: str | None = None) -> tuple[Browser, Any, str]:
    browser, page = _after_password(node, email or _two_factor_email(node))
    phone, e164 = new_phone()
    return browser, browser.submit(page, "phone-form", phone=phone), e164


# --- one scenario per form route: each returns a browser on a valid form ----------------------


def login(node: Any) -> Form:
    _user_id, email = node.new_user()
    browser, page = _login_page(node)
    data = _form(page, "password-form", email=email, password=PASSWORD)
    return Form(browser, f"{node.url}/login", data, _redirect)


def line_login(node: Any) -> Form:
    contract = node.new_contract()
    line = "CAF" + time.strftime("%H%M%S") + "0ABC"
    with node.app.app_context():
        add_line(Actor.cli(), contract, line)
    _user_id, email = node.new_user(contract)
    browser, page = _login_page(node)
    data = _form(page, "password-form", email=email, password=PASSWORD)
    headers = sign_line_headers(
        LINE_SECRET.encode(), line, "east", "POST", "/line/login", time.time()
    )
    browser.session.headers.update(headers)
    return Form(browser, f"{node.url}/line/login", data, _redirect)


def line_notice(node: Any, path: str = "/login/line-notice") -> Form:
    contract = node.new_contract()
    line = "CAF" + "".join(str(time.time_ns())[-10:])
    with node.app.app_context():
        add_line(Actor.cli(), contract, line)
    _user_id, email = node.new_user(contract)
    browser, page = _login_page(node)
    headers = sign_line_headers(
        LINE_SECRET.encode(), line, "west", "POST", "/line/login", time.time()
    )
    notice = browser.follow(
        browser.session.post(
            f"{node.url}/line/login",
            data=_form(page, "password-form", email=email, password=PASSWORD),
            headers=headers,
            allow_redirects=False,
            timeout=10,
        )
    )
    assert 'id="notice-form"' in notice.text, notice.text[:300]
    data = _form(notice, "notice-form", choice="notify", tx=_tx(notice.url))
    return Form(browser, f"{node.url}{path}", data, _redirect)


def _ad_connection(node: Any) -> str:
    with node.app.app_context():
        connection = add_ad_connection(
            Actor.cli(),
            node.new_contract(),
            "ldap",
            # Nothing listens there: the right token reaches the directory and gets its error.
            {"url": "ldaps://127.0.0.1:1", "base_dn": "dc=example", "bind_dn": "cn=svc"},
            "service-password",
        )
        return connection.connection_id


def ad_connection_id(node: Any, prefix: str = "") -> Form:
    connection_id = _ad_connection(node)
    browser, page = _login_page(node)
    form = browser.get(f"{prefix}/login/ad?tx={tx_of(page)}")
    data = _form(form, connection_id=connection_id)
    return Form(browser, f"{node.url}{prefix}/login/ad", data, _redirect)


def ad_ldap_login(node: Any, prefix: str = "") -> Form:
    connection_id = _ad_connection(node)
    browser, page = _login_page(node)
    form = browser.get(f"{prefix}/login/ad/{connection_id}?tx={tx_of(page)}")
    data = _form(form, login="someone", password="their-password")
    # Past CSRF, the directory (unreachable here) answers: the upstream error page.
    return Form(
        browser,
        f"{node.url}{prefix}/login/ad/{connection_id}",
        data,
        lambda r: 'id="error"' in r.text or "upstream" in r.text,
    )


def consent(node: Any) -> Form:
    _user_id, email = node.new_user()
    browser, page = _login_page(node, trusted=False)
    asked = browser.submit(page, "password-form", email=email, password=PASSWORD)
    assert 'action="/login/consent"' in asked.text  # in answer to the password itself
    return Form(browser, f"{node.url}/login/consent", _form(asked, decision="allow"), _redirect)


def enroll_sms(node: Any) -> Form:
    browser, page = _after_password(node, _two_factor_email(node))
    data = _form(page, "phone-form", phone=new_phone()[0])
    return Form(browser, f"{node.url}/login/2fa/enroll/sms", data, _redirect)


def sms(node: Any) -> Form:
    browser, page, e164 = _sms_code_page(node)
    data = _form(page, "code-form", code=last_sms_code(node, e164))
    return Form(browser, f"{node.url}/login/2fa/sms", data, _redirect)


def enroll_app(node: Any) -> Form:
    browser, page = _after_password(node, _two_factor_email(node))
    page = browser.get(f"/login/2fa/enroll/app?tx={_tx(page.url)}")
    secret = re.search(r'id="secret">([^<]+)<', page.text).group(1)  # type: ignore[union-attr]
    data = _form(page, "code-form", code=pyotp.TOTP(secret).now())
    return Form(browser, f"{node.url}/login/2fa/enroll/app", data, _redirect)


def app_code(node: Any) -> Form:
    email, totp, _recovery = _enrolled_by_app(node)
    browser, page = _after_password(node, email)
    assert "/login/2fa/app" in page.url
    # The next 30 s step (within ±1): enrollment used the current one.
    data = _form(page, "code-form", code=totp.at(time.time() + 30))
    return Form(browser, f"{node.url}/login/2fa/app", data, _redirect)


def recovery(node: Any) -> Form:
    email, _totp, code = _enrolled_by_app(node)
    browser, page = _after_password(node, email)
    page = browser.get(f"/login/2fa/recovery?tx={_tx(page.url)}")
    data = _form(page, "code-form", code=code)
    return Form(browser, f"{node.url}/login/2fa/recovery", data, _redirect)


def recovery_code(node: Any) -> Form:
    browser, page, e164 = _sms_code_page(node)
    shown = browser.submit(page, "code-form", code=last_sms_code(node, e164))
    data = _form(shown, "saved-form", saved="yes")
    return Form(browser, f"{node.url}/login/2fa/recovery-code", data, _redirect)


def _options(page: Any) -> str:
    import html

    return html.unescape(re.search(r'data-options="([^"]+)"', page.text).group(1))  # type: ignore[union-attr]


def passkey_add(node: Any) -> Form:
    browser, page, e164 = _sms_code_page(node)
    shown = browser.submit(page, "code-form", code=last_sms_code(node, e164))
    add = browser.get(f"/login/2fa/passkey/add?tx={_tx(shown.url)}")
    created = SoftAuthenticator(node.url).create(_options(add))
    data = _form(add, "webauthn-form", credential=json.dumps(created), name="key")
    return Form(browser, f"{node.url}/login/2fa/passkey/add", data, _redirect)


def passkey(node: Any) -> Form:
    authenticator = SoftAuthenticator(node.url)
    email = _two_factor_email(node)
    browser, page, e164 = _sms_code_page(node, email)
    shown = browser.submit(page, "code-form", code=last_sms_code(node, e164))
    add = browser.get(f"/login/2fa/passkey/add?tx={_tx(shown.url)}")
    created = authenticator.create(_options(add))
    back = browser.submit(add, "webauthn-form", credential=json.dumps(created), name="key")
    browser.submit(back, "saved-form", saved="yes")
    fresh, challenge = _after_password(node, email)
    page = fresh.get(f"/login/2fa/passkey?tx={_tx(challenge.url)}")
    asserted = authenticator.get(_options(page))
    data = _form(page, "webauthn-form", credential=json.dumps(asserted))
    return Form(fresh, f"{node.url}/login/2fa/passkey", data, _redirect)


def forgot(node: Any) -> Form:
    _user_id, email = node.new_user()
    browser = Browser(node.url)
    data = _form(browser.get("/password/forgot"), email=email)
    return Form(browser, f"{node.url}/password/forgot", data, lambda r: r.status_code == 200)


def mailed_link(node: Any) -> Form:
    from idp.models import User
    from idp.users.links import create_link

    user_id, _email = node.new_user()
    with node.app.app_context():
        link = create_link(node.db().session.get(User, user_id), "reset")
    browser = Browser(node.url)
    new = "Csrf-Checked-2026"
    data = _form(browser.get(link), password=new, password_confirmation=new)
    return Form(browser, link, data, lambda r: r.status_code == 200 and 'id="done"' in r.text)


def logout(node: Any) -> Form:
    rp = node.new_client()
    _user_id, email = node.new_user()
    browser = Browser(node.url)
    rp.login_tokens(browser, email, PASSWORD)
    page = browser.get(f"/logout?client_id={rp.client_id}")
    assert 'id="confirm-logout"' in page.text
    data = _form(page, confirm="yes")
    return Form(browser, f"{node.url}/logout", data, lambda r: r.status_code in (200, 302, 303))


def password_change(node: Any) -> Form:
    _user_id, email = node.new_user()
    browser = Browser(node.url)
    page = browser.get("/account/login")
    browser.submit(page, "password-form", email=email, password=PASSWORD)
    new = "Csrf-Checked-2026"
    page = browser.get("/account/password")
    data = _form(
        page,
        "password-change-form",
        current_password=PASSWORD,
        password=new,
        password_confirmation=new,
    )
    url = f"{node.url}/account/password"
    return Form(browser, url, data, lambda r: r.status_code == 200 and 'id="done"' in r.text)


def sessions(node: Any) -> Form:
    _user_id, email = node.new_user()
    browser = Browser(node.url)
    browser.submit(browser.get("/account/login"), "password-form", email=email, password=PASSWORD)
    data = _form(browser.get("/account/sessions"), "end-all-form")
    url = f"{node.url}/account/sessions"
    return Form(
        browser,
        url,
        data,
        lambda r: r.status_code == 303 and r.headers["Location"].endswith("/account/login"),
    )


def _contractor_menu(node: Any) -> Browser:
    contract_id = node.new_contract(two_factor=False)
    _user_id, email = node.new_user(contract_id, role="contractor")
    browser = Browser(node.url)
    browser.submit(browser.get("/account/login"), "password-form", email=email, password=PASSWORD)
    return browser


def access_route(node: Any) -> Form:
    browser = _contractor_menu(node)
    page = browser.get("/account/access-route")
    confirm = browser.submit(page, "access-route-form", route="line-only")
    data = _form(confirm, "access-route-confirm-form")
    url = f"{node.url}/account/access-route"
    return Form(browser, url, data, lambda r: r.status_code == 200 and 'id="done"' in r.text)


def two_factor_setting(node: Any) -> Form:
    browser = _contractor_menu(node)
    page = browser.get("/account/two-factor")
    confirm = browser.submit(page, "two-factor-form", two_factor="on")
    data = _form(confirm, "two-factor-confirm-form", confirmed="yes")
    url = f"{node.url}/account/two-factor"
    return Form(browser, url, data, lambda r: r.status_code == 200 and 'id="done"' in r.text)


def ad_setting(node: Any) -> Form:
    browser = _contractor_menu(node)
    page = browser.get("/account/ad")
    values = {"issuer": "https://fs.example.co.jp/adfs", "client_id": "wd", "secret": "s3cret"}
    confirm = browser.submit(page, "adfs-form", **values)
    data = _form(confirm, "ad-confirm-form")
    url = f"{node.url}/account/ad"
    return Form(browser, url, data, lambda r: r.status_code == 200 and 'id="done"' in r.text)


def _contractor_menu_on(node: Any, plan: str) -> Browser:
    contract_id = node.new_contract(plan=plan, two_factor=False)
    _user_id, email = node.new_user(contract_id, role="contractor")
    browser = Browser(node.url)
    browser.submit(browser.get("/account/login"), "password-form", email=email, password=PASSWORD)
    return browser


def plan_change(node: Any) -> Form:
    browser = _contractor_menu_on(node, "trial")
    confirmation = browser.submit(browser.get("/account/plan"), "plan-form")
    data = _form(confirmation, "plan-confirm-form")
    url = f"{node.url}/account/plan"
    return Form(browser, url, data, lambda r: r.status_code == 200 and 'id="done"' in r.text)


def cancellation(node: Any) -> Form:
    browser = _contractor_menu_on(node, "basic")
    confirmation = browser.submit(browser.get("/account/cancellation"))
    name = re.search(r'id="contract-name">([^<]+)<', confirmation.text)
    assert name, confirmation.text[:300]
    data = _form(confirmation, "cancellation-form", contract_name=name.group(1))
    url = f"{node.url}/account/cancellation"
    return Form(browser, url, data, lambda r: r.status_code == 200 and 'id="done"' in r.text)


def contract_information(node: Any) -> Form:
    browser = _contractor_menu_on(node, "basic")
    page = browser.get("/account/contract")
    data = _form(page, "contract-information-form", company_name="CSRF K.K.")
    url = f"{node.url}/account/contract"
    return Form(browser, url, data, lambda r: r.status_code == 200 and 'id="saved"' in r.text)


def login_method(node: Any) -> Form:
    """M4: the basic contractor's confirmation of a change to a password (a Google user)."""
    contract_id = node.new_contract(two_factor=False)
    user_id, email = node.new_user(contract_id, role="contractor")
    browser = Browser(node.url)
    browser.submit(browser.get("/account/login"), "password-form", email=email, password=PASSWORD)
    with node.app.app_context():
        from idp.models import User

        # Now a Google user, so that a password is a new method (the session stays valid:
        # the method alone changed, not the account's state version).
        node.db().session.get(User, user_id).login_method = "google"
        node.db().session.commit()
    new = "Csrf-Checked-2026"
    page = browser.get("/account/login-method")
    confirm = browser.submit(page, "password-form", password=new, password_confirmation=new)
    data = _form(confirm, "confirm-form")
    url = f"{node.url}/account/login-method"
    return Form(browser, url, data, lambda r: r.status_code == 200 and 'id="done"' in r.text)


def email_change(node: Any) -> Form:
    browser = _contractor_menu_on(node, "basic")
    new = f"csrf-{time.time_ns()}@example.jp"
    page = browser.get("/account/email")
    data = _form(page, "email-change-form", new_email=new, new_email_confirmation=new)
    url = f"{node.url}/account/email"
    return Form(browser, url, data, lambda r: r.status_code == 200 and 'id="sent"' in r.text)


def email_change_link(node: Any) -> Form:
    """M7: the link page of a ``password`` user (new password and its confirmation)."""
    from idp.models import User
    from idp.users.links import create_link

    user_id, _email = node.new_user()
    new_email = f"csrf-{time.time_ns()}@example.jp"
    with node.app.app_context():
        user = node.db().session.get(User, user_id)
        link = create_link(user, "email_change", {"new_email": new_email})
    browser = Browser(node.url)
    new = "Csrf-Checked-2026"
    page = browser.get(link)
    data = _form(page, "email-change-confirm-form", password=new, password_confirmation=new)
    return Form(browser, link, data, lambda r: r.status_code == 200 and 'id="done"' in r.text)


def not_me_link(node: Any) -> Form:
    """X6: the "this was not me" confirmation."""
    from idp.models import User
    from idp.users.links import create_link

    user_id, email = node.new_user()
    data = {"kind": "email", "old_email": email, "new_email": email, "old_method": "password"}
    with node.app.app_context():
        link = create_link(node.db().session.get(User, user_id), "not_me", data)
    browser = Browser(node.url)
    form = _form(browser.get(link), "not-me-form")
    return Form(browser, link, form, lambda r: r.status_code == 200 and 'id="done"' in r.text)


def _console(node: Any) -> tuple[Browser, str]:
    """G1: a contractor signed in to the admin console (through the menu's sign-in)."""
    contract_id = node.new_contract(two_factor=False)
    _user_id, email = node.new_user(contract_id, role="contractor")
    browser = Browser(node.url)
    browser.submit(browser.get("/admin"), "password-form", email=email, password=PASSWORD)
    return browser, contract_id


def _console_form(node: Any, page_path: str, form_id: str, post_path: str, **values: str) -> Form:
    browser, _contract_id = _console(node)
    data = _form(browser.get(page_path), form_id, **values)
    return Form(browser, f"{node.url}{post_path}", data, _redirect)


def console_invite(node: Any) -> Form:
    email = f"csrf-{time.time_ns()}@example.jp"
    return _console_form(
        node,
        "/admin/invitations",
        "invite-form",
        "/admin/invitations",
        email=email,
        role="user",
        locale="ja",
    )


def console_upload_invitations(node: Any) -> Form:
    """G3: the invitations page's CSV upload (a multipart form with a file)."""
    browser, _contract_id = _console(node)
    data = _form(browser.get("/admin/invitations"), "upload-form", upload_locale="ja")
    csv = f"email,name,role\r\ncsrf-{time.time_ns()}@example.jp,,user\r\n".encode()
    url = f"{node.url}/admin/invitations/upload"
    return Form(browser, url, data, _redirect, {"file": ("users.csv", csv, "text/csv")})


def console_resend(node: Any) -> Form:
    from idp.users.invitations import invite_user

    browser, contract_id = _console(node)
    with node.app.app_context():
        invited = invite_user(Actor.cli(), contract_id, f"csrf-{time.time_ns()}@example.jp")
    data = _form(browser.get("/admin/invitations"), "resend-1")
    url = f"{node.url}/admin/invitations/{invited.user_id}/resend"
    return Form(browser, url, data, _redirect)


def console_revoke(node: Any) -> Form:
    from idp.users.invitations import invite_user

    browser, contract_id = _console(node)
    with node.app.app_context():
        invited = invite_user(Actor.cli(), contract_id, f"csrf-{time.time_ns()}@example.jp")
    path = f"/admin/invitations/{invited.user_id}/revoke"
    data = _form(browser.get(path), "confirm-form")
    return Form(browser, f"{node.url}{path}", data, _redirect)


def console_enable(node: Any) -> Form:
    from idp.models import User
    from idp.users.disable import disable_user

    browser, contract_id = _console(node)
    user_id, _email = node.new_user(contract_id)
    with node.app.app_context():
        disable_user(Actor.cli(), node.db().session.get(User, user_id))
    data = _form(browser.get(f"/admin/users/{user_id}"), "enable-form")
    return Form(browser, f"{node.url}/admin/users/{user_id}/enable", data, _redirect)


def console_add_lines(node: Any) -> Form:
    return _console_form(
        node, "/admin/lines", "add-lines-form", "/admin/lines", numbers="CAF0000000042"
    )


def console_remove_line(node: Any) -> Form:
    browser, contract_id = _console(node)
    with node.app.app_context():
        add_line(Actor.cli(), contract_id, "COP00000042")
    data = _form(browser.get("/admin/lines"), "remove-1")
    return Form(browser, f"{node.url}/admin/lines/remove", data, _redirect)


def console_route(node: Any) -> Form:
    browser, _contract_id = _console(node)
    confirm = browser.submit(browser.get("/admin/route"), "route-form", route="line+internet")
    data = _form(confirm, "route-confirm-form")
    return Form(browser, f"{node.url}/admin/route", data, _redirect)


def _console_user_form(
    node: Any, operation: str, form_id: str, locked: bool = False, query: str = ""
) -> Form:
    from idp.models import User
    from idp.users.lockout import lock_by_admin

    browser, contract_id = _console(node)
    user_id, _email = node.new_user(contract_id)
    if locked:
        with node.app.app_context():
            lock_by_admin(Actor.cli(), node.db().session.get(User, user_id))
    page_path = f"/admin/users/{user_id}" + (f"/{operation}" if operation != "unlock" else "")
    page_path += query
    data = _form(browser.get(page_path), form_id)
    url = f"{node.url}/admin/users/{user_id}/{operation}"
    return Form(browser, url, data, _redirect)


#: Form routes (URL rules) and the scenario that reaches a valid form on each.
SCENARIOS: dict[str, Callable[[Any], Form]] = {
    "/login": login,
    "/line/login": line_login,
    "/login/line-notice": line_notice,
    "/line/notice": lambda node: line_notice(node, "/line/notice"),
    "/login/ad": ad_connection_id,
    "/line/login/ad": lambda node: ad_connection_id(node, "/line"),
    "/login/ad/<connection_id>": ad_ldap_login,
    "/line/login/ad/<connection_id>": lambda node: ad_ldap_login(node, "/line"),
    "/login/consent": consent,
    "/login/2fa/enroll/sms": enroll_sms,
    "/login/2fa/sms": sms,
    "/login/2fa/enroll/app": enroll_app,
    "/login/2fa/app": app_code,
    "/login/2fa/recovery": recovery,
    "/login/2fa/recovery-code": recovery_code,
    "/login/2fa/passkey/add": passkey_add,
    "/login/2fa/passkey": passkey,
    "/password/forgot": forgot,
    "/links/<token>": mailed_link,
    "/logout": logout,
    "/account/password": password_change,
    "/account/sessions": sessions,
    "/account/access-route": access_route,
    "/account/two-factor": two_factor_setting,
    "/account/ad": ad_setting,
    "/account/plan": plan_change,
    "/account/cancellation": cancellation,
    "/account/contract": contract_information,
    "/account/login-method": login_method,
    "/account/email": email_change,
    "/admin/invitations": console_invite,
    "/admin/invitations/<user_id>/resend": console_resend,
    "/admin/invitations/upload": console_upload_invitations,
    "/admin/invitations/<user_id>/revoke": console_revoke,
    "/admin/lines": console_add_lines,
    "/admin/lines/remove": console_remove_line,
    "/admin/route": console_route,
    "/admin/users/<user_id>/delete": lambda node: _console_user_form(
        node, "delete", "confirm-form"
    ),
    "/admin/users/<user_id>/email": lambda node: _console_user_form(
        node, "email", "email-change-form"
    ),
    "/admin/users/<user_id>/sign-out": lambda node: _console_user_form(
        node, "sign-out", "confirm-form"
    ),
    "/admin/users/<user_id>/unlock": lambda node: _console_user_form(
        node, "unlock", "unlock-form", locked=True
    ),
    "/admin/users/<user_id>/reset-two-factor": lambda node: _console_user_form(
        node, "reset-two-factor", "confirm-form"
    ),
    "/admin/users/<user_id>/role": lambda node: _console_user_form(
        node, "role", "confirm-form", query="?admin=yes"
    ),
    "/admin/users/<user_id>/disable": lambda node: _console_user_form(
        node, "disable", "confirm-form"
    ),
    "/admin/users/<user_id>/enable": console_enable,
}
#: Link purposes whose confirm page holds a form of its own (one URL rule, /links/<token>).
LINK_SCENARIOS: dict[str, Callable[[Any], Form]] = {
    "email_change": email_change_link,
    "not_me": not_me_link,
}


def _csrf_refused(response: Any) -> bool:
    return response.status_code == 400 and 'data-error="csrf"' in response.text


def _post(form: Form, data: dict[str, str]) -> Any:
    return form.browser.session.post(
        form.url, data=data, files=form.files or None, allow_redirects=False, timeout=10
    )


@pytest.mark.covers("O2", "X4")
@pytest.mark.parametrize("rule", [r for r in _post_routes() if r not in MACHINE_ENDPOINTS])
def test_every_post_form_refuses_a_missing_or_wrong_csrf_token(node, rule):
    scenario = SCENARIOS.get(rule)
    if scenario is None:
        pytest.fail(
            f"POST route {rule} has no CSRF scenario: add one to SCENARIOS (a form) or an "
            "entry with its reason to MACHINE_ENDPOINTS (not a form)"
        )
    _check_csrf(node, rule, scenario(node))


@pytest.mark.covers("O2", "X4", "M7", "X6")
@pytest.mark.parametrize("purpose", sorted(LINK_SCENARIOS))
def test_each_link_form_refuses_a_missing_or_wrong_csrf_token(node, purpose):
    _check_csrf(node, f"/links/<token> ({purpose})", LINK_SCENARIOS[purpose](node))


def _check_csrf(node: Any, rule: str, form: Form) -> None:
    assert form.data.get("csrf_token"), f"the form of {rule} carries no CSRF token"
    other = Browser(node.url)
    others_token = _form(other.get("/password/forgot"))["csrf_token"]
    without = {k: v for k, v in form.data.items() if k != "csrf_token"}
    for name, data in (
        ("missing", without),
        ("forged", {**without, "csrf_token": "forged." + form.data["csrf_token"][7:]}),
        ("another browser's", {**without, "csrf_token": others_token}),
    ):
        refused = _post(form, data)
        assert _csrf_refused(refused), (rule, name, refused.status_code, refused.text[-400:])
        # The refusal is a page in the user's language that says what to do.
        assert "フォームの有効期限が切れました" in refused.text, rule
    # The same form with its own token goes through: the token was the only thing wrong.
    accepted = _post(form, form.data)
    assert not _csrf_refused(accepted) and form.accepted(accepted), (
        rule,
        accepted.status_code,
        accepted.text[-400:],
    )
