"""Security rules that once passed the suite while removed (issue 9): each test here fails
when its rule is taken out (the report of that branch lists each check).

- L4, L5, L6, X1: no factor can be added to an account by a sign-in that has not passed
  its second factor yet (a stolen password must not enroll the thief's phone or key).
- L9, L3: a line registered to one contract neither admits a user of another contract nor
  skips their second factor.
- X3: ``/metrics`` answers only allowed networks or the bearer token.
- L7: an upstream that is not configured is a "not available" page, not a server error.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from idp.actor import Actor
from idp.contracts.lines import add_line
from idp.line.gateway import sign_line_headers
from idp.models import SecondFactor
from idp.models import User
from idp.sms import list_outbox
from idp.twofactor.passkeys import start_registration
from tests.conftest import PASSWORD
from tests.conftest import build_provider
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.helpers import redirect_params
from tests.helpers import tx_of
from tests.softauthn import SoftAuthenticator
from tests.test_two_factor import after_password
from tests.test_two_factor import enroll_by_sms
from tests.test_two_factor import new_phone

# --------------------------------------------------------------------------------------------
# 1. Factor-adding routes refuse a sign-in whose second factor is not done
# --------------------------------------------------------------------------------------------

#: Every route that stores a factor or finishes an enrollment (second_factor.py,
#: passkey_views.py). The app enrollment and the SMS enrollment add the first factor; the
#: recovery-code confirmation completes an enrollment; the passkey route adds a further one.
FACTOR_ROUTES = (
    "/login/2fa/enroll/sms",
    "/login/2fa/enroll/app",
    "/login/2fa/recovery-code",
    "/login/2fa/passkey/add",
)
#: Before the first factor of an enrollment is verified, these must refuse too (the two
#: enrollment routes are how that first factor is added, so they are open then).
ENROLLING_ROUTES = ("/login/2fa/recovery-code", "/login/2fa/passkey/add")


def _tx(url: str) -> str:
    return re.search(r"tx=([\w-]+)", url).group(1)  # type: ignore[union-attr]


def _factors(provider: Any, user_id: str) -> tuple[list[tuple[str, str]], Any]:
    with provider.app.app_context():
        db = provider.db()
        rows = db.session.query(SecondFactor).filter_by(user_id=user_id).all()
        enrolled_at = db.session.get(User, user_id).two_factor_enrolled_at
        return sorted((r.kind, r.id) for r in rows), enrolled_at


def _sms_to(provider: Any, e164: str) -> list[dict[str, Any]]:
    outbox = Path(provider.app.extensions["idp.settings"].instance_dir)
    return [m for m in list_outbox(outbox) if m["to"] == e164]


def _attack_fields(provider: Any, route: str, tx: str, user_id: str, email: str) -> dict[str, str]:
    """What a thief with the password would post to add their own factor, as if the form
    had been shown: their phone, a code, "saved", a real passkey answering real options."""
    if route != "/login/2fa/passkey/add":
        return {"phone": THIEF_PHONE[0], "code": "123456", "saved": "yes"}
    # The registration state the GET would have kept had it not been refused, so that the
    # POST's own guard is what refuses (not a missing ceremony).
    host = urlsplit(provider.url).hostname
    options, state = start_registration(
        rp_id=str(host),
        rp_name="WORKSDRIVE",
        user_id=user_id,
        user_name=email,
        user_display_name=email,
        existing=[],
    )
    provider.app.extensions["idp.store"].set_json(f"webauthn:{tx}", state, 300)
    credential = SoftAuthenticator(provider.url).create(options)
    return {"credential": json.dumps(credential), "name": "thief's key"}


THIEF_PHONE = new_phone()


def _assert_sent_back(browser: Browser, response: Any, due: str, route: str) -> None:
    """Refused = a redirect into the second-factor step that lands on the page that is due,
    never the route's own page, a page past the second factor or the relying party."""
    assert response.status_code == 303, (route, response.status_code, response.text[:300])
    location = response.headers["Location"]
    assert urlsplit(location).path in ("/login/2fa", due), (route, location)
    assert browser.get(location).url.startswith(f"{browser.provider_url}{due}?")


