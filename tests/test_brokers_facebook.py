"""L7 (federated login) through Facebook, and M5's Facebook rebind rule: the broker against
the local Facebook double (tests/facebook_double.py), over real HTTP."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import pytest
import requests

from brokers.base import REASONS
from brokers.base import BrokeredIdentity
from brokers.base import BrokerError
from brokers.base import UpstreamRequest
from brokers.facebook import FacebookBroker
from brokers.facebook import compute_appsecret_proof
from tests.facebook_double import INVALID_PROOF
from tests.facebook_double import FacebookApp
from tests.facebook_double import FacebookDouble
from tests.facebook_double import FacebookUser
from tests.facebook_double import app_scoped_id
from tests.facebook_double import run_facebook_double

REDIRECT_URI = "https://idp.example/login/broker/facebook/callback"
VERSION = "v21.0"


@pytest.fixture()
def double() -> Iterator[FacebookDouble]:
    with run_facebook_double() as running:
        yield running


@pytest.fixture()
def app(double: FacebookDouble) -> FacebookApp:
    return double.add_app()


@pytest.fixture()
def person(double: FacebookDouble) -> FacebookUser:
    """Signed in to Facebook in the browser; the dialog approves as them."""
    double.next_user = FacebookUser("Hanako Yamada", "hanako@example.jp")
    return double.next_user


def make_broker(double: FacebookDouble, app: FacebookApp, **settings: Any) -> FacebookBroker:
    return FacebookBroker.from_config(
        {
            "app_id": app.app_id,
            "app_secret": app.secret,
            "graph_version": VERSION,
            "dialog_base": double.url,
            "graph_base": double.url,
            **settings,
        }
    )


@pytest.fixture()
def broker(double: FacebookDouble, app: FacebookApp) -> FacebookBroker:
    return make_broker(double, app)


def visit_dialog(
    broker: FacebookBroker, request: UpstreamRequest | None = None
) -> tuple[dict[str, str], dict[str, Any]]:
    """Start, follow the browser to the dialog, and read the redirect back to us."""
    url, kept = broker.start(request or UpstreamRequest(REDIRECT_URI))
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return dict(parse_qsl(urlsplit(location).query)), kept


def sign_in(broker: FacebookBroker, request: UpstreamRequest | None = None) -> BrokeredIdentity:
    callback, kept = visit_dialog(broker, request)
    return broker.finish(callback, kept)


def failure(broker: FacebookBroker, callback: dict[str, str], kept: dict[str, Any]) -> str:
    with pytest.raises(BrokerError) as caught:
        broker.finish(callback, kept)
    assert caught.value.reason in REASONS
    return caught.value.reason


@pytest.mark.covers("L7")
def test_L7_facebook_sign_in_returns_the_app_scoped_identity(
    broker: FacebookBroker, app: FacebookApp, person: FacebookUser
) -> None:
    identity = sign_in(broker)
    assert identity == BrokeredIdentity(
        provider="facebook",
        issuer=f"facebook:{app.app_id}",
        subject=app_scoped_id(person, app.app_id),
        email="hanako@example.jp",
        email_verified=False,  # Facebook has no verified flag
        upstream_amr=(),  # no MFA signal: "federated, method unknown"
        upstream_acr=None,
        display_name="Hanako Yamada",
    )


@pytest.mark.covers("L7")
def test_L7_facebook_sign_in_without_the_email_grant(
    broker: FacebookBroker, double: FacebookDouble, app: FacebookApp
) -> None:
    double.next_user = FacebookUser("Taro", "taro@example.jp", grants_email=False)
    identity = sign_in(broker)
    assert identity.email is None
    assert identity.subject == app_scoped_id(double.next_user, app.app_id)
    assert identity.display_name == "Taro"


@pytest.mark.covers("L7")
def test_L7_facebook_dialog_url_and_kept_state(broker: FacebookBroker, app: FacebookApp) -> None:
    url, kept = broker.start(UpstreamRequest(REDIRECT_URI, select_account=True, login_hint="x"))
    parts = urlsplit(url)
    assert parts.path == f"/{VERSION}/dialog/oauth"
    assert "scope=email,public_profile" in parts.query  # comma-separated, as Facebook wants
    assert parse_qs(parts.query) == {
        "client_id": [app.app_id],
        "redirect_uri": [REDIRECT_URI],
        "state": [kept["state"]],
        "response_type": ["code"],
        "scope": ["email,public_profile"],
    }
    assert kept == {"state": kept["state"], "redirect_uri": REDIRECT_URI}
    assert len(kept["state"]) >= 43
    assert broker.start(UpstreamRequest(REDIRECT_URI))[1]["state"] != kept["state"]


@pytest.mark.covers("L7")
def test_L7_facebook_force_login_asks_to_reauthenticate(
    broker: FacebookBroker, double: FacebookDouble, person: FacebookUser
) -> None:
    request = UpstreamRequest(REDIRECT_URI, force_login=True)
    callback, kept = visit_dialog(broker, request)
    sent = double.dialogs[-1]
    assert sent["auth_type"] == "reauthenticate"
    assert sent["auth_nonce"] == kept["auth_nonce"] and kept["auth_nonce"].isalnum()
    assert broker.finish(callback, kept).display_name == person.name


@pytest.mark.covers("L7")
@pytest.mark.parametrize(
    ("received", "expected"),
    [
        ("forged", "KEPT"),  # another value
        (None, "KEPT"),  # no state in the callback
        ("", "KEPT"),
        ("KEPT", None),  # nothing kept
        ("KEPT", ""),
        ("KÉPT", "KEPT"),  # not ASCII
    ],
)
def test_L7_facebook_forged_state_is_refused_before_any_request(
    broker: FacebookBroker,
    double: FacebookDouble,
    person: FacebookUser,
    received: str | None,
    expected: str | None,
) -> None:
    callback, kept = visit_dialog(broker)
    real = kept["state"]
    kept["state"] = real if expected == "KEPT" else expected
    if received is None:
        del callback["state"]
    else:
        callback["state"] = real if received == "KEPT" else received
    assert failure(broker, callback, kept) == "bad_state"
    assert "token" not in double.hits


@pytest.mark.covers("L7")
def test_L7_facebook_replayed_callback_fails_at_the_token_endpoint(
    broker: FacebookBroker, person: FacebookUser
) -> None:
    callback, kept = visit_dialog(broker)
    broker.finish(callback, kept)
    assert failure(broker, callback, kept) == "token_error"


@pytest.mark.covers("L7")
def test_L7_facebook_denied_dialog_is_access_denied(
    broker: FacebookBroker, double: FacebookDouble
) -> None:
    double.deny = True
    callback, kept = visit_dialog(broker)
    assert callback["error_reason"] == "user_denied"
    with pytest.raises(BrokerError) as caught:
        broker.finish(callback, kept)
    assert (caught.value.reason, caught.value.detail) == (
        "access_denied",
        "access_denied (user_denied)",
    )
    assert "token" not in double.hits


@pytest.mark.covers("L7")
@pytest.mark.parametrize(
    ("callback", "reason"),
    [
        ({"error": "server_error", "error_description": "oops"}, "upstream_error"),
        ({"error_code": "1349048", "error_message": "Can't load URL"}, "upstream_error"),
        ({}, "missing_code"),
        ({"code": ""}, "missing_code"),
    ],
)
def test_L7_facebook_callback_errors(
    broker: FacebookBroker, double: FacebookDouble, callback: dict[str, str], reason: str
) -> None:
    _url, kept = broker.start(UpstreamRequest(REDIRECT_URI))
    assert failure(broker, {**callback, "state": kept["state"]}, kept) == reason
    assert "token" not in double.hits


@pytest.mark.covers("L7")
def test_L7_facebook_wrong_app_secret_is_token_error(
    double: FacebookDouble, app: FacebookApp, person: FacebookUser
) -> None:
    broker = make_broker(double, app, app_secret="not-the-secret")
    callback, kept = visit_dialog(broker)
    with pytest.raises(BrokerError) as caught:
        broker.finish(callback, kept)
    assert (caught.value.reason, caught.value.detail) == (
        "token_error",
        "HTTP 400 OAuthException code 1",
    )


@pytest.mark.covers("L7")
def test_L7_facebook_redirect_uri_must_be_the_dialogs(
    broker: FacebookBroker, person: FacebookUser
) -> None:
    callback, kept = visit_dialog(broker)
    kept["redirect_uri"] = REDIRECT_URI + "/other"
    assert failure(broker, callback, kept) == "token_error"


@pytest.mark.covers("L7")
def test_L7_facebook_double_checks_the_appsecret_proof(
    double: FacebookDouble, app: FacebookApp, person: FacebookUser
) -> None:
    """The double enforces what "Require App Secret" enforces, with Graph's exact error."""
    token = double.issue_token(app.app_id, person, ("email", "public_profile"))
    me = f"{double.url}/{VERSION}/me"
    right = compute_appsecret_proof(app.secret, token)
    assert right == hmac.new(app.secret.encode(), token.encode(), hashlib.sha256).hexdigest()
    for proof in (None, "", compute_appsecret_proof("other-secret", token), right.upper()):
        params = {"fields": "id,name,email", "access_token": token}
        if proof is not None:
            params["appsecret_proof"] = proof
        answer = requests.get(me, params=params, timeout=5)
        assert (answer.status_code, answer.json()) == (400, INVALID_PROOF)
    params = {"fields": "id,email", "access_token": token, "appsecret_proof": right}
    answer = requests.get(me, params=params, timeout=5)
    assert answer.json() == {"id": app_scoped_id(person, app.app_id), "email": person.email}
    answer = requests.get(me, params={**params, "access_token": "EAAbogus"}, timeout=5)
    assert answer.status_code == 400
    assert answer.json()["error"] | {"message": ""} == {
        "message": "",
        "type": "OAuthException",
        "code": 190,
    }


