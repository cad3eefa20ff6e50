"""X3: the "what if" view against the live login. Generated users, contracts, routes, browser
states and relying-party requests; for each, the what-if answer is taken first, then the real
sign-in runs over HTTP (the password form or the Facebook double, the line gateway's signed
headers, a remembered-browser cookie, ``acr_values``), and what the browser ends at — the
refusal and its audited reason, the line notice, the second factor to enroll or to answer and
its audited reason, or the code at the relying party — must be the what-if's next step. After
the L9 notice the browser answers "notify" and the next step is compared too."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import time_machine
from hypothesis import Phase
from hypothesis import example
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from idp.actor import Actor
from idp.contracts.life import cancel_contract
from idp.contracts.lines import add_line
from idp.line.gateway import sign_line_headers
from idp.models import AuditEvent
from idp.models import LineNumber
from idp.models import RememberedBrowser
from idp.models import User
from idp.twofactor import totp
from idp.twofactor.factors import add_factor
from idp.twofactor.factors import complete_enrollment
from idp.twofactor.factors import seal
from idp.twofactor.remembered import COOKIE
from idp.twofactor.remembered import remember
from idp.users.identities import link_identity
from idp.users.invitations import invite_user
from idp.users.lockout import lock_account
from idp.users.what_if import WhatIfQuery
from idp.users.what_if import what_if_for_user
from idp.vocabulary import Target
from policies.assurance import ACR_TWO_FACTOR
from tests.conftest import PASSWORD
from tests.conftest import build_provider
from tests.facebook_double import FacebookDouble
from tests.facebook_double import FacebookUser
from tests.facebook_double import app_scoped_id
from tests.facebook_double import run_facebook_double
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.helpers import redirect_params
from tests.helpers import tx_of
from tests.test_admin_api import assert_problem
from tests.test_admin_api import token_for

SECRET = b"what-if-line-gateway-secret"
TIMEOUT = 10
#: Trials started this many days ago: running, ended (in the 15-day window), closed (C1).
TRIAL_AGE = {"trial": 10, "trial_ended": 31, "trial_closed": 46}


@pytest.fixture(scope="module")
def facebook() -> Iterator[FacebookDouble]:
    with run_facebook_double() as double:
        yield double


@pytest.fixture(scope="module")
def node(
    services: dict[str, Any], tmp_path_factory: pytest.TempPathFactory, facebook: FacebookDouble
) -> Iterator[Any]:
    app = facebook.add_app()
    provider = build_provider(
        "postgresql+redis",
        tmp_path_factory.mktemp("what-if"),
        services,
        line_gateway_secret=SECRET.decode(),
        brokers={
            "facebook": {
                "app_id": app.app_id,
                "app_secret": app.secret,
                "graph_version": "v21.0",
                "dialog_base": facebook.url,
                "graph_base": facebook.url,
            }
        },
    )
    provider.facebook_app = app
    server = make_server("127.0.0.1", provider.app.config["TEST_PORT"], provider.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield provider
    server.shutdown()
    provider.close()


@dataclass(frozen=True)
class Case:
    method: str  # password | facebook | invited (L10: not registered yet)
    role: str  # user | admin | contractor
    locked: bool
    enrolled: bool  # a TOTP factor with the enrollment completed (L4, L5)
    contract: str  # basic | cancelled | trial | trial_ended | trial_closed
    two_factor: bool
    line_only: bool
    #: internet | east | west | west_notified | west_declined | unregistered
    route: str
    browser: str  # new | remembered | remembered_old (40 days ago)
    request: str  # frontend | frontend_2fa (acr_values) | account (the menu's sign-in)


CASES = st.builds(
    Case,
    method=st.sampled_from(["password", "password", "password", "facebook", "invited"]),
    role=st.sampled_from(["user", "admin", "contractor"]),
    locked=st.sampled_from([False, False, False, True]),
    enrolled=st.booleans(),
    contract=st.sampled_from(["basic", "basic", "basic", "cancelled", *TRIAL_AGE]),
    two_factor=st.sampled_from([True, True, False]),
    line_only=st.sampled_from([False, False, True]),
    route=st.sampled_from(
        ["internet", "internet", "east", "west", "west_notified", "west_declined", "unregistered"]
    ),
    browser=st.sampled_from(["new", "remembered", "remembered_old"]),
    request=st.sampled_from(["frontend", "frontend", "frontend_2fa", "account"]),
)


def new_line() -> str:
    return "CAF" + uuid.uuid4().hex[:10].upper()


@dataclass
class World:
    """What a case set up: the user and how to reach them."""

    user_id: str
    contract_id: str
    email: str
    person: FacebookUser | None
    line: str | None
    area: str


def set_up(node: Any, case: Case) -> World:
    """The case's contract, line, user, factor and lock, made by the domain functions (a trial
    started in the past by a moved clock)."""
    values: dict[str, Any] = {
        "two_factor": case.two_factor,
        "access_route": "line-only" if case.line_only else "line+internet",
    }
    if case.contract in TRIAL_AGE:
        with time_machine.travel(datetime.now(UTC) - timedelta(days=TRIAL_AGE[case.contract])):
            contract_id = node.new_contract(plan="trial", **values)
    else:
        contract_id = node.new_contract(**values)
    line = None if case.route == "internet" else new_line()
    area = "west" if case.route.startswith("west") else "east"
    person = None
    with node.app.app_context():
        if case.route not in ("internet", "unregistered"):
            add_line(Actor.cli(), contract_id, line)
            choice = {"west_notified": "notify", "west_declined": "do_not_notify"}.get(case.route)
            if choice:
                # As the L9 notice page stores the line's choice.
                node.db().session.get(LineNumber, (contract_id, line)).notification = choice
                node.db().session.commit()
    if case.method == "password":
        user_id, email = node.new_user(contract_id, role=case.role)
    elif case.method == "invited":
        email = f"i-{uuid.uuid4().hex[:10]}@example.jp"
        role = "admin" if case.role == "admin" else "user"  # the contractor is never invited
        with node.app.app_context():
            user_id = invite_user(Actor.cli(), contract_id, email, "招待 者", role).user_id
    else:
        user_id, email = node.new_user(
            contract_id, password=None, method="facebook", role=case.role
        )
        person = FacebookUser("Taro Sato", email)
        with node.app.app_context():
            link_identity(
                Actor.cli(),
                user_id,
                "facebook",
                f"facebook:{node.facebook_app.app_id}",
                app_scoped_id(person, node.facebook_app.app_id),
            )
    with node.app.app_context():
        user = node.db().session.get(User, user_id)
        if case.enrolled:
            add_factor(Actor.cli(), user, "totp", {"secret": seal(totp.new_secret())})
            complete_enrollment(Actor.cli(), user)
        if case.locked:
            lock_account(Actor.system("login"), user)
        if case.contract == "cancelled":
            cancel_contract(Actor.cli(), contract_id)
    return World(user_id, contract_id, email, person, line, area)


def remembered_cookie(node: Any, world: World, days_ago: int) -> str:
    """The "remember this browser" cookie as the second-factor step sets it (X2)."""
    response = Response()
    moment = datetime.now(UTC) - timedelta(days=days_ago)
    with time_machine.travel(moment), node.app.test_request_context("/login/2fa"):
        user = node.db().session.get(User, world.user_id)
        remember(Actor.user(user.id, user.contract_id), user, response)
    cookie = response.headers["Set-Cookie"]
    return cookie.split(";", 1)[0].split("=", 1)[1]


def what_if_steps(node: Any, case: Case, world: World) -> list[tuple[str, str | None, str | None]]:
    query = WhatIfQuery(
        line=world.line,
        area=world.area,
        is_remembered=case.browser != "new",
        target=Target.ACCOUNT_MENU if case.request == "account" else Target.FRONTEND,
        requested_acr=(ACR_TWO_FACTOR,) if case.request == "frontend_2fa" else (),
    )
    with node.app.app_context():
        answer = what_if_for_user(world.contract_id, world.user_id, query)
    assert answer.steps[0].name == "identify"
    return [(s.name, s.reason, s.detail) for s in answer.steps[1:]]


def gateway(world: World, method: str, path: str) -> dict[str, str]:
    if world.line is None:
        return {}
    return sign_line_headers(SECRET, world.line, world.area, method, path, time.time())


def identify(node: Any, facebook: FacebookDouble, browser: Browser, page: Any, world: World) -> Any:
    """The identify step as a person takes it: the password form, or the Facebook button;
    through the line gateway when the case comes by a line."""
    prefix = "/line" if world.line else ""
    if world.person is None:
        form = next(f for f in forms_in(page.text) if f.id == "password-form")
        path = f"{prefix}/login"
        response = browser.session.post(
            node.url + path,
            data={**form.fields, "email": world.email, "password": PASSWORD},
            headers=gateway(world, "POST", path),
            allow_redirects=False,
            timeout=TIMEOUT,
        )
        return browser.follow(response)
    path = f"{prefix}/login/broker/facebook"
    upstream = browser.session.get(
        f"{node.url}{path}?tx={tx_of(page)}",
        headers=gateway(world, "GET", path),
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert upstream.status_code == 303, upstream.text[:300]
    facebook.next_user = world.person
    facebook.deny = False
    dialog = browser.session.get(upstream.headers["Location"], allow_redirects=False, timeout=10)
    return browser.get(dialog.headers["Location"])


def last_reason(node: Any, world: World) -> str | None:
    """The reason code of the user's last sign-in event in the audit log (X3)."""
    with node.app.app_context():
        row = (
            node.db()
            .session.query(AuditEvent)
            .filter(
                AuditEvent.user_id == world.user_id,
                AuditEvent.event.in_(("login", "second_factor")),
            )
            .order_by(AuditEvent.id.desc())
            .first()
        )
    return row.reason if row else None


