"""O1 (issue 13): the rules the lean token endpoint keeps and the choices it makes, as a
relying party sees them — an ID token on refresh only where it is worth its signature (OIDC
Core §12.2), strict rotation for parallel refreshes (RFC 9700 §4.14.2), a refresh token
bound to its client, its lifetime and its family."""

from __future__ import annotations

import json
import threading
from base64 import urlsafe_b64decode
from datetime import timedelta

import pytest
import time_machine

from tests.conftest import PASSWORD
from tests.helpers import Browser


def _tokens(provider, rp, user) -> dict:
    _user_id, email = user
    return rp.login_tokens(Browser(provider.url), email, PASSWORD)


def _alg(id_token: str) -> str:
    return str(json.loads(urlsafe_b64decode(id_token.split(".")[0] + "=="))["alg"])


@pytest.mark.covers("O1")
def test_O1_refresh_gives_an_id_token_when_asked_or_cheap(provider, rp, user):
    """§12.2 ("might not contain an id_token"): a plain rotation of an RS256 client gets
    none; naming openid in the refresh request's scope (§12.1) asks for one, which keeps the
    sign-in's auth_time and sid; an ES256 client always gets one (its signature is cheap)."""
    user_id, email = user
    tokens = _tokens(provider, rp, user)
    plain = rp.refresh(tokens["refresh_token"])
    assert plain["_status"] == 200 and plain["access_token"] and plain["refresh_token"]
    assert "id_token" not in plain
    asked = rp.refresh(plain["refresh_token"], scope=tokens["scope"])
    assert asked["_status"] == 200 and asked["scope"] == tokens["scope"]
    claims, original = rp.id_token_claims(asked["id_token"]), rp.id_token_claims(tokens["id_token"])
    assert claims["sub"] == user_id
    assert (claims["auth_time"], claims["sid"]) == (original["auth_time"], original["sid"])
    assert _alg(asked["id_token"]) == "RS256"
    # A narrower scope without openid: no ID token, and the new tokens carry that scope.
    narrow = rp.refresh(asked["refresh_token"], scope="email offline_access")
    assert narrow["_status"] == 200 and "id_token" not in narrow
    assert narrow["scope"] == "email offline_access"

    es256 = provider.new_client(id_token_alg="ES256")
    es_tokens = es256.login_tokens(Browser(provider.url), email, PASSWORD)
    refreshed = es256.refresh(es_tokens["refresh_token"])
    assert refreshed["_status"] == 200 and _alg(refreshed["id_token"]) == "ES256"
    assert es256.id_token_claims(refreshed["id_token"])["sub"] == user_id


@pytest.mark.covers("O1")
def test_O1_a_refresh_without_openid_in_its_grant_never_gets_an_id_token(provider, user):
    _user_id, email = user
    rp = provider.new_client(refresh_tokens=True)
    rp.scope = "email"
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    assert "id_token" not in tokens
    refreshed = rp.refresh(tokens["refresh_token"], scope="email")
    assert refreshed["_status"] == 200 and "id_token" not in refreshed


#: Parallel uses of one refresh token.
RACERS = 6


@pytest.mark.covers("O1")
def test_O1_parallel_refresh_is_strict_the_losers_revoke_the_family(provider, rp, user):
    """The choice (no grace window): a refresh token used twice is a copy in someone else's
    hands until proven otherwise, even a few milliseconds apart — a grace window returning
    the same new pair would keep the new tokens in a store in clear, and one handing out a
    second pair lets a thief race the client. So the losers get invalid_grant and revoke the
    family: the winner's new tokens die too, and the client signs in again."""
    tokens = _tokens(provider, rp, user)
    results: list[dict] = []
    barrier = threading.Barrier(RACERS)

    def refresh() -> None:
        barrier.wait()
        results.append(rp.refresh(tokens["refresh_token"]))

    threads = [threading.Thread(target=refresh) for _ in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r["_status"] for r in results) == [200] + [400] * (RACERS - 1)
    winner = next(r for r in results if r["_status"] == 200)
    assert rp.introspect(winner["access_token"]) == {"active": False}
    assert rp.refresh(winner["refresh_token"])["error"] == "invalid_grant"


@pytest.mark.covers("O1")
def test_O1_another_clients_refresh_token_is_refused_and_left_alone(provider, rp, user):
    """A refresh token works for its own client only; another client presenting it gets
    invalid_grant and neither spends nor revokes it."""
    tokens = _tokens(provider, rp, user)
    other = provider.new_client()
    refused = other.refresh(tokens["refresh_token"])
    assert refused["_status"] == 400 and refused["error"] == "invalid_grant"
    assert rp.refresh(tokens["refresh_token"])["_status"] == 200


@pytest.mark.covers("O1")
def test_O1_an_expired_refresh_token_is_refused(provider, rp, user):
    tokens = _tokens(provider, rp, user)
    ttl = provider.app.extensions["idp.settings"].refresh_token_ttl
    with time_machine.travel(timedelta(seconds=ttl + 1), tick=True):
        late = rp.refresh(tokens["refresh_token"])
    assert late["_status"] == 400 and late["error"] == "invalid_grant"


@pytest.mark.covers("O1", "X7")
def test_O1_X7_a_revoked_familys_refresh_token_is_refused(provider, rp, user):
    tokens = _tokens(provider, rp, user)
    assert rp.revoke(tokens["refresh_token"]).status_code == 200  # revokes the family
    refused = rp.refresh(tokens["refresh_token"])
    assert refused["_status"] == 400 and refused["error"] == "invalid_grant"