@pytest.mark.covers("L7")
def test_L7_facebook_proof_with_a_stale_secret_fails(
    broker: FacebookBroker, double: FacebookDouble, app: FacebookApp, person: FacebookUser
) -> None:
    """The broker always sends the proof, and the double verifies it: the app secret reset
    in the dashboard while a login is under way, so our proof no longer matches."""
    double.before_answer = lambda route: double.reset_secret(app.app_id) if route == "me" else None
    callback, kept = visit_dialog(broker)
    with pytest.raises(BrokerError) as caught:
        broker.finish(callback, kept)
    assert (caught.value.reason, caught.value.detail) == (
        "upstream_error",
        "HTTP 400 GraphMethodException code 100",
    )
    assert double.proof_rejections == 1


@pytest.mark.covers("L7")
def test_L7_facebook_token_of_another_app_is_refused(
    broker: FacebookBroker, double: FacebookDouble, person: FacebookUser
) -> None:
    double.foreign_token_app = double.add_app().app_id
    callback, kept = visit_dialog(broker)
    assert failure(broker, callback, kept) == "invalid_id_token"
    assert "me" not in double.hits


@pytest.mark.covers("L7")
def test_L7_facebook_two_apps_give_different_issuers_and_subjects(
    double: FacebookDouble, person: FacebookUser
) -> None:
    first = sign_in(make_broker(double, double.add_app()))
    second = sign_in(make_broker(double, double.add_app()))
    assert first.issuer != second.issuer
    assert first.subject != second.subject
    assert (first.provider, first.email) == (second.provider, second.email)


