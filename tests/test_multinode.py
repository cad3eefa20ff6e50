"""Two ``idp serve`` nodes behind nginx on one PostgreSQL and one Redis (DESIGN.md "Scale",
issue 13 "Several nodes"): a person's requests and a relying party's go to either node, and
every rule holds across them — a sign-in with 2FA, the K1 lockout counter, the L4 send limit,
one-time codes (L6 TOTP steps, O1 authorization codes), O1 refresh-token reuse detection, X7
sign-out everywhere; a node killed mid-flow loses nothing; nginx passes the request id and the
client's address as the node's proxy settings expect.

Requests are routed explicitly (tests/nodes.py: A, B, A, … or pinned) so that each test says
which node does what; the nginx tests go through nginx's round-robin.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from typing import Any
from urllib.parse import urljoin

import pyotp
import pytest
import requests

from idp.audit_chain.verify import verify
from idp.models import User
from tests.conftest import PASSWORD
from tests.helpers import RelyingParty
from tests.helpers import forms_in
from tests.helpers import redirect_params
from tests.node_routing import NodeBrowser
from tests.node_routing import NodeRelyingParty
from tests.nodes import FAILURES_PER_ADDRESS
from tests.nodes import Cluster
from tests.test_two_factor import new_phone

pytestmark = [pytest.mark.xdist_group("nodes")]

LOCKED = "ロックされています"


def alternated(served: list[str]) -> bool:
    """Both nodes served, and never the same one twice in a row."""
    return set(served) == {"A", "B"} and all(a != b for a, b in itertools.pairwise(served))


def two_factor_user(cluster: Cluster) -> tuple[str, str]:
    return cluster.provider.new_user(cluster.provider.new_contract(two_factor=True))


def after_password(browser: NodeBrowser, rp: NodeRelyingParty, email: str, **params: Any) -> Any:
    page = browser.get(rp.authorize_url(**params))
    assert 'id="password-form"' in page.text, page.text[:300]
    return browser.submit(page, "password-form", email=email, password=PASSWORD)


def user_row(cluster: Cluster, user_id: str) -> User:
    with cluster.provider.app.app_context():
        user = cluster.provider.db().session.get(User, user_id)
        cluster.provider.db().session.expunge(user)
        return user


def enroll_by_sms(cluster: Cluster, browser: NodeBrowser, page: Any) -> Any:
    """L4 enrollment: phone → code → recovery code → "I saved it" → back to the RP."""
    phone, e164 = new_phone()
    page = browser.submit(page, "phone-form", phone=phone)
    assert 'id="code-form"' in page.text, page.text[:300]
    page = browser.submit(page, "code-form", code=cluster.sms_code(e164))
    assert 'id="recovery-code"' in page.text, page.text[:300]
    return browser.submit(page, "saved-form", saved="yes"), e164


def silent(browser: NodeBrowser, rp: NodeRelyingParty) -> dict[str, str]:
    """``prompt=none``: a code if the browser's SSO session lives, else login_required."""
    response = browser.session.get(rp.authorize_url(prompt="none"), allow_redirects=False)
    return redirect_params(response)


# ---------------------------------------------------------------------------------------------
# A whole sign-in, request by request on alternating nodes.


@pytest.mark.covers("O1", "L3", "L4")
def test_O1_L4_whole_sign_in_with_sms_two_factor_alternates_between_nodes(cluster):
    user_id, email = two_factor_user(cluster)
    rp = cluster.rp()
    browser = cluster.browser()

    # First sign-in: password, then the L4 enrollment (the SMS is sent by one node, its code
    # typed on the other), the recovery code, back to the RP; the code exchanged, refreshed.
    page = after_password(browser, rp, email)
    assert "/login/2fa/enroll/sms" in page.url, page.text[:300]
    done, e164 = enroll_by_sms(cluster, browser, page)
    tokens = rp.exchange(redirect_params(done)["code"])
    assert tokens["_status"] == 200, tokens
    claims = rp.id_token_claims(tokens["id_token"], nonce=rp.nonce)
    assert claims["sub"] == user_id and claims["amr"] == ["pwd", "sms", "mfa"]
    refreshed = rp.refresh(tokens["refresh_token"])
    assert refreshed["_status"] == 200, refreshed
    assert alternated(browser.route.served), browser.route.served
    assert alternated(rp.route.served), rp.route.served
    assert len(browser.route.served) >= 8

    # Second sign-in in another browser: the code is sent by A and accepted by B.
    second = cluster.browser()
    page = after_password(second, rp, email)
    assert "/login/2fa/sms" in page.url, page.text[:300]
    sent = second.to(cluster.nodes[0]).submit(page, "send-form", action="send")
    assert sent.status_code == 200 and 'id="code-form"' in sent.text, sent.text[:300]
    done = second.to(cluster.nodes[1]).submit(sent, "code-form", code=cluster.sms_code(e164))
    callback = redirect_params(done)
    assert callback["state"] == rp.state and callback["iss"] == cluster.url
    tokens = rp.exchange(callback["code"])
    assert rp.id_token_claims(tokens["id_token"], nonce=rp.nonce)["amr"] == ["pwd", "sms", "mfa"]


