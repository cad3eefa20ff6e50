"""Google and Microsoft brokers against local OpenID providers (UPSTREAMS.md; SPEC L7, L10, X3).

Each test drives the real code flow over HTTP: ``start`` builds the authorization URL, the
double's ``/authorize`` redirects back like a browser would, and ``finish`` redeems the code
and validates the ID token. Every refusal is a :class:`BrokerError` with a reason code (X3).
"""

from __future__ import annotations

import base64
import json
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

import pytest
import requests
from joserfc.jwk import OctKey
from werkzeug.serving import make_server

from brokers.base import BrokeredIdentity
from brokers.base import BrokerError
from brokers.base import UpstreamRequest
from brokers.google import GoogleBroker
from brokers.microsoft import PERSONAL_TENANT_ID
from brokers.microsoft import MicrosoftBroker
from brokers.oidc import OidcBroker
from brokers.registry import BROKER_CLASSES
from brokers.registry import build_broker
from tests.upstream_doubles import OidcDouble
from tests.upstream_doubles import generate_signing_key
from tests.upstream_doubles import running_double

REDIRECT_URI = "https://idp.example/login/upstream/callback"
WORK_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "f8cdef31-a31e-4b4a-93e4-5f571e91255a"


# -- fixtures --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def google_double() -> Iterator[OidcDouble]:
    with running_double() as double:
        double.add_user("g-alice", email="alice@gmail.com", email_verified=True, name="Alice")
        double.add_user("g-bob", email="bob@example.jp", email_verified=False)
        double.add_user(
            "g-carol", email="carol@corp.example", email_verified=True, hd="corp.example"
        )
        yield double


@pytest.fixture(scope="module")
def microsoft_double() -> Iterator[OidcDouble]:
    with running_double(microsoft=True) as double:
        double.add_user(
            "00000000-0000-0000-aaaa-000000000001",
            tenant=PERSONAL_TENANT_ID,
            email="dave@outlook.com",
            preferred_username="dave@outlook.com",
            name="Dave",
        )
        double.add_user(
            "11111111-2222-3333-4444-555555555555",
            tenant=WORK_TENANT,
            email="erin@contoso.example",
            xms_edov=True,
            amr=["pwd", "mfa"],
            upn="erin@contoso.example",
        )
        double.add_user(
            "66666666-7777-8888-9999-000000000000",
            tenant=OTHER_TENANT,
            email="erin@contoso.example",
        )
        yield double


@pytest.fixture
def google(google_double: OidcDouble) -> Iterator[GoogleBroker]:
    client = google_double.add_client(f"google-{time.monotonic_ns()}", REDIRECT_URI)
    yield GoogleBroker(
        client_id=client.client_id,
        client_secret=client.client_secret,
        issuer=google_double.issuer,
    )
    google_double.reset()


@pytest.fixture
def microsoft(microsoft_double: OidcDouble) -> Iterator[MicrosoftBroker]:
    client = microsoft_double.add_client(f"ms-{time.monotonic_ns()}", REDIRECT_URI)
    yield MicrosoftBroker(
        client_id=client.client_id,
        client_secret=client.client_secret,
        authority=microsoft_double.authority("common"),
    )
    microsoft_double.reset()


# -- helpers ---------------------------------------------------------------------------


def authorize(
    broker: OidcBroker, double: OidcDouble, user: str | None, **request: Any
) -> tuple[dict[str, str], dict[str, Any]]:
    """Start a login and follow the upstream's redirect: (callback parameters, kept)."""
    url, kept = broker.start(UpstreamRequest(redirect_uri=REDIRECT_URI, **request))
    json.dumps(kept)  # the transaction stores it as JSON
    double.next_user = user
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT_URI + "?")
    return dict(parse_qsl(urlsplit(location).query)), kept


def sign_in(broker: OidcBroker, double: OidcDouble, user: str, **request: Any) -> BrokeredIdentity:
    callback, kept = authorize(broker, double, user, **request)
    return broker.finish(callback, kept)


def refused(broker: OidcBroker, double: OidcDouble, user: str | None = None) -> str:
    """The reason code of a sign-in that must fail."""
    callback, kept = authorize(broker, double, user)
    with pytest.raises(BrokerError) as caught:
        broker.finish(callback, kept)
    return caught.value.reason


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