@pytest.mark.covers("L4", "L5", "L6", "X1", "O2")
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route", FACTOR_ROUTES)
def test_L6_X1_enrolled_user_cannot_add_a_factor_before_the_second_factor(
    provider, rp, route, method
):
    """An enrolled user's password alone (the challenge is due) adds no factor anywhere."""
    contract = provider.new_contract(two_factor=True)
    user_id, email = provider.new_user(contract)
    browser = Browser(provider.url)
    enroll_by_sms(provider, browser, after_password(browser, rp, email))
    before = _factors(provider, user_id)

    thief = Browser(provider.url)
    challenge = after_password(thief, rp, email)
    assert "/login/2fa/sms" in challenge.url
    tx = _tx(challenge.url)
    url = f"{provider.url}{route}?tx={tx}"
    if method == "GET":
        response = thief.session.get(url, allow_redirects=False, timeout=10)
    else:
        token = forms_in(challenge.text)[0].fields["csrf_token"]
        data = {
            "csrf_token": token,
            "tx": tx,
            **_attack_fields(provider, route, tx, user_id, email),
        }
        response = thief.session.post(url, data=data, allow_redirects=False, timeout=10)
    _assert_sent_back(thief, response, "/login/2fa/sms", route)
    assert _factors(provider, user_id) == before
    assert _sms_to(provider, THIEF_PHONE[1]) == []


@pytest.mark.covers("L4", "L6", "X1", "O2")
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route", ENROLLING_ROUTES)
@pytest.mark.parametrize("stage", ["phone_asked", "code_sent"])
def test_L4_X1_enrollment_adds_nothing_before_its_first_factor_is_verified(
    provider, rp, stage, route, method
):
    """During the first enrollment, the recovery code and a passkey come only after the
    SMS or app code was verified in this sign-in."""
    contract = provider.new_contract(two_factor=True)
    user_id, email = provider.new_user(contract)
    browser = Browser(provider.url)
    page = after_password(browser, rp, email)
    assert "/login/2fa/enroll/sms" in page.url
    if stage == "code_sent":
        page = browser.submit(page, "phone-form", phone=new_phone()[0])
        assert "/login/2fa/sms" in page.url
    tx = _tx(page.url)
    url = f"{provider.url}{route}?tx={tx}"
    if method == "GET":
        response = browser.session.get(url, allow_redirects=False, timeout=10)
    else:
        token = forms_in(page.text)[0].fields["csrf_token"]
        data = {
            "csrf_token": token,
            "tx": tx,
            **_attack_fields(provider, route, tx, user_id, email),
        }
        response = browser.session.post(url, data=data, allow_redirects=False, timeout=10)
    # Back to the enrollment (the SMS code form stays usable from its page).
    _assert_sent_back(browser, response, "/login/2fa/enroll/sms", route)
    assert _factors(provider, user_id) == ([], None)


# --------------------------------------------------------------------------------------------
# A provider with line authentication, /metrics limits and a trusted proxy
# --------------------------------------------------------------------------------------------