@pytest.mark.covers("L7")
def test_L7_facebook_down_is_unreachable(
    broker: FacebookBroker, double: FacebookDouble, person: FacebookUser
) -> None:
    callback, kept = visit_dialog(broker)
    double.stop()
    assert failure(broker, callback, kept) == "unreachable"


@pytest.mark.covers("L7")
@pytest.mark.parametrize("route", ["token", "debug_token", "me"])
def test_L7_facebook_slow_is_timeout_and_leaks_no_token(
    double: FacebookDouble, app: FacebookApp, person: FacebookUser, route: str
) -> None:
    broker = make_broker(double, app, timeout="0.3")
    double.slow = {route}
    callback, kept = visit_dialog(broker)
    with pytest.raises(BrokerError) as caught:
        broker.finish(callback, kept)
    assert caught.value.reason == "timeout"
    # requests' own exception names the URL, access token included: it is not chained.
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    for token in double.tokens:
        assert token not in str(caught.value)


@pytest.mark.covers("L7")
def test_L7_facebook_never_logs_tokens_or_secrets(
    broker: FacebookBroker,
    double: FacebookDouble,
    app: FacebookApp,
    person: FacebookUser,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="idp")
    sign_in(broker)
    double.slow = {"me"}
    double.delay = 0.5
    with pytest.raises(BrokerError):
        sign_in(make_broker(double, app, timeout="0.2"))
    (token, *_) = double.tokens
    for secret in (token, app.secret):
        assert all(secret not in record.getMessage() for record in caplog.records)


@pytest.mark.covers("L7")
@pytest.mark.parametrize(
    ("settings", "variable"),
    [
        ({"app_id": ""}, "IDP_BROKER_FACEBOOK_APP_ID"),
        ({"app_secret": " "}, "IDP_BROKER_FACEBOOK_APP_SECRET"),
        ({"graph_version": ""}, "IDP_BROKER_FACEBOOK_GRAPH_VERSION"),
        ({"graph_version": "21.0"}, "IDP_BROKER_FACEBOOK_GRAPH_VERSION"),
        ({"graph_version": "v21.1"}, "IDP_BROKER_FACEBOOK_GRAPH_VERSION"),
        ({"timeout": "soon"}, "IDP_BROKER_FACEBOOK_TIMEOUT"),
        ({"timeout": "0"}, "IDP_BROKER_FACEBOOK_TIMEOUT"),
    ],
)
def test_L7_facebook_settings_stop_startup_when_wrong(
    settings: dict[str, str], variable: str
) -> None:
    config = {"app_id": "1234", "app_secret": "s3cret", "graph_version": VERSION, **settings}
    with pytest.raises(ValueError, match=variable):
        FacebookBroker.from_config(config)


@pytest.mark.covers("L7")
def test_L7_facebook_settings_defaults() -> None:
    broker = FacebookBroker.from_config(
        {"app_id": "1234", "app_secret": "s3cret", "graph_version": VERSION}
    )
    url, _kept = broker.start(UpstreamRequest(REDIRECT_URI))
    assert url.startswith(f"https://www.facebook.com/{VERSION}/dialog/oauth?")
    assert broker.graph_url == f"https://graph.facebook.com/{VERSION}"
    assert (broker.timeout, broker.issuer, broker.name) == (10.0, "facebook:1234", "facebook")