# -- Google ------------------------------------------------------------------------------


@pytest.mark.covers("L7")
def test_L7_google_sign_in_returns_the_upstream_identity(
    google: GoogleBroker, google_double: OidcDouble
) -> None:
    url, kept = google.start(UpstreamRequest(redirect_uri=REDIRECT_URI))
    params = dict(parse_qsl(urlsplit(url).query))
    assert params["response_type"] == "code"
    assert params["scope"] == "openid email profile"
    assert params["state"] == kept["state"] and params["nonce"] == kept["nonce"]
    assert params["code_challenge_method"] == "S256" and kept["code_verifier"]
    assert "response_mode" not in params and "prompt" not in params  # query mode by default

    identity = sign_in(google, google_double, "g-alice")
    assert identity == BrokeredIdentity(
        provider="google",
        issuer=google_double.issuer,
        subject="g-alice",
        email="alice@gmail.com",
        email_verified=True,
        upstream_amr=(),  # Google sends no amr: federated, method unknown
        display_name="Alice",
    )
    assert sign_in(google, google_double, "g-bob").email_verified is False


@pytest.mark.covers("L7")
def test_L7_google_legacy_issuer_string_is_accepted_and_normalised(
    google: GoogleBroker, google_double: OidcDouble
) -> None:
    legacy = google_double.issuer.split("://", 1)[1]  # like "accounts.google.com"
    google_double.tamper = lambda claims, header: claims.update(iss=legacy)
    identity = sign_in(google, google_double, "g-alice")
    assert identity.issuer == google_double.issuer


@pytest.mark.covers("L7", "X3")
def test_L7_google_other_issuer_is_refused(google: GoogleBroker, google_double: OidcDouble) -> None:
    google_double.tamper = lambda claims, header: claims.update(iss="https://evil.example")
    assert refused(google, google_double, "g-alice") == "wrong_issuer"


@pytest.mark.covers("L10")
def test_L10_google_fresh_sign_in_is_account_chooser_with_max_age_0(
    google: GoogleBroker, google_double: OidcDouble
) -> None:
    sign_in(google, google_double, "g-alice", force_login=True, login_hint="alice@gmail.com")
    sent = google_double.last_authorize
    assert sent["prompt"] == "select_account"  # Google has no prompt=login
    assert sent["max_age"] == "0"
    assert sent["login_hint"] == "alice@gmail.com"
    sign_in(google, google_double, "g-alice", select_account=True)
    assert google_double.last_authorize["prompt"] == "select_account"
    assert "max_age" not in google_double.last_authorize


@pytest.mark.covers("L7", "X3")
def test_L7_google_max_age_holds_the_upstream_to_auth_time(
    google: GoogleBroker, google_double: OidcDouble
) -> None:
    google_double.tamper = lambda claims, header: claims.update(auth_time=int(time.time()) - 900)
    callback, kept = authorize(google, google_double, "g-alice", force_login=True)
    with pytest.raises(BrokerError) as caught:
        google.finish(callback, kept)
    assert caught.value.reason == "invalid_id_token"
    # without max_age an old upstream session is fine (SSO)
    assert sign_in(google, google_double, "g-alice").subject == "g-alice"


@pytest.mark.covers("L7", "X3")
def test_L7_google_hosted_domain_is_decided_on_the_hd_claim(google_double: OidcDouble) -> None:
    client = google_double.add_client("google-hd", REDIRECT_URI)
    broker = GoogleBroker(
        client_id=client.client_id,
        client_secret=client.client_secret,
        issuer=google_double.issuer,
        hosted_domain="corp.example",
    )
    assert sign_in(broker, google_double, "g-carol").subject == "g-carol"
    assert google_double.last_authorize["hd"] == "corp.example"  # a hint only
    assert refused(broker, google_double, "g-alice") == "invalid_id_token"  # no hd
    google_double.tamper = lambda claims, header: claims.update(hd="other.example")
    assert refused(broker, google_double, "g-carol") == "invalid_id_token"
    google_double.reset()


# -- callback checks (X3) -----------------------------------------------------------------