@pytest.mark.covers("O1", "L3", "X2")
def test_L3_a_browser_remembered_by_one_node_skips_2fa_on_the_other(cluster):
    """L3's "remember this browser" set through one node counts on the other; the consent
    page of a client that is not first-party is shown by one node and answered on the other."""
    A, B = cluster.nodes
    _user_id, email = two_factor_user(cluster)
    rp = cluster.rp(trusted=False)
    browser = cluster.browser()
    page = after_password(browser, rp, email)
    phone, e164 = new_phone()
    page = browser.submit(page, "phone-form", phone=phone)
    before = len(browser.route.served)
    page = browser.submit(page, "code-form", code=cluster.sms_code(e164), remember="yes")
    remembered_by = browser.route.served[before]  # the POST (the node that set the cookie)
    consent = browser.submit(page, "saved-form", saved="yes")
    assert 'id="scopes"' in consent.text, consent.text[:300]
    callback = redirect_params(browser.submit(consent, decision="allow"))
    assert rp.exchange(callback["code"])["_status"] == 200
    assert alternated(browser.route.served), browser.route.served

    other = B if remembered_by == "A" else A
    consent = after_password(browser.to(other), rp, email, prompt="login")
    assert 'id="scopes"' in consent.text, consent.text[:300]  # no second factor asked
    callback = redirect_params(browser.submit(consent, decision="allow"))
    tokens = rp.exchange(callback["code"])
    assert rp.id_token_claims(tokens["id_token"], nonce=rp.nonce)["amr"] == ["pwd"]


# ---------------------------------------------------------------------------------------------
# Counters and one-time codes live in Redis and PostgreSQL, not in a node.


@pytest.mark.covers("K1")
def test_K1_ten_wrong_passwords_spread_over_both_nodes_lock(cluster, mailbox):
    user_id, email = cluster.provider.new_user()
    rp = cluster.rp()
    browser = cluster.browser()
    for attempt in range(1, 10):
        page = browser.get(rp.authorize_url())
        wrong = browser.submit(page, "password-form", email=email, password="Wrong-Password-1")
        assert wrong.status_code == 401 and "正しくありません" in wrong.text, attempt
    assert user_row(cluster, user_id).locked_at is None
    page = browser.get(rp.authorize_url())
    tenth = browser.submit(page, "password-form", email=email, password="Wrong-Password-1")
    assert LOCKED in tenth.text
    assert alternated(browser.route.served), browser.route.served
    # Locked on both nodes, even with the right password; the unlock mail went out once.
    for node in cluster.nodes:
        page = browser.to(node).get(rp.authorize_url())
        right = browser.submit(page, "password-form", email=email, password=PASSWORD)
        assert right.status_code == 401 and LOCKED in right.text, node.name
    mailbox.wait_for(to=email, subject_contains="アカウントロック")
    assert user_row(cluster, user_id).locked_at is not None


@pytest.mark.covers("L4")
def test_L4_sms_send_limit_holds_across_nodes(cluster):
    _user_id, email = two_factor_user(cluster)
    rp = cluster.rp()
    browser = cluster.browser()
    page = after_password(browser, rp, email)
    phone, _e164 = new_phone()
    page = browser.submit(page, "phone-form", phone=phone)  # the hour's first send
    statuses = [browser.submit(page, "send-form", action="send").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429], statuses  # the 6th send this hour
    assert alternated(browser.route.served), browser.route.served


