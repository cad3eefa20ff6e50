"""Issue 13 "Operations": readiness names what is broken, Prometheus metrics after real flows
(sign-ins, refusals, locks, second factors, tokens, latency per URL rule, summed over
gunicorn's workers), and one request id in the response, the JSON lines and the access log."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

import pyotp
import pytest
import requests
from werkzeug.serving import make_server

from idp.log_lines import JsonFormatter
from tests.conftest import PASSWORD
from tests.conftest import build_provider
from tests.facebook_double import FacebookUser
from tests.helpers import Browser
from tests.helpers import RelyingParty
from tests.helpers import forms_in
from tests.helpers import link_of
from tests.helpers import redirect_params
from tests.observe_services import idp_serve
from tests.observe_services import metric_samples
from tests.observe_services import sample
from tests.realservices import RedisServer
from tests.test_brokered_login import facebook  # noqa: F401  (fixture)
from tests.test_brokered_login import facebook_user
from tests.test_brokered_login import node  # noqa: F401  (fixture)
from tests.test_brokered_login import through_facebook
from tests.test_client_credentials import service_client
from tests.test_line_authentication import SECRET as LINE_SECRET
from tests.test_line_authentication import contract_with_line
from tests.test_line_authentication import line_sign_in
from tests.test_line_authentication import new_line

HEX_ID = re.compile(r"[0-9a-f]{32}")


# ---------------------------------------------------------------------------------------------
# /readyz: database, store and keys, each broken for real


def _readyz(provider):
    response = provider.app.test_client().get("/readyz")
    return response.status_code, response.get_json()


def test_readyz_names_missing_signing_keys_and_recovers(services, tmp_path):
    provider = build_provider("sqlite+sqlstore", tmp_path, services)
    keys = tmp_path / "keys"
    assert _readyz(provider) == (
        200,
        {"status": "ok", "checks": {"database": "ok", "store": "ok", "keys": "ok"}},
    )
    hidden = tmp_path / "hidden"
    keys.rename(hidden)
    keys.mkdir(mode=0o700)
    status, body = _readyz(provider)
    assert status == 503
    assert body == {
        "status": "unavailable",
        "checks": {"database": "ok", "store": "ok", "keys": "unavailable"},
    }
    # A key file that cannot be parsed is no signing key either.
    (keys / "gen-20260101T000000-00000000.json").write_text("{not json")
    assert _readyz(provider)[1]["checks"]["keys"] == "unavailable"
    keys.rename(tmp_path / "broken")
    hidden.rename(keys)
    assert _readyz(provider)[0] == 200
    provider.close()


def test_readyz_names_a_stopped_store(services, tmp_path):
    redis = RedisServer().start()
    try:
        provider = build_provider("sqlite+redis", tmp_path, {**services, "redis": redis})
        assert _readyz(provider)[0] == 200
        redis.stop()
        status, body = _readyz(provider)
        assert status == 503
        assert body["checks"] == {"database": "ok", "store": "unavailable", "keys": "ok"}
        assert str(redis.port) not in json.dumps(body)  # which check, not where or why
        provider.close()
    finally:
        redis.stop()


def test_readyz_names_a_lost_database(services, tmp_path):
    provider = build_provider("postgresql+redis", tmp_path, services)
    assert _readyz(provider)[0] == 200
    url = provider.app.config["SQLALCHEMY_DATABASE_URI"]
    services["postgres"].drop_database(url.rsplit("/", 1)[1])
    status, body = _readyz(provider)
    assert status == 503
    assert body["checks"] == {"database": "unavailable", "store": "ok", "keys": "ok"}
    assert "idp_" not in json.dumps(body)
    provider.close()


# ---------------------------------------------------------------------------------------------
# Metrics after real flows (the provider fixture's process-wide registry; deltas)


@pytest.mark.covers("X3")
def test_X3_sign_ins_refusals_and_tokens_are_counted_by_method_reason_and_grant(provider, rp, user):
    _user_id, email = user
    before = metric_samples(provider.url)
    browser = Browser(provider.url)
    page = browser.get(rp.authorize_url())
    refused = browser.submit(page, "password-form", email=email, password="Not-" + PASSWORD)
    assert refused.status_code == 401
    tokens = rp.login_tokens(browser, email, PASSWORD)
    refreshed = rp.refresh(tokens["refresh_token"])
    assert refreshed["_status"] == 200
    reused = rp.refresh(tokens["refresh_token"])  # reuse of a rotated token: refused
    assert reused["_status"] == 400
    service = service_client(provider, provider.new_contract())
    assert service.token_request({"grant_type": "client_credentials"})["_status"] == 200
    after = metric_samples(provider.url)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    ok = {"method": "password", "route": "internet", "outcome": "ok"}
    assert delta("idp_sign_ins_total", **ok) == 1
    assert delta("idp_sign_ins_total", **{**ok, "outcome": "refused"}) == 1
    assert delta("idp_sign_in_refusals_total", method="password", reason="wrong_password") == 1
    assert delta("idp_tokens_issued_total", grant_type="authorization_code") == 1
    assert delta("idp_tokens_issued_total", grant_type="refresh_token") == 1
    assert delta("idp_tokens_issued_total", grant_type="client_credentials") == 1
    assert delta("idp_token_refusals_total", reason="refresh_reuse") == 1


@pytest.mark.covers("X3", "K1")
def test_X3_K1_a_lock_is_counted_with_its_reason(provider, rp, user):
    _user_id, email = user
    before = sample(
        metric_samples(provider.url), "idp_account_locks_total", reason="too_many_failures"
    )
    for _ in range(10):
        browser = Browser(provider.url)
        page = browser.get(rp.authorize_url())
        browser.submit(page, "password-form", email=email, password="Not-" + PASSWORD)
    after = sample(
        metric_samples(provider.url), "idp_account_locks_total", reason="too_many_failures"
    )
    assert after - before == 1


@pytest.mark.covers("X3", "L5")
def test_X3_L5_second_factor_checks_are_counted_by_kind_and_outcome(provider, rp):
    _user_id, email = provider.new_user(provider.new_contract(two_factor=True))
    before = metric_samples(provider.url)
    browser = Browser(provider.url)
    page = browser.submit(
        browser.get(rp.authorize_url()), "password-form", email=email, password=PASSWORD
    )
    page = browser.get(forms_in(page.text) and page.url.replace("/enroll/sms", "/enroll/app"))
    secret = re.search(r'id="secret">([^<]+)<', page.text).group(1)
    wrong = browser.submit(
        page, "code-form", code="000000" if pyotp.TOTP(secret).now() != "000000" else "111111"
    )
    assert wrong.status_code == 400
    shown = browser.submit(page, "code-form", code=pyotp.TOTP(secret).now())
    assert "code" in redirect_params(browser.submit(shown, "saved-form", saved="yes"))
    after = metric_samples(provider.url)

    def delta(**labels):
        name = "idp_second_factor_total"
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta(kind="totp", outcome="wrong_code") == 1
    assert delta(kind="totp", outcome="ok") == 1


@pytest.mark.covers("X3", "L7", "L8")
def test_X3_L7_L8_brokered_sign_ins_are_counted_under_their_method(node, facebook):  # noqa: F811
    before = metric_samples(node.url)
    person = FacebookUser("Hanako Yamada", f"h-{uuid.uuid4().hex[:8]}@example.jp")
    facebook_user(node, person)
    rp = node.new_client()
    signed_in, _ = through_facebook(node, facebook, person, Browser(node.url), rp)
    assert "code" in redirect_params(signed_in)
    stranger = FacebookUser("Stranger", "nobody@example.jp")
    refused, _ = through_facebook(node, facebook, stranger, Browser(node.url), rp)
    assert refused.status_code == 403
    browser = Browser(node.url)
    ask = browser.get(link_of(browser.get(rp.authorize_url()), "broker-ad"))
    unknown = browser.submit(ask, "connection-form", connection_id="adfs-" + "0" * 18)
    assert unknown.status_code == 400
    after = metric_samples(node.url)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    ok = {"method": "facebook", "route": "internet", "outcome": "ok"}
    assert delta("idp_sign_ins_total", **ok) == 1
    refusals = "idp_sign_in_refusals_total"
    assert delta(refusals, method="facebook", reason="identity_not_registered") == 1
    assert delta(refusals, method="ad", reason="unknown_connection_id") == 1
    assert delta("idp_sign_ins_total", method="password", route="internet", outcome="ok") == 0


@pytest.mark.covers("X3", "L9")
def test_X3_L9_line_sign_ins_are_counted_under_the_line_route(services, tmp_path):
    line_node = build_provider(
        "sqlite+sqlstore", tmp_path, services, line_gateway_secret=LINE_SECRET.decode()
    )
    server = _serve(line_node.app)
    try:
        before = metric_samples(line_node.url)
        contract_id, line = contract_with_line(line_node)
        _user_id, email = line_node.new_user(contract_id)
        rp = line_node.new_client()
        done = line_sign_in(line_node, Browser(line_node.url), rp, email, line)
        assert "code" in redirect_params(done)
        other = line_sign_in(line_node, Browser(line_node.url), rp, email, new_line("COP"))
        assert other.status_code == 403
        after = metric_samples(line_node.url)

        def delta(name, **labels):
            return sample(after, name, **labels) - sample(before, name, **labels)

        line_ok = {"method": "password", "route": "line", "outcome": "ok"}
        assert delta("idp_sign_ins_total", **line_ok) == 1
        assert delta("idp_sign_ins_total", **{**line_ok, "outcome": "refused"}) == 1
        reason = "line_not_registered"
        assert delta("idp_sign_in_refusals_total", method="password", reason=reason) == 1
    finally:
        server.shutdown()
        line_node.close()


@pytest.mark.covers("X3", "X4")
def test_X3_X4_latency_is_observed_per_url_rule_never_per_raw_path(provider):
    link_secret = "Lnk" + uuid.uuid4().hex
    stray = "nowhere-" + uuid.uuid4().hex
    count = "idp_http_request_duration_seconds_count"
    before = metric_samples(provider.url)
    link = requests.get(f"{provider.url}/links/{link_secret}", timeout=10)
    missing = requests.get(f"{provider.url}/{stray}", timeout=10)
    assert missing.status_code == 404
    text = requests.get(f"{provider.url}/metrics", timeout=10).text
    after = metric_samples(provider.url)
    link_labels = {
        "endpoint": "/links/<token>",
        "method": "GET",
        "status": f"{link.status_code // 100}xx",
    }
    assert sample(after, count, **link_labels) - sample(before, count, **link_labels) == 1
    bucket = {**link_labels, "le": "+Inf"}
    assert sample(after, "idp_http_request_duration_seconds_bucket", **bucket) >= 1
    unmatched = {"endpoint": "<unmatched>", "method": "GET", "status": "4xx"}
    assert sample(after, count, **unmatched) - sample(before, count, **unmatched) == 1
    assert link_secret not in text and stray not in text


# ---------------------------------------------------------------------------------------------
# Request ids: the trusted proxy's, or a new one


def _serve(app):
    server = make_server("127.0.0.1", app.config["TEST_PORT"], app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.mark.covers("X3")
def test_X3_request_id_from_the_trusted_proxy_is_kept_and_in_the_json_lines(services, tmp_path):
    provider = build_provider("sqlite+sqlstore", tmp_path, services, trusted_proxies=1)
    server = _serve(provider.app)
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    logging.getLogger("idp").addHandler(handler)
    try:
        rp = provider.new_client()
        _user_id, email = provider.new_user()
        browser = Browser(provider.url)
        page = browser.get(rp.authorize_url())
        form = forms_in(page.text)[0]
        given = "edge-" + uuid.uuid4().hex
        response = browser.session.post(
            urljoin(page.url, form.action),
            data={**form.fields, "email": email, "password": "Not-" + PASSWORD},
            headers={"X-Request-ID": given},
            timeout=10,
        )
        assert response.status_code == 401
        assert response.headers["X-Request-ID"] == given
        audit = [json.loads(line) for line in lines.getvalue().splitlines()]
        refusals = [e for e in audit if e.get("audit", {}).get("reason") == "wrong_password"]
        assert [e["request_id"] for e in refusals] == [given]
        # Not a plain bounded token: replaced by one of ours.
        for unsafe in ("a b", "x" * 129, "id;drop", "ü-id"):
            answer = requests.get(
                f"{provider.url}/healthz", headers={"X-Request-ID": unsafe}, timeout=10
            )
            assert HEX_ID.fullmatch(answer.headers["X-Request-ID"]), unsafe
    finally:
        logging.getLogger("idp").removeHandler(handler)
        server.shutdown()
        provider.close()


# ---------------------------------------------------------------------------------------------
# Under gunicorn (`idp serve`, two workers): summed metrics, request ids in both logs


@pytest.fixture(scope="module")
def served(services, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("observe-served")
    provider = build_provider("sqlite+sqlstore", tmp, services)
    with idp_serve(provider, tmp, workers=2, IDP_LOGIN_FAILURES_PER_IP="0") as (url, log_path):
        yield provider, url, log_path
    provider.close()


@pytest.mark.xdist_group("observe-serve")
@pytest.mark.covers("X3")
def test_X3_metrics_sum_every_gunicorn_worker(served):
    provider, url, _log_path = served
    count = "idp_http_request_duration_seconds_count"
    labels = {"endpoint": "/healthz", "method": "GET", "status": "2xx"}
    before = metric_samples(url)
    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(lambda _: requests.get(f"{url}/healthz", timeout=10).status_code, range(40))
        )
    assert statuses == [200] * 40
    rp: RelyingParty = provider.new_client()
    _user_id, email = provider.new_user()
    rp.login_tokens(Browser(url), email, PASSWORD)
    after = metric_samples(url)
    assert sample(after, count, **labels) - sample(before, count, **labels) == 40
    ok = {"method": "password", "route": "internet", "outcome": "ok"}
    assert (
        sample(after, "idp_sign_ins_total", **ok) - sample(before, "idp_sign_ins_total", **ok) == 1
    )


@pytest.mark.xdist_group("observe-serve")
@pytest.mark.covers("X3")
def test_X3_one_request_id_in_the_response_the_json_lines_and_the_access_log(served):
    provider, url, log_path = served
    rp: RelyingParty = provider.new_client()
    _user_id, email = provider.new_user()
    browser = Browser(url)
    page = browser.get(rp.authorize_url())
    form = forms_in(page.text)[0]
    chosen = "client-" + uuid.uuid4().hex
    response = browser.session.post(
        urljoin(page.url, form.action),
        data={**form.fields, "email": email, "password": "Not-" + PASSWORD},
        headers={"X-Request-ID": chosen},  # no trusted proxy: ignored
        timeout=10,
    )
    assert response.status_code == 401
    request_id = response.headers["X-Request-ID"]
    assert HEX_ID.fullmatch(request_id) and request_id != chosen
    text = ""
    for _ in range(100):  # gunicorn writes the access line after the response
        text = log_path.read_text(errors="replace")
        if f"rid={request_id}" in text:
            break
        time.sleep(0.05)
    # Every line gunicorn and the app wrote is one JSON object.
    entries = [json.loads(line) for line in text.splitlines() if line.strip()]
    mine = [entry for entry in entries if entry.get("request_id") == request_id]
    access = [e for e in mine if e["logger"] == "gunicorn.access"]
    assert len(access) == 1 and '"POST /login HTTP/' in access[0]["msg"]
    assert access[0]["msg"].endswith(f"rid={request_id}")
    assert [e["audit"]["reason"] for e in mine if "audit" in e] == ["wrong_password"]
    assert chosen not in text


# ---------------------------------------------------------------------------------------------
# The redaction's cheap checks (every log line) never skip what its expressions would match


def _spellings(name: str) -> set[str]:
    """Spellings ``re.IGNORECASE`` matches to ``name``: upper case, and the letters Unicode
    folds to s, k and i (ſ, K, ı, İ)."""
    return {
        name,
        name.upper(),
        name.replace("s", "\u017f"),
        name.replace("k", "\u212a"),
        name.replace("i", "\u0131"),
        name.upper().replace("I", "\u0130"),
    }


@pytest.mark.covers("X3", "X4")
def test_X3_X4_every_spelling_of_a_secret_name_is_redacted():
    from idp.redaction import REDACTED
    from idp.redaction import SECRET_NAMES
    from idp.redaction import redact

    secret = "S3cr3t-" + uuid.uuid4().hex
    for name in SECRET_NAMES:
        for spelling in _spellings(name):
            for line in (
                f'"GET /cb?x=1&{spelling}={secret} HTTP/1.1" 302',
                f"next=%2Fcb%3F{spelling}%3D{secret}",
                f"error: {{'{spelling}': '{secret}'}}",
            ):
                assert secret not in redact(line), line
    for scheme in ("Bearer", "BASIC", "BASİC", "bearer"):
        assert redact(f"Authorization: {scheme} {secret}") == f"Authorization: {scheme} {REDACTED}"