@pytest.mark.covers("X3")
def test_X3_forged_or_missing_state_is_bad_state(
    google: GoogleBroker, google_double: OidcDouble
) -> None:
    callback, kept = authorize(google, google_double, "g-alice")
    for forged in ({**callback, "state": "forged"}, {"code": callback["code"]}):
        with pytest.raises(BrokerError) as caught:
            google.finish(forged, kept)
        assert caught.value.reason == "bad_state"
    with pytest.raises(BrokerError) as caught:
        google.finish(callback, {**kept, "state": None})
    assert caught.value.reason == "bad_state"
    # a callback checked against another login's state
    _, other_kept = google.start(UpstreamRequest(redirect_uri=REDIRECT_URI))
    with pytest.raises(BrokerError) as caught:
        google.finish(callback, other_kept)
    assert caught.value.reason == "bad_state"


@pytest.mark.covers("X3")
def test_X3_replayed_callback_is_refused(google: GoogleBroker, google_double: OidcDouble) -> None:
    callback, kept = authorize(google, google_double, "g-alice")
    assert google.finish(callback, kept).subject == "g-alice"
    with pytest.raises(BrokerError) as caught:
        google.finish(callback, kept)
    assert caught.value.reason == "token_error"  # the code is single-use upstream


@pytest.mark.covers("X3")
def test_X3_wrong_code_verifier_is_token_error(
    google: GoogleBroker, google_double: OidcDouble
) -> None:
    callback, kept = authorize(google, google_double, "g-alice")
    with pytest.raises(BrokerError) as caught:
        google.finish(callback, {**kept, "code_verifier": "x" * 64})
    assert caught.value.reason == "token_error"


@pytest.mark.covers("X3")
def test_X3_access_denied_other_errors_and_missing_code(
    google: GoogleBroker, google_double: OidcDouble
) -> None:
    assert refused(google, google_double, None) == "access_denied"
    callback, kept = authorize(google, google_double, "g-alice")
    for params, reason in (
        ({"error": "server_error"}, "upstream_error"),
        ({"error": "interaction_required"}, "upstream_error"),
        ({}, "missing_code"),
    ):
        with pytest.raises(BrokerError) as caught:
            google.finish({"state": kept["state"], **params}, kept)
        assert caught.value.reason == reason


# -- ID token validation -------------------------------------------------------------------


@pytest.mark.covers("X3")
def test_X3_token_signed_by_an_unpublished_key_is_refused(
    google: GoogleBroker, google_double: OidcDouble
) -> None:
    sign_in(google, google_double, "g-alice")  # JWKS cached
    fetches = google_double.jwks_fetches
    google_double.sign_with = generate_signing_key("rogue")
    assert refused(google, google_double, "g-alice") == "invalid_id_token"
    assert google_double.jwks_fetches == fetches + 1  # fetched again once for the unknown kid
    # the same kid as a published key, another key: the signature fails
    google_double.sign_with = generate_signing_key(google_double.signing_key.kid)
    assert refused(google, google_double, "g-alice") == "invalid_id_token"


@pytest.mark.covers("L7")
def test_L7_rotated_key_is_fetched_once(google: GoogleBroker, google_double: OidcDouble) -> None:
    sign_in(google, google_double, "g-alice")  # JWKS cached without the new key
    fetches = google_double.jwks_fetches
    rotated = generate_signing_key("rotated")
    google_double.extra_keys = [rotated]
    google_double.sign_with = rotated
    assert sign_in(google, google_double, "g-alice").subject == "g-alice"
    assert sign_in(google, google_double, "g-alice").subject == "g-alice"
    assert google_double.jwks_fetches == fetches + 1


@pytest.mark.covers("L7")
def test_L7_kid_less_token_is_verified_with_the_single_key(
    google: GoogleBroker, google_double: OidcDouble
) -> None:
    google_double.tamper = lambda claims, header: header.pop("kid")
    assert sign_in(google, google_double, "g-alice").subject == "g-alice"
    # kid-less and signed by another key: refused
    google_double.sign_with = generate_signing_key()
    assert refused(google, google_double, "g-alice") == "invalid_id_token"