LINE_SECRET = "line-secret-for-regressions"
METRICS_TOKEN = "metrics-" + secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def node(services: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Any:
    provider = build_provider(
        "sqlite+sqlstore",
        tmp_path_factory.mktemp("regressions"),
        services,
        line_gateway_secret=LINE_SECRET,
        # Documentation networks (RFC 5737): neither the loopback the test runs on nor a
        # network it can reach.
        metrics_allow="192.0.2.0/24, 2001:db8::/32",
        metrics_token=METRICS_TOKEN,
        trusted_proxies=1,
    )
    server = make_server("127.0.0.1", provider.app.config["TEST_PORT"], provider.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield provider
    server.shutdown()
    provider.close()


def _new_line() -> str:
    return "CAF" + "".join(secrets.choice("0123456789ABCDEFGHJK") for _ in range(10))


def _sign_in_through_line(node: Any, email: str, line: str) -> Any:
    """The login page from the internet, then the password through the line gateway."""
    rp = node.new_client()
    browser = Browser(node.url)
    page = browser.get(rp.authorize_url())
    form = next(f for f in forms_in(page.text) if f.id == "password-form")
    headers = sign_line_headers(
        LINE_SECRET.encode(), line, "east", "POST", "/line/login", time.time()
    )
    response = browser.session.post(
        f"{node.url}/line/login",
        data={**form.fields, "email": email, "password": PASSWORD},
        headers=headers,
        allow_redirects=False,
        timeout=10,
    )
    return browser.follow(response)


# --------------------------------------------------------------------------------------------
# 2. A line of contract A neither admits a user of contract B nor skips their 2FA
# --------------------------------------------------------------------------------------------


@pytest.mark.covers("L9", "L3", "A1")
@pytest.mark.parametrize("access_route", ["line+internet", "line-only"])
def test_L9_L3_line_of_another_contract_is_refused_and_skips_no_2fa(node, access_route):
    contract_a = node.new_contract()
    line_of_a = _new_line()
    contract_b = node.new_contract(two_factor=True, access_route=access_route)
    with node.app.app_context():
        add_line(Actor.cli(), contract_a, line_of_a)
        add_line(Actor.cli(), contract_b, _new_line())
    _user_a, email_a = node.new_user(contract_a)
    _user_b, email_b = node.new_user(contract_b)

    refused = _sign_in_through_line(node, email_b, line_of_a)
    assert refused.status_code == 403, (refused.url, refused.status_code)
    assert 'data-reason="line_not_registered"' in refused.text and "回線" in refused.text
    assert "/login/2fa" not in refused.url and "code=" not in refused.headers.get("Location", "")
    # The same line admits its own contract's user (so the refusal is about the contract).
    admitted = _sign_in_through_line(node, email_a, line_of_a)
    assert "code" in redirect_params(admitted)


# --------------------------------------------------------------------------------------------
# 7. /metrics: allowed networks or the bearer token, else 404
# --------------------------------------------------------------------------------------------


def _metrics(node: Any, **headers: str) -> Any:
    return Browser(node.url).session.get(f"{node.url}/metrics", headers=headers, timeout=10)


@pytest.mark.covers("X3")
def test_X3_metrics_from_the_default_loopback_network(provider):
    response = _metrics(provider)
    assert response.status_code == 200 and "idp_audit_events_total" in response.text
    # Without trusted proxies a client's X-Forwarded-For is ignored: the connection counts.
    assert _metrics(provider, **{"X-Forwarded-For": "203.0.113.9"}).status_code == 200


@pytest.mark.covers("X3")
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 404),  # loopback is not in this node's list
        ({"Authorization": "Bearer wrong-token"}, 404),
        ({"Authorization": "Basic " + METRICS_TOKEN}, 404),
        ({"X-Forwarded-For": "203.0.113.9"}, 404),  # through the proxy, from elsewhere
        # The client's own (leftmost) entry is not the proxy's: it opens nothing.
        ({"X-Forwarded-For": "192.0.2.7, 203.0.113.9"}, 404),
        ({"Authorization": f"Bearer {METRICS_TOKEN}"}, 200),
        ({"X-Forwarded-For": "192.0.2.7"}, 200),  # through the proxy, from an allowed net
    ],
    ids=[
        "no_token",
        "wrong_token",
        "not_bearer",
        "other_network",
        "forged_forwarded_for",
        "token",
        "allowed_network",
    ],
)
def test_X3_metrics_only_for_allowed_networks_or_the_token(node, headers, status):
    response = _metrics(node, **headers)
    assert response.status_code == status, response.text[:200]
    assert ("idp_audit_events_total" in response.text) is (status == 200)


# --------------------------------------------------------------------------------------------
# 8. An upstream that is not configured is a "not available" page
# --------------------------------------------------------------------------------------------