@pytest.mark.covers("L5", "L6", "O1")
def test_L6_O1_one_time_codes_are_used_once_across_nodes(cluster):
    """A TOTP step accepted on B is refused on A; an authorization code issued by A is
    exchanged on B, and its replay on A is refused and revokes what it issued."""
    A, B = cluster.nodes
    _user_id, email = two_factor_user(cluster)
    rp = cluster.rp()
    browser = cluster.browser()
    page = after_password(browser, rp, email)
    page = browser.get(page.url.replace("/enroll/sms", "/enroll/app"))
    secret = re.search(r'id="secret">([^<]+)<', page.text).group(1)
    totp = pyotp.TOTP(secret)
    shown = browser.submit(page, "code-form", code=totp.now())
    done = browser.submit(shown, "saved-form", saved="yes")
    assert "code" in redirect_params(done)

    code = totp.at(time.time() + 30)  # the next step: not the enrollment's
    on_b = cluster.browser()
    page = after_password(on_b, rp, email)
    assert "/login/2fa/app" in page.url, page.text[:300]
    accepted = on_b.to(B).submit(page, "code-form", code=code)
    assert "code" in redirect_params(accepted)
    on_a = cluster.browser()
    page = after_password(on_a, rp, email)
    replay = on_a.to(A).submit(page, "code-form", code=code)
    assert replay.status_code == 400 and 'id="error"' in replay.text

    # The authorization code: the callback comes from A, the exchange goes to B.
    _other_id, other_email = cluster.provider.new_user()
    callback = rp.sign_in(cluster.browser().to(A), other_email, PASSWORD)
    tokens = rp.to(B).exchange(callback["code"])
    assert tokens["_status"] == 200, tokens
    again = rp.to(A).exchange(callback["code"])
    assert again["_status"] == 400 and again["error"] == "invalid_grant"
    assert rp.to(B).introspect(tokens["access_token"]) == {"active": False}
    assert rp.to(B).refresh(tokens["refresh_token"])["error"] == "invalid_grant"


@pytest.mark.covers("O1")
def test_O1_refresh_token_reuse_is_detected_across_nodes(cluster):
    A, B = cluster.nodes
    _user_id, email = cluster.provider.new_user()
    rp = cluster.rp()
    tokens = rp.login_tokens(cluster.browser(), email, PASSWORD)
    first = tokens["refresh_token"]
    second = rp.to(A).refresh(first)
    assert second["_status"] == 200, second
    third = rp.to(B).refresh(second["refresh_token"])
    assert third["_status"] == 200, third
    # The rotated-out token comes back at the other node: the whole family dies everywhere.
    replay = rp.to(B).refresh(first)
    assert replay["_status"] == 400 and replay["error"] == "invalid_grant"
    assert rp.to(A).refresh(third["refresh_token"])["error"] == "invalid_grant"
    assert rp.to(A).introspect(third["access_token"]) == {"active": False}


@pytest.mark.covers("X7", "X2", "U1")
def test_X7_sign_out_everywhere_on_A_ends_the_sessions_B_serves(cluster):
    A, B = cluster.nodes
    _user_id, email = cluster.provider.new_user()
    rp = cluster.rp()
    phone = cluster.browser()
    tokens = rp.login_tokens(phone, email, PASSWORD)
    assert "code" in silent(phone.to(B), rp)  # B sees the SSO session made on both

    laptop = cluster.browser().to(A)
    page = laptop.get("/account/login")
    menu = laptop.submit(page, "password-form", email=email, password=PASSWORD)
    assert menu.status_code == 200, menu.text[:300]
    page = laptop.get("/account/sessions")
    assert page.status_code == 200 and page.text.count('class="session"') == 2, page.text[:300]
    fields = next(f for f in forms_in(page.text) if f.id == "end-all-form").fields
    ended = laptop.session.post(page.url, data=fields, allow_redirects=False)
    assert ended.status_code == 303, ended.text[:300]

    # On B: the other browser's SSO cookie no longer signs in, its refresh token is refused.
    assert silent(phone.to(B), rp)["error"] == "login_required"
    page = phone.to(B).get(rp.authorize_url())
    assert 'id="password-form"' in page.text
    refused = rp.to(B).refresh(tokens["refresh_token"])
    assert refused["_status"] == 400 and refused["error"] == "invalid_grant"
    assert rp.to(B).introspect(tokens["access_token"]) == {"active": False}


