"""G7 (its ground), O1: service clients — a confidential client of one contract gets an
admin-scoped access token by the client-credentials grant (RFC 6749 §4.4), as the admin API's
callers will; a relying party cannot, a service client never signs a person in, and a person's
client never holds admin scopes."""

from __future__ import annotations

import time
import uuid

import pytest
import requests
from sqlalchemy import update

from idp import extensions
from idp.actor import Actor
from idp.clients import add_client
from idp.contracts.life import cancel_contract
from idp.errors import ProvisioningError
from idp.models import Contract
from idp.models import db
from idp.oidc.client_cache import CLIENT_TTL
from tests.helpers import RelyingParty

TIMEOUT = 10


def service_client(provider, contract_id, scope="admin:read admin:write"):
    client_id = f"svc-{uuid.uuid4().hex[:8]}"
    with provider.app.app_context():
        _client, secret = add_client(
            Actor.cli(),
            "Directory sync",
            [],
            [],
            client_id=client_id,
            grant_types=["client_credentials"],
            contract_id=contract_id,
            scope=scope,
        )
    return RelyingParty(provider.url, client_id, secret, "")


def client_credentials(client, **data):
    return client.token_request({"grant_type": "client_credentials", **data})


def test_G7_O1_service_client_gets_a_contract_bound_token_without_refresh(provider):
    contract_id = provider.new_contract()
    client = service_client(provider, contract_id)
    assert "client_credentials" in client.metadata["grant_types_supported"]
    assert {"admin:read", "admin:write"} <= set(client.metadata["scopes_supported"])
    tokens = client_credentials(client)
    assert tokens["_status"] == 200, tokens
    assert tokens["token_type"].lower() == "bearer"
    assert tokens["scope"] == "admin:read admin:write"  # §3.3: the registered scope
    assert "refresh_token" not in tokens and "id_token" not in tokens
    introspected = client.introspect(tokens["access_token"])
    assert introspected["active"] is True
    assert introspected["contract_id"] == contract_id
    assert introspected["client_id"] == client.client_id
    assert "sub" not in introspected  # no person behind it
    narrower = client_credentials(client, scope="admin:read")
    assert narrower["_status"] == 200 and narrower["scope"] == "admin:read"


def test_G7_client_secret_post_works_and_a_wrong_secret_is_invalid_client(provider):
    client = service_client(provider, provider.new_contract())
    posted = requests.post(
        client.metadata["token_endpoint"],
        data={
            "grant_type": "client_credentials",
            "client_id": client.client_id,
            "client_secret": client.secret,
        },
        timeout=TIMEOUT,
    )
    assert posted.status_code == 200, posted.text
    client.secret = "not-the-secret-at-all"
    wrong = client_credentials(client)
    assert wrong["_status"] == 401 and wrong["error"] == "invalid_client"


def test_G7_a_scope_beyond_the_registration_is_invalid_scope(provider):
    """RFC 6749 §5.2: asked for more than it may have, the client gets an error, not a
    quietly narrower token."""
    client = service_client(provider, provider.new_contract(), scope="admin:read")
    for scope in ("admin:write", "admin:read admin:write", "openid"):
        answer = client_credentials(client, scope=scope)
        assert answer["_status"] == 400 and answer["error"] == "invalid_scope", (scope, answer)


def test_G7_a_relying_party_cannot_use_client_credentials(provider, rp):
    answer = client_credentials(rp)
    assert answer["_status"] == 400 and answer["error"] == "unauthorized_client"


def test_G7_a_service_client_never_sends_a_person_to_authorize(provider):
    client = service_client(provider, provider.new_contract())
    response = requests.get(
        f"{provider.url}/authorize",
        params={
            "client_id": client.client_id,
            "response_type": "code",
            "scope": "openid",
            "redirect_uri": "https://attacker.example/cb",
            "code_challenge": "x" * 43,
            "code_challenge_method": "S256",
        },
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    with provider.app.app_context():
        from idp.clients import get_client

        assert get_client(client.client_id).check_response_type("code") is False


def test_G7_a_service_token_is_no_persons_token(provider):
    client = service_client(provider, provider.new_contract())
    token = client_credentials(client)["access_token"]
    assert client.userinfo(token).status_code in (401, 403)


def test_G7_C3_a_cancelled_contracts_service_token_stops_working(provider):
    contract_id = provider.new_contract()
    client = service_client(provider, contract_id)
    token = client_credentials(client)["access_token"]
    with provider.app.app_context():
        cancel_contract(Actor.cli(), contract_id)
    answer = client_credentials(client)
    assert answer["_status"] == 401 and answer["error"] == "invalid_client"
    # The token already out is dead too (asked by the resource server's own check, since the
    # client itself can no longer authenticate to introspect it).
    with provider.app.test_request_context():
        from idp.oidc.tokens import find_access_token

        assert find_access_token(token).is_revoked()


@pytest.mark.covers("G7", "C3")
def test_G7_C3_a_contract_ended_elsewhere_refuses_its_client_within_the_cache_bound(provider):
    """The token endpoint keeps a client with its contract's state for CLIENT_TTL (issue 13;
    a change committed through this process's session drops it at once, as the test above
    shows). A cancellation committed elsewhere -- here straight in the database, as ``idp``
    on the command line or another node would commit it, unseen by this process -- refuses
    the client once that bound has passed: the cache's clock is moved, nobody waits."""
    contract_id = provider.new_contract()
    client = service_client(provider, contract_id)
    assert client_credentials(client)["_status"] == 200  # the client is cached now
    with provider.app.app_context():
        engine = db.engine
    with engine.begin() as connection:
        connection.execute(
            update(Contract).where(Contract.id == contract_id).values(status="cancelled")
        )
    cache = extensions.clients.of(provider.app)
    cache.clock = lambda: time.monotonic() + CLIENT_TTL + 1
    try:
        answer = client_credentials(client)
    finally:
        cache.clock = time.monotonic
    assert answer["_status"] == 401 and answer["error"] == "invalid_client"


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"scope": "openid admin:read"}, "not_a_service_client"),  # a relying party
        ({"contract": True}, "not_a_service_client"),
        ({"grant_types": ["client_credentials"], "redirect": True}, "bad_service_client"),
        ({"grant_types": ["client_credentials", "authorization_code"]}, "bad_service_client"),
        ({"grant_types": ["client_credentials"], "public": True}, "bad_service_client"),
        ({"grant_types": ["client_credentials"]}, "bad_contract"),
        ({"grant_types": ["client_credentials"], "contract": True, "scope": "openid"}, "bad_scope"),
        ({"grant_types": ["password"]}, "bad_grant"),
    ],
)
def test_G7_registration_keeps_people_and_services_apart(provider, values, reason):
    contract_id = provider.new_contract()
    values = dict(values)
    kwargs = {
        "grant_types": values.pop("grant_types", None),
        "scope": values.pop("scope", None),
        "contract_id": contract_id if values.pop("contract", False) else None,
        "public": values.pop("public", False),
    }
    grants = kwargs["grant_types"] or []
    is_service = "client_credentials" in grants
    redirect = values.pop("redirect", False) or not is_service
    with provider.app.app_context(), pytest.raises(ProvisioningError) as refused:
        add_client(
            Actor.cli(),
            "x",
            ["https://rp.example/cb"] if redirect else [],
            [],
            **kwargs,
        )
    assert refused.value.reason == reason