def observed(node: Any, response: Any, world: World) -> tuple[str, str | None, str | None]:
    """What the live login did, as the browser (and the audit log) shows it."""
    path = urlsplit(response.url).path
    if response.is_redirect:
        params = redirect_params(response)
        if "code" in params:
            return ("done", None, None)
        return ("refused", last_reason(node, world), None)
    if response.status_code in (401, 403):
        return ("refused", last_reason(node, world), None)
    if path in ("/login/line-notice", "/line/notice"):
        return ("line_notice", "line_west_first_access", None)
    if path == "/login/2fa/enroll/sms":
        return ("second_factor", last_reason(node, world), "enroll")
    if path in ("/login/2fa/app", "/login/2fa/sms"):
        return ("second_factor", last_reason(node, world), "challenge")
    if path.startswith("/account") and response.status_code == 200:
        return ("done", None, None)
    raise AssertionError(f"unexpected end of the sign-in: {response.status_code} {response.url}")


def expected(step: tuple[str, str | None, str | None]) -> tuple[str, str | None, str | None]:
    """The what-if step as the browser sees it: ``upstream_mfa`` is refused (``acr_unmet``)
    by an upstream that reports no MFA, as Facebook does; ``done`` shows no reason."""
    name, reason, detail = step
    if name == "upstream_mfa":
        return ("refused", reason, None)
    if name == "done":
        return ("done", None, None)
    if name == "refused":
        return (name, reason, None)  # its detail explains; the browser sees the refusal
    return step


