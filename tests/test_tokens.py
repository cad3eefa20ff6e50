"""O1: token endpoint, refresh rotation, revocation (RFC 7009), introspection (RFC 7662),
userinfo — as a relying party sees them."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
import time_machine

from tests.conftest import PASSWORD
from tests.helpers import Browser


def _signed_in(provider, rp, user, **params):
    _user_id, email = user
    callback = rp.sign_in(Browser(provider.url), email, PASSWORD, **params)
    return callback


def test_O1_code_is_single_use_and_reuse_revokes_its_tokens(provider, rp, user):
    callback = _signed_in(provider, rp, user)
    tokens = rp.exchange(callback["code"])
    assert tokens["_status"] == 200
    assert rp.introspect(tokens["access_token"])["active"] is True
    again = rp.exchange(callback["code"])
    assert again["_status"] == 400 and again["error"] == "invalid_grant"
    assert rp.introspect(tokens["access_token"]) == {"active": False}
    assert rp.refresh(tokens["refresh_token"])["error"] == "invalid_grant"
    assert rp.userinfo(tokens["access_token"]).status_code == 401


def test_O1_parallel_uses_of_one_code_issue_once_and_revoke_what_was_issued(provider, rp, user):
    """A code presented twice at the same moment: the store takes it and marks it used in
    one step, so the second use always sees it used (never "unknown") and revokes what the
    first issued (RFC 6749 §4.1.2). Several rounds: the race is a matter of milliseconds."""
    issued = 0
    for _ in range(25):
        code = _signed_in(provider, rp, user)["code"]
        start = threading.Barrier(2)
        answers: list[dict] = []

        def exchange(code=code, start=start, answers=answers) -> None:
            start.wait()
            answers.append(rp.exchange(code))

        threads = [threading.Thread(target=exchange) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        granted = [answer for answer in answers if answer["_status"] == 200]
        refused = [answer for answer in answers if answer["_status"] != 200]
        # The first use may itself be refused when the second revoked the family before the
        # first issued anything; never two grants.
        assert len(granted) <= 1 and len(answers) == 2, answers
        assert all(answer["error"] == "invalid_grant" for answer in refused), answers
        for tokens in granted:
            issued += 1
            assert rp.introspect(tokens["access_token"]) == {"active": False}
            assert rp.refresh(tokens["refresh_token"])["error"] == "invalid_grant"
    assert issued, "no round issued tokens: nothing was checked"


def test_O1_code_expires_quickly(provider, rp, user):
    callback = _signed_in(provider, rp, user)
    with time_machine.travel(timedelta(seconds=61), tick=True):
        late = rp.exchange(callback["code"])
    assert late["error"] == "invalid_grant"


def test_O1_code_bound_to_client_redirect_uri_and_verifier(provider, rp, user):
    callback = _signed_in(provider, rp, user)
    other = provider.new_client()
    other.code_verifier = rp.code_verifier
    other.redirect_uri = rp.redirect_uri
    assert other.exchange(callback["code"])["error"] == "invalid_grant"

    callback = _signed_in(provider, rp, user)
    assert (
        rp.exchange(callback["code"], redirect_uri="https://rp.example/other")["error"]
        == "invalid_grant"
    )

    callback = _signed_in(provider, rp, user)
    assert rp.exchange(callback["code"], code_verifier="x" * 50)["error"] == "invalid_grant"

    callback = _signed_in(provider, rp, user)
    data = {
        "grant_type": "authorization_code",
        "code": callback["code"],
        "redirect_uri": rp.redirect_uri,
    }
    assert rp.token_request(data)["error"] == "invalid_request"


def test_O1_a_code_refused_for_its_verifier_or_redirect_uri_is_spent(provider, rp, user):
    """A code presented once is used, even when that exchange was refused for its PKCE
    verifier or redirect URI: presented again, with everything right, it is a reuse
    (RFC 6749 §4.1.2), whether the take committed apart or with the grant's transaction."""
    callback = _signed_in(provider, rp, user)
    assert rp.exchange(callback["code"], code_verifier="x" * 50)["error"] == "invalid_grant"
    assert rp.exchange(callback["code"])["error"] == "invalid_grant"

    callback = _signed_in(provider, rp, user)
    wrong_uri = rp.exchange(callback["code"], redirect_uri="https://rp.example/other")
    assert wrong_uri["error"] == "invalid_grant"
    assert rp.exchange(callback["code"])["error"] == "invalid_grant"