@pytest.mark.covers("L7")
@pytest.mark.parametrize(
    ("name", "status"),
    [("google", 200), ("facebook", 200), ("microsoft", 200), ("daccount", 200), ("nope", 404)],
)
def test_L7_unconfigured_or_unknown_upstream_is_a_page_not_a_server_error(
    provider, rp, name, status
):
    browser = Browser(provider.url)
    page = browser.get(rp.authorize_url())
    response = browser.get(f"/login/broker/{name}?tx={tx_of(page)}")
    assert response.status_code == status
    assert 'id="not-available"' in response.text
    assert "このサービスでのログインは準備中です" in response.text
    english = browser.get(rp.authorize_url(ui_locales="en"))
    response = browser.get(f"/login/broker/{name}?tx={tx_of(english)}")
    assert response.status_code == status and "is not available yet" in response.text


@pytest.mark.covers("X3")
def test_X3_a_malformed_metrics_network_stops_start_up(tmp_path):
    from cryptography.fernet import Fernet

    from idp.config import ConfigError
    from idp.factory import create_app

    with pytest.raises(ConfigError, match="IDP_METRICS_ALLOW"):
        create_app(
            {
                "instance_dir": str(tmp_path),
                "keys_dir": str(tmp_path / "keys"),
                "secret_key": "x" * 32,
                "encryption_key": Fernet.generate_key().decode(),
                "metrics_allow": "10.0.0.0/33",
            }
        )


# --------------------------------------------------------------------------------------------
# 4. A mailed link used in parallel works exactly once
# --------------------------------------------------------------------------------------------

#: Parallel POSTs per link, and links per test: a race shows only when several requests pass
#: the link lookup before the first marks it used, so give it several chances.
LINK_RACERS = 8
LINK_ROUNDS = 3
USED = "このリンクはすでに使用されています"


def _mailed_link(provider: Any, mailbox: Any, purpose: str) -> str:
    """A fresh user's unlock link (locked by ten wrong passwords) or reset link."""
    _user_id, email = provider.new_user()
    if purpose == "unlock":
        rp = provider.new_client()
        browser = Browser(provider.url)
        for _ in range(10):
            page = browser.get(rp.authorize_url())
            browser.submit(page, "password-form", email=email, password="Wrong-Password-1")
        subject = "アカウントロック"
    else:
        browser = Browser(provider.url)
        browser.submit(browser.get("/password/forgot"), email=email)
        subject = "パスワードリセット"
    mail = mailbox.wait_for(to=email, subject_contains=subject)
    return next(u for u in mailbox.links_in(mail) if "/links/" in u)


def _race(browser: Browser, data: dict[str, str], link: str, barrier: Any, results: list) -> None:
    barrier.wait()
    results.append(browser.post(link, data))


@pytest.mark.covers("K1", "K2", "K3", "X4")
@pytest.mark.parametrize("purpose", ["unlock", "reset"])
def test_X4_mailed_link_used_in_parallel_works_exactly_once(provider, mailbox, purpose):
    fields = {"password": "Parallel-Reset-77", "password_confirmation": "Parallel-Reset-77"}
    for _round in range(LINK_ROUNDS):
        link = _mailed_link(provider, mailbox, purpose)
        # Each racer is its own browser that opened the link (its own valid CSRF token).
        racers = []
        for _ in range(LINK_RACERS):
            browser = Browser(provider.url)
            page = browser.get(link)
            assert page.status_code == 200
            racers.append((browser, {**forms_in(page.text)[0].fields, **fields}))
        barrier = threading.Barrier(LINK_RACERS)
        results: list[Any] = []

        threads = [
            threading.Thread(target=_race, args=(*racer, link, barrier, results))
            for racer in racers
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        done = [r for r in results if r.status_code == 200 and 'id="done"' in r.text]
        used = [r for r in results if r.status_code == 400 and USED in r.text]
        assert len(done) == 1, [(r.status_code, r.text[-300:]) for r in results]
        assert len(used) == LINK_RACERS - 1, [r.status_code for r in results]
        assert all('data-error="link_invalid"' in r.text for r in used)
