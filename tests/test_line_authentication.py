"""L9, A1, A2, A4, X5, O1: line authentication through the signed gateway headers, and the
contract's access route — at sign-in, at refresh and at introspection."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import pytest
from werkzeug.serving import make_server

from idp.actor import Actor
from idp.contracts.contract import set_access_route
from idp.contracts.lines import add_line
from idp.contracts.lines import remove_line
from idp.errors import ProvisioningError
from idp.line.gateway import sign_line_headers
from tests.conftest import PASSWORD
from tests.conftest import build_provider
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.helpers import redirect_params
from tests.helpers import tx_of

SECRET = b"line-gateway-secret-for-tests"


@pytest.fixture(scope="module")
def node(services: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    provider = build_provider(
        "postgresql+redis",
        tmp_path_factory.mktemp("line"),
        services,
        line_gateway_secret=SECRET.decode(),
    )
    server = make_server("127.0.0.1", provider.app.config["TEST_PORT"], provider.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield provider
    server.shutdown()
    provider.close()


def new_line(prefix: str = "CAF") -> str:
    digits = 10 if prefix == "CAF" else 8
    return prefix + "".join(secrets.choice("0123456789ABCDEFGHJK") for _ in range(digits))


def line_sign_in(
    node: Any,
    browser: Browser,
    rp: Any,
    email: str,
    line: str | None,
    area: str = "east",
    secret: bytes = SECRET,
    path: str = "/line/login",
    skew: float = 0,
    **params: Any,
) -> Any:
    """The page as the internet gives it, then the password POSTed through the line gateway
    (``line`` None: no gateway, the internet)."""
    page = browser.get(rp.authorize_url(**params))
    form = next(f for f in forms_in(page.text) if f.id == "password-form")
    headers = {}
    if line is not None:
        headers = sign_line_headers(secret, line, area, "POST", path, time.time() + skew)
    target = "/line/login" if line is not None else "/login"
    response = browser.session.post(
        node.url + target,
        data={**form.fields, "email": email, "password": PASSWORD},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    return browser.follow(response)


def contract_with_line(node: Any, **values: Any) -> tuple[str, str]:
    contract_id = node.new_contract(**values)
    line = new_line()
    with node.app.app_context():
        add_line(Actor.cli(), contract_id, line.lower())
    return contract_id, line


def test_L9_registered_line_replaces_2fa_and_tokens_say_so(node):
    contract_id, line = contract_with_line(node, two_factor=True)
    user_id, email = node.new_user(contract_id)
    rp = node.new_client()
    done = line_sign_in(node, Browser(node.url), rp, email, line)
    tokens = rp.exchange(redirect_params(done)["code"])
    claims = rp.id_token_claims(tokens["id_token"])
    assert claims["sub"] == user_id
    assert claims["line_auth"] is True and claims["line_area"] == "east"
    assert claims["amr"] == ["pwd", "line"]
    assert rp.introspect(tokens["access_token"])["line_auth"] is True


def test_L9_unregistered_line_gets_the_line_error_page(node):
    contract_id, _line = contract_with_line(node)
    _user_id, email = node.new_user(contract_id)
    page = line_sign_in(node, Browser(node.url), node.new_client(), email, new_line("COP"))
    assert page.status_code == 403 and 'data-reason="line_not_registered"' in page.text
    assert "回線" in page.text


@pytest.mark.parametrize("forgery", ["unsigned", "other_secret", "stale", "future", "other_path"])
def test_X5_forged_or_stale_headers_are_internet_access(node, forgery):
    contract_id, line = contract_with_line(node, two_factor=True)
    _user_id, email = node.new_user(contract_id)
    rp = node.new_client()
    browser = Browser(node.url)
    page = browser.get(rp.authorize_url())
    form = next(f for f in forms_in(page.text) if f.id == "password-form")
    now = time.time()
    headers = {
        "unsigned": {"X-Line-Number": line, "X-Line-Area": "east"},
        "other_secret": sign_line_headers(
            b"not-the-secret", line, "east", "POST", "/line/login", now
        ),
        "stale": sign_line_headers(SECRET, line, "east", "POST", "/line/login", now - 120),
        "future": sign_line_headers(SECRET, line, "east", "POST", "/line/login", now + 120),
        # A valid signature for another path, replayed here.
        "other_path": sign_line_headers(SECRET, line, "east", "POST", "/line/login/ad", now),
    }[forgery]
    response = browser.follow(
        browser.session.post(
            f"{node.url}/line/login",
            data={**form.fields, "email": email, "password": PASSWORD},
            headers=headers,
            allow_redirects=False,
            timeout=10,
        )
    )
    # Treated as internet access: the contract's 2FA applies.
    assert "/login/2fa/" in response.url


def test_X5_valid_headers_on_an_internet_url_are_ignored(node):
    contract_id, line = contract_with_line(node, two_factor=True)
    _user_id, email = node.new_user(contract_id)
    browser = Browser(node.url)
    page = browser.get(node.new_client().authorize_url())
    form = next(f for f in forms_in(page.text) if f.id == "password-form")
    headers = sign_line_headers(SECRET, line, "east", "POST", "/login", time.time())
    response = browser.follow(
        browser.session.post(
            f"{node.url}/login",
            data={**form.fields, "email": email, "password": PASSWORD},
            headers=headers,
            allow_redirects=False,
            timeout=10,
        )
    )
    assert "/login/2fa/" in response.url


def test_A1_line_only_refuses_internet_and_admits_a_registered_line(node):
    contract_id, line = contract_with_line(node, access_route="line-only")
    _user_id, email = node.new_user(contract_id)
    rp = node.new_client()
    refused = line_sign_in(node, Browser(node.url), rp, email, None)
    assert refused.status_code == 403 and 'data-reason="route_line_only"' in refused.text
    admitted = line_sign_in(node, Browser(node.url), rp, email, line)
    assert "code" in redirect_params(admitted)


def test_A4_line_only_reads_two_factor_off(node):
    contract_id, line = contract_with_line(node, access_route="line-only", two_factor=True)
    _user_id, email = node.new_user(contract_id)
    done = line_sign_in(node, Browser(node.url), node.new_client(), email, line)
    assert "code" in redirect_params(done)


def test_A1_X5_switch_to_line_only_ends_internet_sessions_at_refresh(node):
    contract_id, line = contract_with_line(node)
    _user_id, email = node.new_user(contract_id)
    rp = node.new_client()
    internet = rp.exchange(
        redirect_params(line_sign_in(node, Browser(node.url), rp, email, None))["code"]
    )
    via_line = rp.exchange(
        redirect_params(line_sign_in(node, Browser(node.url), rp, email, line))["code"]
    )
    assert rp.refresh(internet["refresh_token"])["_status"] == 200
    with node.app.app_context():
        set_access_route(Actor.cli(), contract_id, "line-only")
    refused = rp.refresh(rp.refresh(via_line["refresh_token"])["refresh_token"])
    assert refused["_status"] == 200, "a line session survives the switch"
    assert rp.introspect(internet["access_token"]) == {"active": False}
    assert rp.refresh(internet["refresh_token"])["error"] == "invalid_grant"


def test_X5_removed_line_ends_its_sessions_at_refresh(node):
    contract_id, line = contract_with_line(node)
    _user_id, email = node.new_user(contract_id)
    rp = node.new_client()
    tokens = rp.exchange(
        redirect_params(line_sign_in(node, Browser(node.url), rp, email, line))["code"]
    )
    with node.app.app_context():
        remove_line(Actor.cli(), contract_id, line)
    assert rp.introspect(tokens["access_token"]) == {"active": False}
    assert rp.refresh(tokens["refresh_token"])["error"] == "invalid_grant"


def test_L9_west_line_asks_the_notification_once_and_do_not_notify_closes_it(node):
    contract_id, line = contract_with_line(node)
    other = new_line()
    with node.app.app_context():
        add_line(Actor.cli(), contract_id, other)
    _user_id, email = node.new_user(contract_id)
    rp = node.new_client()
    browser = Browser(node.url)
    notice = line_sign_in(node, browser, rp, email, line, area="west")
    assert 'id="notice-form"' in notice.text and line in notice.text
    undecided = browser.submit(notice, "notice-form")
    assert undecided.status_code == 400
    done = browser.submit(notice, "notice-form", choice="notify")
    assert "code" in redirect_params(done)
    # Remembered per line: no notice the second time.
    again = line_sign_in(node, Browser(node.url), rp, email, line, area="west")
    assert "code" in redirect_params(again)
    # "Do not notify" on another line: line authentication cannot be used from it.
    second = Browser(node.url)
    notice = line_sign_in(node, second, rp, email, other, area="west")
    closed = second.submit(notice, "notice-form", choice="do_not_notify")
    assert closed.status_code == 403 and 'data-reason="line_notification_declined"' in closed.text
    later = line_sign_in(node, Browser(node.url), rp, email, other, area="west")
    assert later.status_code == 403 and 'data-reason="line_notification_declined"' in later.text


def test_A2_line_numbers_are_validated_normalised_and_unique(node):
    contract_id = node.new_contract()
    with node.app.app_context():
        assert add_line(Actor.cli(), contract_id, " caf-1234567890 ").number == "CAF1234567890"
        assert add_line(Actor.cli(), contract_id, "COP1234ABCD").number == "COP1234ABCD"
        for bad in ("CAF123456789", "COP123456789", "XYZ1234567890", "CAF12345678901", ""):
            with pytest.raises(ProvisioningError):
                add_line(Actor.cli(), contract_id, bad)
        with pytest.raises(ProvisioningError, match="already"):
            add_line(Actor.cli(), contract_id, "CAF1234567890")
        # Unique within a contract, not across contracts.
        assert add_line(Actor.cli(), node.new_contract(), "CAF1234567890").number == "CAF1234567890"


def test_L9_login_page_links_the_line_login_url(node):
    browser = Browser(node.url)
    page = browser.get(node.new_client().authorize_url())
    assert f'href="{node.url}/line/login?tx=' in page.text


def test_L9_sign_in_through_the_development_line_gateway(node):
    """The whole path a person takes with `idp line-gateway`: the service's login page, then
    the line login URL through the gateway, which adds the signed headers."""
    from idp.line.dev_gateway import make_dev_gateway_app

    contract_id, line = contract_with_line(node, two_factor=True)
    user_id, email = node.new_user(contract_id)
    gateway = make_server(
        "127.0.0.1", 0, make_dev_gateway_app(line, "east", node.url, SECRET), threaded=True
    )
    threading.Thread(target=gateway.serve_forever, daemon=True).start()
    gateway_url = f"http://127.0.0.1:{gateway.server_port}"
    try:
        rp = node.new_client()
        browser = Browser(node.url)
        page = browser.get(rp.authorize_url())
        tx = tx_of(page)
        line_page = browser.session.get(f"{gateway_url}/line/login?tx={tx}", timeout=10)
        assert line_page.status_code == 200 and 'id="password-form"' in line_page.text
        form = next(f for f in forms_in(line_page.text) if f.id == "password-form")
        # A client cannot inject its own line headers: the gateway replaces them.
        response = browser.session.post(
            f"{gateway_url}/line/login",
            data={**form.fields, "email": email, "password": PASSWORD},
            headers={"X-Line-Number": "CAF0000000000"},
            allow_redirects=False,
            timeout=10,
        )
        # Nothing else is due here: the password POST finishes and redirects to the client.
        assert response.status_code == 302, response.text[:300]
        url, finish = f"{gateway_url}/line/login", response
        while finish.status_code in (302, 303) and not finish.headers["Location"].startswith(
            rp.redirect_uri
        ):
            url = urljoin(url, finish.headers["Location"])
            finish = browser.session.get(url, allow_redirects=False, timeout=10)
        claims = rp.id_token_claims(rp.exchange(redirect_params(finish)["code"])["id_token"])
        assert claims["sub"] == user_id and claims["line_auth"] is True
    finally:
        gateway.shutdown()


def test_A3_U1_contractor_recovers_through_the_account_menu_from_the_internet(node):
    """A contractor locked out by a wrong number: the account-menu login works from the
    internet even in line-only (then they switch the route and fix the numbers); nobody
    else's does, and the frontend still refuses them from the internet."""
    contract_id, _line = contract_with_line(node, access_route="line-only")
    _boss, boss_email = node.new_user(contract_id, role="contractor")
    _staff, staff_email = node.new_user(contract_id)

    boss = Browser(node.url)
    page = boss.get("/account/login")
    assert 'id="password-form"' in page.text
    menu = boss.submit(page, "password-form", email=boss_email, password=PASSWORD)
    assert menu.url == f"{node.url}/account" and boss_email in menu.text

    staff = Browser(node.url)
    page = staff.get("/account/login")
    refused = staff.submit(page, "password-form", email=staff_email, password=PASSWORD)
    assert refused.status_code == 403 and 'data-reason="route_line_only"' in refused.text

    # The account-menu session does not open the frontend from the internet.
    rp = node.new_client()
    silent = boss.session.get(rp.authorize_url(prompt="none"), allow_redirects=False, timeout=10)
    assert "error=login_required" in silent.headers["Location"]
    again = line_sign_in(node, boss, rp, boss_email, None)
    assert again.status_code == 403 and 'data-reason="route_line_only"' in again.text
    # After switching the route (the menu's page comes later; the rule is the CLI's today)
    # the contractor signs in from the internet again.
    with node.app.app_context():
        set_access_route(Actor.cli(), contract_id, "line+internet")
    assert "code" in redirect_params(line_sign_in(node, Browser(node.url), rp, boss_email, None))