def test_O1_client_authentication_methods_and_wrong_secret(provider, rp, user):
    callback = _signed_in(provider, rp, user)
    endpoint = rp.metadata["token_endpoint"]
    data = {
        "grant_type": "authorization_code",
        "code": callback["code"],
        "redirect_uri": rp.redirect_uri,
        "code_verifier": rp.code_verifier,
    }
    wrong = requests.post(endpoint, data=data, auth=(rp.client_id, "not-the-secret"), timeout=10)
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    post = requests.post(
        endpoint, data={**data, "client_id": rp.client_id, "client_secret": rp.secret}, timeout=10
    )
    assert post.status_code == 200, post.text
    assert post.headers["Cache-Control"] == "no-store"


def test_O1_refresh_rotates_and_reuse_revokes_the_family(provider, rp, user):
    user_id, email = user
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    first = tokens["refresh_token"]
    # OIDC Core §12.1: naming openid in the refresh request's scope asks for an ID token.
    second = rp.refresh(first, scope=tokens["scope"])
    assert second["_status"] == 200
    assert second["refresh_token"] != first
    claims = rp.id_token_claims(second["id_token"])
    original = rp.id_token_claims(tokens["id_token"])
    assert claims["sub"] == user_id and claims["auth_time"] == original["auth_time"]
    third = rp.refresh(second["refresh_token"])
    assert third["_status"] == 200
    # The rotated-out token comes back: everything in the family dies.
    replay = rp.refresh(first)
    assert replay["error"] == "invalid_grant"
    assert rp.refresh(third["refresh_token"])["error"] == "invalid_grant"
    assert rp.introspect(third["access_token"]) == {"active": False}


#: Parallel uses of one refresh token per round, and rounds: a race only shows when several
#: requests pass the lookup before the first one marks the token used, so give it chances.
RACERS = 12
ROUNDS = 5