@pytest.mark.covers("X3")
def test_X3_hs256_and_none_are_refused_unless_enabled(
    google: GoogleBroker, google_double: OidcDouble
) -> None:
    secret = google.client_secret

    def hs256(claims: dict[str, Any], header: dict[str, Any]) -> None:
        header["alg"] = "HS256"

    google_double.sign_with = OctKey.import_key(secret)
    google_double.tamper = hs256
    assert refused(google, google_double, "g-alice") == "invalid_id_token"
    hs_broker = GoogleBroker(
        client_id=google.client_id,
        client_secret=secret,
        issuer=google_double.issuer,
        allow_hs256=True,
    )
    assert sign_in(hs_broker, google_double, "g-alice").subject == "g-alice"
    # HS256 signed with the JWKS public key material (algorithm confusion): refused
    google_double.sign_with = OctKey.import_key(
        json.dumps(google_double.signing_key.as_dict(private=False))
    )
    assert refused(hs_broker, google_double, "g-alice") == "invalid_id_token"

    google_double.reset()
    callback, kept = authorize(google, google_double, "g-alice")
    now = int(time.time())
    unsigned = ".".join(
        [
            b64url({"alg": "none"}),
            b64url(
                {
                    "iss": google_double.issuer,
                    "aud": google.client_id,
                    "sub": "g-alice",
                    "iat": now,
                    "exp": now + 600,
                    "nonce": kept["nonce"],
                }
            ),
            "",
        ]
    )
    with pytest.raises(BrokerError) as caught:
        google.validate_id_token(unsigned, kept)
    assert caught.value.reason == "invalid_id_token"
    for garbage in ("", "not-a-jwt", "a.b.c", b64url({"alg": "RS256"}) + ".e30.AAAA"):
        with pytest.raises(BrokerError) as caught:
            google.validate_id_token(garbage, kept)
        assert caught.value.reason == "invalid_id_token"


@pytest.mark.covers("X3")
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"aud": "someone-else"}, "invalid_id_token"),
        ({"aud": ["someone-else"]}, "invalid_id_token"),
        ({"aud": "CLIENT", "azp": "someone-else"}, "invalid_id_token"),
        ({"aud": ["CLIENT", "someone-else"]}, "invalid_id_token"),  # several aud and no azp
        ({"nonce": "another-login"}, "nonce_mismatch"),
        ({"nonce": None}, "nonce_mismatch"),
        ({"exp": -3600}, "invalid_id_token"),  # expired an hour ago
        ({"iat": 3600}, "invalid_id_token"),  # issued in the future
        ({"iat": None}, "invalid_id_token"),
        ({"exp": None}, "invalid_id_token"),
        ({"sub": None}, "no_subject"),
        ({"sub": ""}, "no_subject"),
    ],
)
def test_X3_id_token_claims_are_checked(
    google: GoogleBroker, google_double: OidcDouble, change: dict[str, Any], reason: str
) -> None:
    now = int(time.time())

    def tamper(claims: dict[str, Any], header: dict[str, Any]) -> None:
        for name, value in change.items():
            if value is None:
                claims.pop(name, None)
            elif name in ("exp", "iat"):
                claims[name] = now + value
            else:
                claims[name] = json.loads(json.dumps(value).replace("CLIENT", google.client_id))

    google_double.tamper = tamper
    assert refused(google, google_double, "g-alice") == reason


@pytest.mark.covers("L7")
def test_L7_leeway_and_a_list_audience_with_our_azp_are_accepted(
    google: GoogleBroker, google_double: OidcDouble
) -> None:
    now = int(time.time())

    def tamper(claims: dict[str, Any], header: dict[str, Any]) -> None:
        claims.update(
            exp=now - 60, iat=now + 60, aud=[google.client_id, "other"], azp=google.client_id
        )

    google_double.tamper = tamper
    assert sign_in(google, google_double, "g-alice").subject == "g-alice"


# -- Microsoft --------------------------------------------------------------------------