def run_case(node: Any, facebook: FacebookDouble, case: Case) -> None:
    world = set_up(node, case)
    browser = Browser(node.url)
    if case.browser != "new":
        days_ago = 40 if case.browser == "remembered_old" else 0
        browser.session.cookies.set(COOKIE, remembered_cookie(node, world, days_ago))
    steps = what_if_steps(node, case, world)
    if case.request == "account":
        page = browser.get("/account/login")
    else:
        rp = node.new_client()
        params = {"acr_values": ACR_TWO_FACTOR} if case.request == "frontend_2fa" else {}
        page = browser.get(rp.authorize_url(**params))
    assert page.status_code == 200, page.text[:300]
    response = identify(node, facebook, browser, page, world)
    live = observed(node, response, world)
    assert live == expected(steps[0]), (case, steps)
    if live[0] == "line_notice":
        # L9: the person notifies; the sign-in goes on to what the what-if said next.
        response = browser.submit(response, choice="notify")
        assert observed(node, response, world) == expected(steps[1]), (case, steps)


@pytest.mark.covers("X3", "L3", "L4", "L6", "L7", "L9", "A1", "A3", "A4", "K1", "C1", "C3")
@settings(
    max_examples=49,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
)
@example(Case("password", "user", False, True, "basic", True, False, "internet", "new", "frontend"))
@example(
    Case("password", "user", False, False, "basic", True, False, "internet", "new", "frontend")
)
@example(
    Case(
        "password", "user", False, True, "basic", True, False, "internet", "remembered", "frontend"
    )
)
@example(
    Case(
        "password",
        "user",
        False,
        True,
        "basic",
        True,
        False,
        "internet",
        "remembered_old",
        "frontend",
    )
)
@example(
    Case(
        "password",
        "user",
        False,
        True,
        "basic",
        True,
        False,
        "internet",
        "remembered",
        "frontend_2fa",
    )
)
@example(Case("password", "user", False, True, "basic", True, False, "west", "new", "frontend"))
@example(
    Case("password", "user", True, True, "trial_closed", True, False, "internet", "new", "frontend")
)
@example(Case("facebook", "user", True, False, "basic", True, False, "internet", "new", "frontend"))
@example(Case("invited", "user", False, False, "basic", True, False, "east", "new", "frontend"))
@example(
    Case("facebook", "user", False, False, "basic", True, False, "east", "new", "frontend_2fa")
)
@example(
    Case(
        "password",
        "contractor",
        False,
        True,
        "trial_ended",
        True,
        True,
        "internet",
        "new",
        "account",
    )
)
@given(case=CASES)
def test_X3_what_if_matches_the_live_login(node, facebook, case):
    run_case(node, facebook, case)


