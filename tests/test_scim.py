"""G7, G8, L10, X7: SCIM 2.0 provisioning (RFC 7643/7644) as a customer's directory sees it,
through an independent SCIM client library (scim2-client over HTTP, httpx2): discovery,
creating a user (an invitation mail), listing with filters and paging, PATCH and PUT, ETags,
deleting (the relying party is told), per-contract bearer tokens and their revocation, and
SCIM errors (RFC 7644 §3.12) for bad input, never a 5xx."""

from __future__ import annotations

import uuid
from typing import Any

import httpx2
import pytest
import requests
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import ResourceType
from scim2_models import Schema
from scim2_models import ServiceProviderConfig

from idp.actor import Actor
from idp.contracts.scim_tokens import issue_scim_token

PREFIX = "/scim/v2"
TIMEOUT = 10
SCIM_JSON = "application/scim+json"
INVITATION_SUBJECT = "【WORKSDRIVE】利用者登録のご案内"


def scim_token(provider, contract_id: str) -> str:
    with provider.app.app_context():
        _row, token = issue_scim_token(Actor.cli(), contract_id)
    return token


def scim_client(provider, token: str) -> SyncSCIMClient:
    """The directory's client: discovers the service, then speaks SCIM over HTTP."""
    http = httpx2.Client(
        base_url=f"{provider.url}{PREFIX}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    )
    client = SyncSCIMClient(http)
    client.discover()
    return client


def raw(provider, method: str, path: str, token: str | None = None, **kwargs: Any):
    headers = kwargs.pop("headers", {})
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(
        method, f"{provider.url}{PREFIX}{path}", headers=headers, timeout=TIMEOUT, **kwargs
    )


def new_email() -> str:
    return f"scim-{uuid.uuid4().hex[:10]}@example.jp"


@pytest.fixture()
def directory(provider):
    """A contract with its contractor and a SCIM client holding its token."""
    contract_id = provider.new_contract()
    contractor_id, _ = provider.new_user(contract_id, role="contractor")
    token = scim_token(provider, contract_id)
    return {
        "contract_id": contract_id,
        "contractor_id": contractor_id,
        "token": token,
        "client": scim_client(provider, token),
    }


@pytest.mark.covers("G7")
def test_G7_discovery_endpoints_describe_users_filter_patch_and_etags(provider, directory):
    client = directory["client"]
    config = client.query(ServiceProviderConfig)
    assert config.patch.supported and config.filter.supported and config.etag.supported
    assert not config.bulk.supported and not config.change_password.supported
    assert config.authentication_schemes[0].type == "oauthbearertoken"
    types = client.query(ResourceType)
    assert [(t.name, t.endpoint) for t in types.resources] == [("User", "/Users")]
    schemas = client.query(Schema)
    assert [s.id for s in schemas.resources] == ["urn:ietf:params:scim:schemas:core:2.0:User"]
    answer = raw(provider, "GET", "/ServiceProviderConfig", directory["token"])
    assert answer.headers["Content-Type"] == SCIM_JSON
    assert answer.json()["meta"]["location"] == f"{provider.url}{PREFIX}/ServiceProviderConfig"