@pytest.mark.covers("L7")
def test_L7_microsoft_personal_account(
    microsoft: MicrosoftBroker, microsoft_double: OidcDouble
) -> None:
    identity = sign_in(microsoft, microsoft_double, "00000000-0000-0000-aaaa-000000000001")
    assert identity == BrokeredIdentity(
        provider="microsoft",
        issuer=microsoft_double.tenant_issuer(PERSONAL_TENANT_ID),
        subject=f"{PERSONAL_TENANT_ID}:00000000-0000-0000-aaaa-000000000001",
        email="dave@outlook.com",
        email_verified=False,  # no xms_edov
        upstream_amr=(),
        display_name="Dave",
    )
    params = microsoft_double.last_authorize
    assert params["scope"] == "openid profile email"
    assert params["code_challenge_method"] == "S256"


@pytest.mark.covers("L7")
def test_L7_microsoft_work_account_with_verified_domain_and_amr(
    microsoft: MicrosoftBroker, microsoft_double: OidcDouble
) -> None:
    identity = sign_in(microsoft, microsoft_double, "11111111-2222-3333-4444-555555555555")
    assert identity.issuer == microsoft_double.tenant_issuer(WORK_TENANT)
    assert identity.subject == f"{WORK_TENANT}:11111111-2222-3333-4444-555555555555"
    assert identity.email == "erin@contoso.example"  # never upn / preferred_username
    assert identity.email_verified is True  # xms_edov
    assert identity.upstream_amr == ("pwd", "mfa")


@pytest.mark.covers("L7")
def test_L7_microsoft_subject_survives_a_client_id_change(
    microsoft_double: OidcDouble,
) -> None:
    """``sub`` is pairwise per client id; the identity key (tid, oid) is not."""
    subjects = set()
    for client_id in ("ms-old-client", "ms-new-client"):
        client = microsoft_double.add_client(client_id, REDIRECT_URI)
        broker = MicrosoftBroker(
            client_id=client.client_id,
            client_secret=client.client_secret,
            authority=microsoft_double.authority(),
        )
        subjects.add(sign_in(broker, microsoft_double, "11111111-2222-3333-4444-555555555555"))
    assert len(subjects) == 1


@pytest.mark.covers("L7", "X3")
def test_L7_microsoft_iss_of_another_tenant_than_tid_is_refused(
    microsoft: MicrosoftBroker, microsoft_double: OidcDouble
) -> None:
    def tamper(claims: dict[str, Any], header: dict[str, Any]) -> None:
        claims["iss"] = microsoft_double.tenant_issuer(OTHER_TENANT)

    microsoft_double.tamper = tamper
    assert refused(microsoft, microsoft_double, "11111111-2222-3333-4444-555555555555") == (
        "wrong_issuer"
    )
    for change in ({"tid": None}, {"tid": "../common"}, {"iss": microsoft_double.issuer}):

        def tamper_claims(claims: dict[str, Any], header: dict[str, Any]) -> None:
            for name, value in change.items():  # noqa: B023 - called within the iteration
                if value is None:
                    claims.pop(name)
                else:
                    claims[name] = value

        microsoft_double.tamper = tamper_claims
        assert refused(microsoft, microsoft_double, "11111111-2222-3333-4444-555555555555") == (
            "wrong_issuer"
        )


@pytest.mark.covers("L7", "X3")
def test_L7_microsoft_key_of_another_issuer_is_refused(
    microsoft: MicrosoftBroker, microsoft_double: OidcDouble
) -> None:
    microsoft_double.key_issuer = microsoft_double.tenant_issuer(OTHER_TENANT)
    assert refused(microsoft, microsoft_double, "11111111-2222-3333-4444-555555555555") == (
        "wrong_issuer"
    )
    # a key pinned to the token's own tenant is fine (a new broker: the JWKS is cached)
    microsoft_double.key_issuer = microsoft_double.tenant_issuer(WORK_TENANT)
    fresh = MicrosoftBroker(
        client_id=microsoft.client_id,
        client_secret=microsoft.client_secret,
        authority=microsoft_double.authority(),
    )
    assert sign_in(fresh, microsoft_double, "11111111-2222-3333-4444-555555555555")