def api(node: Any, path: str, token: str | None, **params: str) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.get(
        f"{node.url}/api/admin/v1{path}", headers=headers, params=params, timeout=TIMEOUT
    )


@pytest.mark.covers("X3", "G7", "L3", "L4", "L9")
def test_X3_G7_what_if_through_the_admin_api(node):
    case = Case("password", "user", False, False, "basic", True, False, "west", "new", "frontend")
    world = set_up(node, case)
    token = token_for(node, world.contract_id, scope="admin:read")
    path = f"/users/{world.user_id}/what-if"
    internet = api(node, path, token)
    assert internet.status_code == 200, internet.text
    assert internet.json() == {
        "steps": [
            {"step": "identify", "rules": ["L2"], "reason": None, "detail": "password"},
            {
                "step": "second_factor",
                "rules": ["L3", "L4"],
                "reason": "2fa_new_browser",
                "detail": "enroll",
            },
            {"step": "done", "rules": ["O2"], "reason": None, "detail": None},
        ],
        "line": None,
        "line_registered": False,
        "remembered_browser": None,
    }
    # The line as an admin types it (A2): West Japan, first access.
    typed = f"{world.line[:3].lower()}-{world.line[3:]}"
    line = api(node, path, token, route="line", line=typed, area="west").json()
    assert line["line"] == world.line and line["line_registered"] is True
    assert [(s["step"], s["reason"]) for s in line["steps"][1:]] == [
        ("line_notice", "line_west_first_access"),
        ("done", "2fa_line"),
    ]
    unregistered = api(node, path, token, route="line", line="COP1234ABCD").json()
    assert unregistered["line_registered"] is False
    assert unregistered["steps"][1]["reason"] == "line_not_registered"
    # No remembered browser on record: one remembered now is assumed.
    assumed = api(node, path, token, browser="remembered").json()
    assert assumed["remembered_browser"]["id"] is None
    assert assumed["steps"][-1] == {
        "step": "done",
        "rules": ["L3", "X2"],
        "reason": "2fa_remembered",
        "detail": None,
    }