@pytest.mark.covers("O1")
def test_O1_parallel_refresh_exactly_one_wins(provider, rp, user):
    """Parallel uses of one refresh token: exactly one gets new tokens (not zero, not two);
    the others get invalid_grant (RFC 9700 §4.14.2 rotation)."""
    _user_id, email = user
    for _round in range(ROUNDS):
        tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
        results: list[dict] = []
        barrier = threading.Barrier(RACERS)

        def refresh(token=tokens["refresh_token"], barrier=barrier, results=results):
            barrier.wait()
            results.append(rp.refresh(token))

        threads = [threading.Thread(target=refresh) for _ in range(RACERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        statuses = sorted(r["_status"] for r in results)
        assert statuses == [200] + [400] * (RACERS - 1), statuses
        assert all(r["error"] == "invalid_grant" for r in results if r["_status"] == 400)
        winner = next(r for r in results if r["_status"] == 200)
        assert winner["refresh_token"] != tokens["refresh_token"] and winner["access_token"]


def test_O1_offline_access_or_registration_decides_refresh_tokens(provider, user):
    _user_id, email = user
    rp = provider.new_client()
    rp.scope = "openid email"
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    assert "refresh_token" not in tokens
    always = provider.new_client(refresh_tokens=True)
    always.scope = "openid email"
    assert "refresh_token" in always.login_tokens(Browser(provider.url), email, PASSWORD)


def test_O1_revocation_of_access_and_refresh_tokens(provider, rp, user):
    _user_id, email = user
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    assert rp.revoke(tokens["access_token"]).status_code == 200
    assert rp.userinfo(tokens["access_token"]).status_code == 401
    assert rp.introspect(tokens["refresh_token"])["active"] is True
    assert rp.revoke(tokens["refresh_token"], token_type_hint="refresh_token").status_code == 200
    assert rp.introspect(tokens["refresh_token"]) == {"active": False}
    assert rp.refresh(tokens["refresh_token"])["error"] == "invalid_grant"
    # Unknown tokens: 200 as RFC 7009 §2.2 says.
    assert rp.revoke("no-such-token").status_code == 200


def test_O1_introspection_answers_only_the_owning_client(provider, rp, user):
    user_id, email = user
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    mine = rp.introspect(tokens["access_token"])
    assert mine["active"] is True and mine["sub"] == user_id
    assert mine["client_id"] == rp.client_id and "openid" in mine["scope"]
    assert mine["amr"] == ["pwd"]
    other = provider.new_client()
    assert other.introspect(tokens["access_token"]) == {"active": False}
    anonymous = requests.post(
        rp.metadata["introspection_endpoint"], data={"token": tokens["access_token"]}, timeout=10
    )
    assert anonymous.status_code == 401


def test_O1_userinfo_get_post_header_and_body(provider, rp, user):
    user_id, email = user
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    get = rp.userinfo(tokens["access_token"])
    assert get.status_code == 200 and get.json()["email"] == email
    post = rp.userinfo(tokens["access_token"], method="POST")
    assert post.status_code == 200 and post.json()["sub"] == user_id
    bad = rp.userinfo("not-a-token")
    assert bad.status_code == 401
    assert (
        "invalid_token" in bad.headers.get("WWW-Authenticate", "")
        or bad.json()["error"] == "invalid_token"
    )
    none = requests.get(rp.metadata["userinfo_endpoint"], timeout=10)
    assert none.status_code == 401


def test_O1_scope_limits_claims_and_claims_parameter_does_not_widen(provider):
    user_id, email = provider.new_user(name="山田 花子")
    rp = provider.new_client()
    rp.scope = "openid"
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    claims = rp.id_token_claims(tokens["id_token"])
    assert "email" not in claims and "contract_id" not in claims
    assert {"sub", "auth_time", "amr", "acr"} <= set(claims)
    assert set(rp.userinfo(tokens["access_token"]).json()) == {"sub"}

    # The claims parameter cannot release what the scopes do not cover (OIDC Core §5.5
    # lets the OP leave requested claims out; tests/test_claims_consent.py).
    request_claims = '{"id_token": {"email": {"essential": true}}, "userinfo": {"name": null}}'
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD, claims=request_claims)
    assert "email" not in rp.id_token_claims(tokens["id_token"])
    assert rp.userinfo(tokens["access_token"]).json() == {"sub": user_id}
    rp.scope = "openid profile"
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    assert rp.userinfo(tokens["access_token"]).json()["name"] == "山田 花子"
    # A claim the user has no value for is left out, not made up.
    nameless = provider.new_user()
    tokens = rp.login_tokens(Browser(provider.url), nameless[1], PASSWORD)
    assert "name" not in rp.userinfo(tokens["access_token"]).json()


def test_O1_es256_client_gets_es256_id_tokens(provider, user):
    _user_id, email = user
    rp = provider.new_client(id_token_alg="ES256")
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    import json
    from base64 import urlsafe_b64decode

    header = json.loads(urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))
    assert header["alg"] == "ES256" and header["kid"]
    assert rp.id_token_claims(tokens["id_token"])["sub"] == _user_id


def test_O1_public_client_with_pkce(provider, user):
    user_id, email = user
    rp = provider.new_client(public=True, trusted=True)
    assert rp.secret is None
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    assert rp.id_token_claims(tokens["id_token"])["sub"] == user_id


def test_O2_refresh_refused_once_the_contract_is_no_longer_active(provider, rp):
    from idp.models import Contract
    from idp.models import User

    user_id, email = provider.new_user()
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    with provider.app.app_context():
        db = provider.db()
        contract = db.session.get(Contract, db.session.get(User, user_id).contract_id)
        contract.status = "cancelled"
        db.session.commit()
    refused = rp.refresh(tokens["refresh_token"])
    assert refused["_status"] == 400 and refused["error"] == "invalid_grant"