@pytest.mark.covers("L7", "X3")
def test_L7_microsoft_tenant_setting_narrows_the_accepted_tenants(
    microsoft_double: OidcDouble,
) -> None:
    client = microsoft_double.add_client("ms-tenants", REDIRECT_URI)
    work, personal = "11111111-2222-3333-4444-555555555555", "00000000-0000-0000-aaaa-000000000001"
    for tenant, accepted, refused_user in (
        ("consumers", personal, work),
        ("organizations", work, personal),
        (WORK_TENANT, work, personal),
    ):
        broker = MicrosoftBroker(
            client_id=client.client_id,
            client_secret=client.client_secret,
            tenant=tenant,
            authority=microsoft_double.authority(tenant),
        )
        assert sign_in(broker, microsoft_double, accepted)
        assert refused(broker, microsoft_double, refused_user) == "wrong_issuer"


@pytest.mark.covers("L10")
def test_L10_microsoft_prompt_login_and_account_chooser(
    microsoft: MicrosoftBroker, microsoft_double: OidcDouble
) -> None:
    user = "00000000-0000-0000-aaaa-000000000001"
    sign_in(microsoft, microsoft_double, user, force_login=True, login_hint="dave@outlook.com")
    assert microsoft_double.last_authorize["prompt"] == "login"
    assert microsoft_double.last_authorize["login_hint"] == "dave@outlook.com"
    sign_in(microsoft, microsoft_double, user, select_account=True)
    assert microsoft_double.last_authorize["prompt"] == "select_account"
    sign_in(microsoft, microsoft_double, user)
    assert "prompt" not in microsoft_double.last_authorize


@pytest.mark.covers("L7")
def test_L7_same_email_at_different_upstreams_gives_different_identities(
    google: GoogleBroker,
    google_double: OidcDouble,
    microsoft: MicrosoftBroker,
    microsoft_double: OidcDouble,
) -> None:
    google_double.add_user("g-erin", email="erin@contoso.example", email_verified=True)
    identities = [
        sign_in(google, google_double, "g-erin"),
        sign_in(microsoft, microsoft_double, "11111111-2222-3333-4444-555555555555"),
        sign_in(microsoft, microsoft_double, "66666666-7777-8888-9999-000000000000"),
    ]
    assert {identity.email for identity in identities} == {"erin@contoso.example"}
    keys = {(identity.provider, identity.issuer, identity.subject) for identity in identities}
    assert len(keys) == 3


# -- the network -------------------------------------------------------------------------


@pytest.mark.covers("X3")
def test_X3_upstream_down_is_unreachable() -> None:
    double = OidcDouble().start()
    double.add_user("g-alice")
    client = double.add_client("down", REDIRECT_URI)
    broker = GoogleBroker(
        client_id=client.client_id, client_secret=client.client_secret, issuer=double.issuer
    )
    callback, kept = authorize(broker, double, "g-alice")
    double.stop()
    with pytest.raises(BrokerError) as caught:
        broker.finish(callback, kept)  # discovery cached; the token endpoint is gone
    assert caught.value.reason == "unreachable"
    cold = GoogleBroker(client_id="c", client_secret="s", issuer=double.issuer)
    with pytest.raises(BrokerError) as caught:
        cold.start(UpstreamRequest(redirect_uri=REDIRECT_URI))
    assert caught.value.reason == "unreachable"


@pytest.mark.covers("X3")
def test_X3_slow_upstream_is_timeout(google_double: OidcDouble) -> None:
    client = google_double.add_client("slow", REDIRECT_URI)
    broker = GoogleBroker(
        client_id=client.client_id,
        client_secret=client.client_secret,
        issuer=google_double.issuer,
        timeout=0.3,
    )
    callback, kept = authorize(broker, google_double, "g-alice")
    google_double.token_delay = 1.0
    with pytest.raises(BrokerError) as caught:
        broker.finish(callback, kept)
    assert caught.value.reason == "timeout"
    google_double.reset()


@pytest.mark.covers("X3")
def test_X3_discovery_that_names_another_issuer_is_refused(google_double: OidcDouble) -> None:
    broker = GoogleBroker(
        client_id="c",
        client_secret="s",
        issuer="https://accounts.google.com",
        discovery_url=f"{google_double.base_url}/.well-known/openid-configuration",
    )
    with pytest.raises(BrokerError) as caught:
        broker.start(UpstreamRequest(redirect_uri=REDIRECT_URI))
    assert caught.value.reason == "wrong_issuer"