@pytest.mark.covers("X8")
def test_X8_both_nodes_seal_one_contract_into_one_unbroken_chain(cluster):
    """Sign-ins on both nodes at once write one contract's audit events; each node's sealer
    chains them (under the chain head's row lock) into one chain that ``verify`` accepts."""
    contract_id = cluster.provider.new_contract()
    emails = [cluster.provider.new_user(contract_id)[1] for _ in range(6)]
    failures: list[BaseException] = []

    def sign_in(email: str) -> None:
        try:
            cluster.rp().login_tokens(cluster.browser(), email, PASSWORD)
        except BaseException as error:  # reported below, with the others
            failures.append(error)

    threads = [threading.Thread(target=sign_in, args=(email,)) for email in emails]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    with cluster.provider.app.app_context():
        deadline = time.monotonic() + 30
        report = verify(contract_id)
        while report.unsealed and time.monotonic() < deadline:
            time.sleep(0.1)  # the nodes' sealers run after their commits
            report = verify(contract_id)
        # A sealer may have chained the last events between that report's reading of the head
        # and its count of unsealed events (it then counted neither): read once more, now that
        # nothing is left to seal.
        report = verify(contract_id)
        assert report.unsealed == 0 and report.problems == [], report
        assert report.events >= len(emails) * 2  # each sign-in and its token, at least


# ---------------------------------------------------------------------------------------------
# A node dies.


@pytest.mark.covers("O1", "L4")
def test_O1_a_node_killed_mid_sign_in_loses_nothing(cluster):
    A, B = cluster.nodes
    _user_id, email = two_factor_user(cluster)
    rp = cluster.rp()
    browser = cluster.browser().to(A)
    page = after_password(browser, rp, email)
    phone, e164 = new_phone()
    page = browser.submit(page, "phone-form", phone=phone)  # A sends the SMS …
    assert 'id="code-form"' in page.text, page.text[:300]
    A.kill()  # … and dies (SIGKILL: master and worker, nothing flushed)
    try:
        with pytest.raises(requests.ConnectionError):
            browser.get("/healthz")
        browser.to(B)
        shown = browser.submit(page, "code-form", code=cluster.sms_code(e164))
        assert 'id="recovery-code"' in shown.text, shown.text[:300]
        done = browser.submit(shown, "saved-form", saved="yes")
        tokens = rp.to(B).exchange(redirect_params(done)["code"])
        assert tokens["_status"] == 200, tokens
        assert rp.id_token_claims(tokens["id_token"])["amr"] == ["pwd", "sms", "mfa"]

        # Through nginx while A is down: every request lands on B (a refused connection is
        # passed on, POSTs included, since A never received them).
        public = cluster.public_browser()
        other_id, other_email = cluster.provider.new_user()
        plain = RelyingParty(cluster.url, rp.client_id, rp.secret, rp.redirect_uri)
        assert (
            plain.id_token_claims(plain.login_tokens(public, other_email, PASSWORD)["id_token"])[
                "sub"
            ]
            == other_id
        )
    finally:
        cluster.restart(A)


# ---------------------------------------------------------------------------------------------
# nginx: round-robin, the request id, the client's address.


def _log_entries(cluster: Cluster) -> dict[str, str]:
    """nginx's access log: request id → the node that answered."""
    entries = {}
    for line in cluster.nginx.log_lines():
        match = re.search(r"rid=([0-9a-f]{32}) node=(\S+)", line)
        if match:
            entries[match.group(1)] = match.group(2)
    return entries