@pytest.mark.covers("X3", "G7", "L3", "X2")
def test_X3_what_if_reads_the_users_remembered_browsers(node):
    case = Case(
        "password", "user", False, True, "basic", True, False, "internet", "new", "frontend"
    )
    world = set_up(node, case)
    remembered_cookie(node, world, 40)
    remembered_cookie(node, world, 0)
    token = token_for(node, world.contract_id, scope="admin:read")
    path = f"/users/{world.user_id}/what-if"
    browsers = api(node, f"/users/{world.user_id}", token).json()["remembered_browsers"]
    [recent] = browsers  # the 40-day-old one no longer counts for the list (L3)
    last = api(node, path, token, browser="remembered").json()
    assert last["remembered_browser"]["id"] == recent["id"]
    assert last["steps"][-1]["reason"] == "2fa_remembered"
    with node.app.app_context():
        old = (
            node.db()
            .session.query(RememberedBrowser)
            .filter(
                RememberedBrowser.user_id == world.user_id, RememberedBrowser.id != recent["id"]
            )
            .one()
            .id
        )
    stale = api(node, path, token, browser="remembered", browser_id=old).json()
    assert stale["remembered_browser"]["id"] == old
    assert [(s["step"], s["reason"], s["detail"]) for s in stale["steps"][1:2]] == [
        ("second_factor", "2fa_browser_stale", "challenge")
    ]
    acr = api(node, path, token, browser="remembered", acr_values=f"{ACR_TWO_FACTOR} x").json()
    assert acr["steps"][1]["reason"] == "2fa_acr_requested"
    account = api(node, path, token, target="account").json()
    assert account["steps"][1]["step"] == "second_factor"


@pytest.mark.covers("X3", "G7", "G8")
def test_X3_G8_what_if_refuses_bad_input_and_other_contracts(node):
    case = Case("password", "user", False, False, "basic", True, False, "east", "new", "frontend")
    world = set_up(node, case)
    token = token_for(node, world.contract_id, scope="admin:read")
    path = f"/users/{world.user_id}/what-if"
    for params in (
        {"route": "line"},
        {"line": world.line},
        {"route": "line", "line": "CAF123"},
        {"route": "line", "line": world.line, "area": "north"},
        {"route": "satellite"},
        {"browser": "old"},
        {"browser_id": "abc"},
        {"target": "admin"},
        {"acr_values": "x" * 201},
        {"acr_values": "a\x00b"},
    ):
        assert_problem(api(node, path, token, **params), 400)
    assert_problem(api(node, path, token, browser="remembered", browser_id="no-such-browser"), 404)
    stranger = set_up(node, case)
    assert_problem(api(node, f"/users/{stranger.user_id}/what-if", token), 404, "not_found")
    assert_problem(api(node, path, None), 401)
    write_only = token_for(node, world.contract_id, scope="admin:write")
    assert_problem(api(node, path, write_only), 403, "insufficient_scope")


@pytest.mark.covers("X3", "G2", "L2", "K1", "L3")
def test_X3_recent_sign_ins_name_the_rule_behind_each_reason(node):
    case = Case(
        "password", "user", False, False, "basic", True, False, "internet", "new", "frontend"
    )
    world = set_up(node, case)
    rp = node.new_client()
    browser = Browser(node.url)
    page = browser.get(rp.authorize_url())
    browser.submit(page, "password-form", email=world.email, password="Wrong-password-9")
    page = browser.get(rp.authorize_url())
    assert (
        "/login/2fa/"
        in browser.submit(page, "password-form", email=world.email, password=PASSWORD).url
    )
    token = token_for(node, world.contract_id, scope="admin:read")
    events = api(node, f"/users/{world.user_id}", token).json()["recent_sign_ins"]
    rules = {(e["outcome"], e["reason"]): e["rules"] for e in events}
    assert rules[("refused", "wrong_password")] == ["L2", "K1"]
    assert rules[("info", "2fa_new_browser")] == ["L3"]