# -- the registry ------------------------------------------------------------------------


def test_registry_builds_google_and_microsoft_from_settings() -> None:
    assert {"google", "microsoft"} <= set(BROKER_CLASSES)
    google = build_broker(
        "google",
        {"CLIENT_ID": "gid", "CLIENT_SECRET": "gsecret", "TIMEOUT": "3", "HOSTED_DOMAIN": "a.jp"},
    )
    assert isinstance(google, GoogleBroker)
    assert google.discovery_url == "https://accounts.google.com/.well-known/openid-configuration"
    assert (google.timeout, google.hosted_domain, google.use_pkce) == (3.0, "a.jp", True)
    microsoft = build_broker(
        "microsoft",
        {"client_id": "mid", "client_secret": "msecret", "tenant": "organizations"},
    )
    assert isinstance(microsoft, MicrosoftBroker)
    assert microsoft.discovery_url == (
        "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration"
    )
    assert microsoft.scopes == ("openid", "profile", "email")


@pytest.mark.parametrize(
    ("name", "config", "message"),
    [
        ("google", {"client_secret": "s"}, "IDP_BROKER_GOOGLE_CLIENT_ID"),
        ("google", {"client_id": "c"}, "IDP_BROKER_GOOGLE_CLIENT_SECRET"),
        ("google", {"client_id": "c", "client_secret": "s", "timeout": "x"}, "TIMEOUT"),
        ("google", {"client_id": "c", "client_secret": "s", "use_pkce": "maybe"}, "USE_PKCE"),
        ("microsoft", {"client_secret": "s"}, "IDP_BROKER_MICROSOFT_CLIENT_ID"),
        (
            "microsoft",
            {"client_id": "c", "client_secret": "s", "tenant": "x/y"},
            "IDP_BROKER_MICROSOFT_TENANT",
        ),
        ("nowhere", {}, "unknown broker"),
    ],
)
def test_registry_refuses_missing_settings(name: str, config: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_broker(name, config)


# -- interoperability ----------------------------------------------------------------------


@pytest.mark.covers("L7")
# oidc-provider-mock 0.3.x calls authlib's deprecated get_jwt_config on every token request,
# in its server thread; the warning is its own, not ours.
@pytest.mark.filterwarnings("ignore:get_jwt_config:DeprecationWarning")
def test_L7_google_broker_against_oidc_provider_mock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same flow against an independent OP (UPSTREAMS.md "Test doubles")."""
    with warnings.catch_warnings():
        # it imports the deprecated authlib.jose and authlib's httpx client
        warnings.simplefilter("ignore", DeprecationWarning)
        provider_mock = pytest.importorskip("oidc_provider_mock")
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")  # its server-side check of http://
    app = provider_mock.app(
        require_nonce=True,
        user_claims=[
            provider_mock.User(sub="mock-alice", claims={"email": "a@example.jp", "amr": ["pwd"]})
        ],
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        broker = GoogleBroker(
            client_id="mock-client",
            client_secret="mock-secret-" + "x" * 20,
            issuer=f"http://127.0.0.1:{server.server_port}",
        )
        url, kept = broker.start(UpstreamRequest(redirect_uri=REDIRECT_URI, force_login=True))
        response = requests.post(url, data={"sub": "mock-alice"}, allow_redirects=False, timeout=5)
        callback = dict(parse_qsl(urlsplit(response.headers["Location"]).query))
        identity = broker.finish(callback, kept)
        assert (identity.subject, identity.email) == ("mock-alice", "a@example.jp")
        assert identity.upstream_amr == ("pwd",)
        with pytest.raises(BrokerError) as caught:
            broker.finish(callback, kept)
        assert caught.value.reason == "token_error"
        url, kept = broker.start(UpstreamRequest(redirect_uri=REDIRECT_URI))
        response = requests.post(url, data={"action": "deny"}, allow_redirects=False, timeout=5)
        callback = dict(parse_qsl(urlsplit(response.headers["Location"]).query))
        assert callback["error"] == "access_denied"
        # the mock's denial carries no state, and state is checked first
        with pytest.raises(BrokerError) as caught:
            broker.finish(callback, kept)
        assert caught.value.reason == "bad_state"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