@pytest.mark.covers("O1")
def test_O1_a_sign_in_through_nginx_is_spread_over_both_nodes_with_its_request_ids(cluster):
    """Through nginx's round-robin (no sticky sessions) a whole sign-in succeeds with its
    requests answered by both nodes; each response carries nginx's request id — its own, not
    the one the client sent — which nginx's log ties to the node that answered, and which that
    node's own log names."""
    names = {node.address: node.name for node in cluster.nodes}
    _user_id, email = cluster.provider.new_user()
    client = cluster.rp()
    rp = RelyingParty(cluster.url, client.client_id, client.secret, client.redirect_uri)
    browser = cluster.public_browser()
    browser.session.headers["X-Request-ID"] = "chosen-by-the-client"
    ids: list[str] = []
    browser.session.hooks["response"].append(
        lambda response, *args, **kwargs: ids.append(response.headers.get("X-Request-ID", ""))
    )
    tokens = rp.login_tokens(browser, email, PASSWORD)
    assert rp.id_token_claims(tokens["id_token"], nonce=rp.nonce)["email"] == email
    assert len(ids) >= 2, ids  # the front channel: 3 requests, fewer if hops are cut
    # One id per response (requests would join a repeated header with ", "), all different.
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids), ids
    assert len(set(ids)) == len(ids)
    deadline = time.monotonic() + 10
    while not set(ids) <= set(_log_entries(cluster)) and time.monotonic() < deadline:
        time.sleep(0.05)  # nginx writes its log line after the response
    served = [names[_log_entries(cluster)[request_id]] for request_id in ids]
    assert set(served) == {"A", "B"}, (served, cluster.nginx.error_log.read_text()[-2000:])
    # Metrics are scraped per node, never through the round-robin (which would mix nodes).
    assert requests.get(cluster.url + "/metrics", timeout=10).status_code == 404
    assert requests.get(cluster.nodes[0].url + "/metrics", timeout=10).status_code == 200
    # The node took nginx's id as the request's own: its log lines of the request name it.
    nodes = {node.name: node for node in cluster.nodes}
    deadline = time.monotonic() + 10
    missing = list(zip(ids, served, strict=True))
    while missing and time.monotonic() < deadline:
        missing = [(rid, name) for rid, name in missing if rid not in nodes[name].log_text()]
        time.sleep(0.05)  # gunicorn logs the access line after the response
    assert missing == [], missing


@pytest.mark.covers("K1")
def test_K1_a_client_cannot_choose_its_address_through_nginx(cluster):
    """The per-address limit of wrong passwords counts the address nginx saw: a client that
    sends its own X-Forwarded-For (a new one each time) is still one address. (Rule-removal
    checked: with ``X-Forwarded-For $http_x_forwarded_for`` in deploy/nginx/idp.conf, this
    test fails.)"""
    rp = cluster.rp()
    session = requests.Session()
    page = session.get(rp.authorize_url(), timeout=10)
    assert 'id="password-form"' in page.text
    form = next(f for f in forms_in(page.text) if f.id == "password-form")
    statuses = []
    for attempt in range(FAILURES_PER_ADDRESS + 1):
        spoofed = f"203.0.113.{attempt + 1}"
        answer = session.post(
            urljoin(page.url, form.action),
            data={
                **form.fields,
                "email": f"nobody-{uuid.uuid4().hex[:8]}@example.jp",
                "password": "Wrong-Password-1",
            },
            headers={"X-Forwarded-For": spoofed},
            allow_redirects=False,
            timeout=10,
        )
        statuses.append(answer.status_code)
    assert statuses == [401] * FAILURES_PER_ADDRESS + [429], statuses


@pytest.mark.covers("O1")
def test_O1_no_node_opens_a_gunicorn_control_socket(cluster):
    """gunicorn ≥ 25 opens a management socket (add workers, reload, stop) at one path per
    user by default: two nodes on a host would take each other's, and we do not use it.
    ``idp serve`` turns it off; a node's log says so by not announcing one."""
    for node in cluster.nodes:
        log = node.log_text()
        assert "Booting worker" in log
        assert "Control socket" not in log, log[-2000:]


@pytest.mark.covers("O1")
def test_O1_each_worker_keeps_its_start_up_objects_out_of_garbage_collection(cluster):
    """A full collection over the app's ~180,000 start-up objects took 120–215 ms, a pause
    of every request in flight: ``idp serve``'s workers freeze them once the app is built,
    and say how many in their log. The GIL's switch interval is 1 ms (a request thread
    waits less for the background threads: idp/cli/servers.py)."""
    for node in cluster.nodes:
        started = re.findall(
            r"worker started: (\d+) start-up objects.*GIL switch interval ([\d.]+) ms",
            node.log_text(),
        )
        assert started, node.log_text()[-2000:]
        assert all(int(count) > 50_000 and float(ms) == 1.0 for count, ms in started), started
