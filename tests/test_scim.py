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
from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import Error
from scim2_models import ListResponse
from scim2_models import PatchOp
from scim2_models import PatchOperation
from scim2_models import ResourceType
from scim2_models import Schema
from scim2_models import SCIMException
from scim2_models import ScimFilter
from scim2_models import SearchRequest
from scim2_models import ServiceProviderConfig
from scim2_models import User as ScimUser

from idp.actor import Actor
from idp.contracts.life import cancel_contract
from idp.contracts.scim_tokens import issue_scim_token
from idp.contracts.scim_tokens import revoke_scim_tokens
from idp.errors import NotFoundError
from idp.models import AuditEvent
from idp.models import Invitation
from idp.models import User
from idp.users.disable import disable_user
from idp.users.provisioning import request_directory_email_change
from idp.users.provisioning import update_profile
from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.test_backchannel_logout import Receiver
from tests.test_backchannel_logout import validate_logout_token
from tests.test_backchannel_logout import wait_for_deliveries

PREFIX = "/scim/v2"
TIMEOUT = 10
SCIM_JSON = "application/scim+json"
USER = b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], '
PATCH_OP = b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], '


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
    kept = {
        a.name: [s.name for s in a.sub_attributes or []] for a in schemas.resources[0].attributes
    }
    assert kept == {
        "userName": [],
        "name": ["formatted", "familyName", "givenName"],
        "displayName": [],
        "preferredLanguage": [],
        "active": [],
        "emails": ["value", "display", "type", "primary"],
    }
    answer = raw(provider, "GET", "/ServiceProviderConfig", directory["token"])
    assert answer.headers["Content-Type"] == SCIM_JSON
    assert answer.json()["meta"]["location"] == f"{provider.url}{PREFIX}/ServiceProviderConfig"


def create(client, email: str, **values: Any) -> ScimUser:
    return client.create(ScimUser(user_name=email, **values))


@pytest.mark.covers("G7", "L10")
def test_G7_L10_a_created_user_is_invited_and_mailed_the_registration_link(
    provider, directory, mailbox
):
    client, email = directory["client"], new_email()
    created = create(
        client,
        email,
        name={"formatted": "プロビ 太郎"},
        external_id="entra-0001",
        preferred_language="en-US",
    )
    assert created.id and created.user_name == email and created.active is True
    assert created.name.formatted == "プロビ 太郎" and created.external_id == "entra-0001"
    assert [(e.value, e.primary) for e in created.emails] == [(email, True)]
    assert created.meta.location == f"{provider.url}{PREFIX}/Users/{created.id}"
    assert created.meta.version and created.meta.resource_type == "User"
    mail = mailbox.wait_for(to=email)
    assert "/links/" in " ".join(mailbox.links_in(mail))
    with provider.app.app_context():
        session = provider.db().session
        user = session.get(User, created.id)
        assert user.contract_id == directory["contract_id"] and user.locale == "en"
        assert user.password_hash is None  # cannot sign in before registering (L10)
        assert session.query(Invitation).filter_by(user_id=user.id).one().registered_at is None
        (invited,) = session.query(AuditEvent).filter_by(user_id=user.id, event="user_invite")
        assert invited.details["actor"]["kind"] == "scim"
        assert invited.details["actor"]["contract_id"] == directory["contract_id"]
    again = raw(
        provider,
        "POST",
        "/Users",
        directory["token"],
        json={"schemas": [ScimUser.__schema__], "userName": email.upper()},
    )
    assert again.status_code == 409 and again.json()["scimType"] == "uniqueness"


@pytest.mark.covers("G7", "G8")
def test_G7_an_address_of_another_contract_is_taken_too(provider, directory):
    _id, elsewhere = provider.new_user(provider.new_contract())
    answer = raw(
        provider,
        "POST",
        "/Users",
        directory["token"],
        json={"schemas": [ScimUser.__schema__], "userName": elsewhere},
    )
    assert answer.status_code == 409 and answer.json()["scimType"] == "uniqueness"
    assert directory["contract_id"] not in answer.text


def search(client, **values: Any) -> ListResponse:
    return client.query(ScimUser, query_parameters=SearchRequest(**values))


@pytest.mark.covers("G7", "G8")
def test_G7_list_filter_and_page_through_the_contracts_users(provider, directory):
    client = directory["client"]
    made = [
        create(client, new_email(), name={"formatted": f"一覧 {i}"}, external_id=f"ext-{i}")
        for i in range(5)
    ]
    provider.new_user(provider.new_contract())  # another contract's: never listed
    everyone = search(client)
    assert everyone.total_results == 6  # the five and the contractor
    ids = {u.id for u in everyone.resources}
    assert ids == {u.id for u in made} | {directory["contractor_id"]}

    target = made[2]
    by_name = search(client, filter=f'userName eq "{target.user_name.upper()}"')
    assert [u.id for u in by_name.resources] == [target.id]  # case-insensitive (L2)
    by_email = search(client, filter=f'emails.value eq "{target.user_name}"')
    assert [u.id for u in by_email.resources] == [target.id]
    by_value_path = search(client, filter=f'emails[value eq "{target.user_name}"]')
    assert [u.id for u in by_value_path.resources] == [target.id]
    by_external = search(client, filter='externalId eq "ext-3"')
    assert [u.id for u in by_external.resources] == [made[3].id]
    assert search(client, filter='externalId eq "EXT-3"').total_results == 0  # caseExact
    either = search(client, filter='externalId eq "ext-0" or externalId eq "ext-4"')
    assert {u.id for u in either.resources} == {made[0].id, made[4].id}
    both = search(client, filter='active eq true and name.formatted sw "一覧"')
    assert both.total_results == 5
    assert search(client, filter="active eq false").total_results == 0
    assert search(client, filter="not (externalId pr)").total_results == 1  # the contractor

    first = search(client, filter="externalId pr", start_index=1, count=2)
    second = search(client, filter="externalId pr", start_index=3, count=2)
    third = search(client, filter="externalId pr", start_index=5, count=2)
    assert (first.total_results, first.items_per_page, first.start_index) == (5, 2, 1)
    assert (third.items_per_page, third.start_index) == (1, 5)
    paged = [u.id for page in (first, second, third) for u in page.resources]
    assert sorted(paged) == sorted(u.id for u in made)

    only = raw(
        provider,
        "GET",
        "/Users",
        directory["token"],
        params={"filter": 'externalId eq "ext-1"', "attributes": "userName"},
    ).json()
    (resource,) = only["Resources"]
    assert set(resource) == {"schemas", "id", "userName"}  # id is always returned
    without = raw(
        provider,
        "GET",
        f"/Users/{made[1].id}",
        directory["token"],
        params={"excludedAttributes": "emails,name"},
    ).json()
    assert "emails" not in without and "name" not in without and without["externalId"] == "ext-1"


@pytest.mark.covers("G7")
@pytest.mark.parametrize(
    "bad",
    [
        'userName eq "unterminated',
        "userName eq",
        'nosuchattribute eq "x"',
        'title eq "engineer"',  # a User attribute we do not keep
        "active gt true",
        'externalId gt "a"',  # strings are not ordered here (each database collates its own way)
        'active eq "yes"',
        'meta.created gt "yesterday"',
        'emails[type eq "work"',
        "((((",
    ],
)
def test_G7_a_bad_filter_is_400_invalidFilter(provider, directory, bad):
    answer = raw(provider, "GET", "/Users", directory["token"], params={"filter": bad})
    assert answer.status_code == 400, answer.text
    assert answer.headers["Content-Type"] == SCIM_JSON
    body = Error.model_validate(answer.json())
    assert body.scim_type == "invalidFilter" and body.detail


def patch_op(*operations: dict[str, Any]) -> PatchOp:
    return PatchOp[ScimUser](operations=[PatchOperation(**op) for op in operations])


@pytest.mark.covers("G7", "M2")
def test_G7_patch_replaces_and_removes_name_and_external_id(provider, directory, mailbox):
    client = directory["client"]
    created = create(client, new_email(), name={"formatted": "旧 名前"}, external_id="old-id")
    changed = client.modify(
        ScimUser,
        created.id,
        patch_op(
            {"op": "replace", "path": "name.formatted", "value": "新 名前"},
            {"op": "replace", "path": "externalId", "value": "new-id"},
        ),
    )
    assert changed.name.formatted == "新 名前" and changed.external_id == "new-id"
    assert changed.meta.version != created.meta.version
    removed = client.modify(ScimUser, created.id, patch_op({"op": "remove", "path": "externalId"}))
    assert removed.external_id is None
    # Entra ID's form: no path, the attributes in the value; names by their parts.
    entra = client.modify(
        ScimUser,
        created.id,
        patch_op(
            {
                "op": "add",
                "value": {
                    "name.givenName": "花子",
                    "name.familyName": "山田",
                    "externalId": "e",
                    "preferredLanguage": "en",
                },
            }
        ),
    )
    assert entra.external_id == "e" and entra.name.formatted == "山田 花子"  # family first
    with provider.app.app_context():
        user = provider.db().session.get(User, created.id)
        assert (user.name, user.external_id, user.locale) == (entra.name.formatted, "e", "en")
        events = (
            provider.db()
            .session.query(AuditEvent)
            .filter_by(user_id=created.id, event="user_profile")
        )
        assert [e.details["actor"]["kind"] for e in events] == ["scim"] * 4


@pytest.mark.covers("G7", "M2", "M7")
def test_G7_M2_an_address_change_mails_the_link_to_the_new_address_once(
    provider, directory, mailbox
):
    """The directory asks; the person confirms at the new address (M2, M7, X4). Until then
    the resource keeps the address the person signs in with, and the directory repeating its
    request (each synchronisation) sends no second mail."""
    client = directory["client"]
    user_id, old = provider.new_user(directory["contract_id"], name="住所 変更")
    new = new_email()
    for _sync in range(2):
        answer = client.modify(
            ScimUser, user_id, patch_op({"op": "replace", "path": "userName", "value": new})
        )
        assert answer.user_name == old
    mail = mailbox.wait_for(to=new)
    assert "/links/" in " ".join(mailbox.links_in(mail))
    with provider.app.app_context():
        requested = (
            provider.db()
            .session.query(AuditEvent)
            .filter_by(user_id=user_id, event="email_change_requested", outcome="ok")
        )
        assert requested.count() == 1
    assert [m for m in mailbox.messages if new in m["To"]] == [mail]
    invited = create(client, new_email())
    refused = raw(
        provider,
        "PATCH",
        f"/Users/{invited.id}",
        directory["token"],
        json=patch_op({"op": "replace", "path": "userName", "value": new_email()}).model_dump(),
    )
    # L10: an invitation is corrected by deleting it and creating the right address.
    assert refused.status_code == 400 and refused.json()["scimType"] == "mutability"


@pytest.mark.covers("G7")
def test_G7_put_replaces_the_user_and_etags_guard_every_write(provider, directory):
    client = directory["client"]
    created = create(client, new_email(), name={"formatted": "置換 前"}, external_id="x1")
    token = directory["token"]
    read = raw(provider, "GET", f"/Users/{created.id}", token)
    etag = read.headers["ETag"]
    assert etag == read.json()["meta"]["version"] == created.meta.version
    not_modified = raw(
        provider, "GET", f"/Users/{created.id}", token, headers={"If-None-Match": etag}
    )
    assert not_modified.status_code == 304

    replacement = ScimUser(user_name=created.user_name, display_name="置換 後")
    replacement.id = created.id
    replacement.meta = created.meta  # the client sends If-Match with the version it read
    replaced = client.replace(replacement)
    assert replaced.name.formatted == "置換 後" and replaced.external_id is None  # PUT: all
    assert replaced.meta.version != etag

    body = {"schemas": [ScimUser.__schema__], "userName": created.user_name, "externalId": "y"}
    stale = {"If-Match": etag}
    assert (
        raw(provider, "PUT", f"/Users/{created.id}", token, json=body, headers=stale).status_code
        == 412
    )
    patch = patch_op({"op": "replace", "path": "externalId", "value": "z"}).model_dump()
    answer = raw(provider, "PATCH", f"/Users/{created.id}", token, json=patch, headers=stale)
    assert answer.status_code == 412 and answer.headers["Content-Type"] == SCIM_JSON
    assert raw(provider, "DELETE", f"/Users/{created.id}", token, headers=stale).status_code == 412
    current = {"If-Match": replaced.meta.version}
    assert (
        raw(
            provider, "PATCH", f"/Users/{created.id}", token, json=patch, headers=current
        ).status_code
        == 200
    )
    with provider.app.app_context():
        assert provider.db().session.get(User, created.id).external_id == "z"


@pytest.mark.covers("G7", "X7", "G4")
def test_G7_X7_delete_ends_the_user_and_tells_the_relying_party(provider, directory):
    client = directory["client"]
    user_id, email = provider.new_user(directory["contract_id"])
    receiver = Receiver().start()
    try:
        rp = provider.new_client(backchannel_logout_uri=receiver.url)
        issued = rp.login_tokens(Browser(provider.url), email, PASSWORD)
        client.delete(ScimUser, user_id)
        wait_for_deliveries(provider)
        (token,) = receiver.tokens()
    finally:
        receiver.stop()
    assert validate_logout_token(provider, token, rp.client_id, set())["sub"] == user_id
    assert rp.refresh(issued["refresh_token"])["error"] == "invalid_grant"
    with pytest.raises(SCIMException) as gone:
        client.query(ScimUser, user_id)
    assert gone.value.to_error().status == 404
    with provider.app.app_context():
        assert provider.db().session.get(User, user_id) is None
        (event,) = (
            provider.db().session.query(AuditEvent).filter_by(user_id=user_id, event="user_delete")
        )
        assert event.details["actor"]["kind"] == "scim"


@pytest.mark.covers("G7", "G8")
def test_G7_the_contractor_is_neither_deleted_nor_deactivated_nor_readdressed(provider, directory):
    token, contractor = directory["token"], directory["contractor_id"]
    deleted = raw(provider, "DELETE", f"/Users/{contractor}", token)
    assert deleted.status_code == 403 and deleted.headers["Content-Type"] == SCIM_JSON
    readdress = patch_op({"op": "replace", "path": "userName", "value": new_email()})
    answer = raw(provider, "PATCH", f"/Users/{contractor}", token, json=readdress.model_dump())
    assert answer.status_code == 403
    deactivate = patch_op({"op": "replace", "path": "active", "value": False})
    answer = raw(provider, "PATCH", f"/Users/{contractor}", token, json=deactivate.model_dump())
    assert answer.status_code == 403
    with provider.app.app_context():
        row = provider.db().session.get(User, contractor)
        assert row is not None and row.disabled_at is None


@pytest.mark.covers("G8")
def test_G8_another_contracts_token_sees_nothing_of_this_one(provider, directory):
    user_id, email = provider.new_user(directory["contract_id"])
    other = scim_token(provider, provider.new_contract())
    listing = raw(provider, "GET", "/Users", other, params={"filter": f'userName eq "{email}"'})
    assert listing.status_code == 200 and listing.json()["totalResults"] == 0
    assert raw(provider, "GET", "/Users", other).json()["totalResults"] == 0
    body = {"schemas": [ScimUser.__schema__], "userName": email, "externalId": "taken-over"}
    patch = patch_op({"op": "replace", "path": "externalId", "value": "taken-over"}).model_dump()
    for method, kwargs in (
        ("GET", {}),
        ("PUT", {"json": body}),
        ("PATCH", {"json": patch}),
        ("DELETE", {}),
    ):
        answer = raw(provider, method, f"/Users/{user_id}", other, **kwargs)
        assert answer.status_code == 404, (method, answer.text)
        assert answer.headers["Content-Type"] == SCIM_JSON
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        assert user is not None and user.external_id is None


@pytest.mark.covers("G7")
def test_G7_tokens_are_checked_and_a_revoked_token_is_refused(provider, directory):
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}):
        answer = raw(provider, "GET", "/Users", headers=headers)
        assert answer.status_code == 401 and answer.headers["Content-Type"] == SCIM_JSON
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert raw(provider, "GET", "/Users", "wdscim_not-a-token").status_code == 401
    token = directory["token"]
    spare = scim_token(provider, directory["contract_id"])
    with provider.app.app_context():
        revoked = revoke_scim_tokens(Actor.cli(), directory["contract_id"])
    assert revoked == 2
    answer = raw(provider, "GET", "/Users", token)
    assert (
        answer.status_code == 401 and 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    )
    assert raw(provider, "GET", "/ServiceProviderConfig", spare).status_code == 401
    with provider.app.app_context():
        assert token not in str(
            [
                e.details
                for e in provider.db().session.query(AuditEvent).filter_by(event="scim_token_issue")
            ]
        )


@pytest.mark.covers("G7")
@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("POST", b"{not json"),
        ("POST", b"[]"),
        ("POST", b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}'),
        ("POST", b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": 7}'),
        (
            "POST",
            b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "no-at"}',
        ),
        (
            "POST",
            b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "a@x.jp",'
            b' "emails": [{"value": "b@x.jp", "primary": true}]}',
        ),
        (
            "POST",
            b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "c@x.jp",'
            b' "externalId": "' + b"e" * 300 + b'"}',
        ),
        ("PATCH", b'{"Operations": "nope"}'),
        (
            "PATCH",
            PATCH_OP + b'"Operations": [{"op": "explode"}]}',
        ),
        (
            "PATCH",
            b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],'
            b' "Operations": [{"op": "replace", "path": "id", "value": "x"}]}',
        ),
        (
            "PATCH",
            b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],'
            b' "Operations": [{"op": "replace", "path": "name.formatted", "value": "a\\u0000b"}]}',
        ),
        ("PUT", b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}'),
        ("PUT", b"\xff\xfe"),
    ],
)
def test_G7_malformed_requests_are_scim_errors_never_5xx(provider, directory, method, body):
    path = "/Users"
    if method != "POST":
        path = f"/Users/{provider.new_user(directory['contract_id'])[0]}"
    answer = raw(
        provider,
        method,
        path,
        directory["token"],
        data=body,
        headers={"Content-Type": SCIM_JSON},
    )
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.headers["Content-Type"] == SCIM_JSON
    error = Error.model_validate(answer.json())
    assert int(error.status) == answer.status_code and error.detail


@pytest.mark.covers("G7")
def test_G7_unknown_endpoints_and_odd_parameters_are_scim_errors(provider, directory):
    token = directory["token"]
    for path in ("/Groups", "/Bulk", "/Me", "/Users/x/y"):
        answer = raw(provider, "GET", path, token)
        assert answer.status_code == 404 and answer.headers["Content-Type"] == SCIM_JSON
    # Found by scim2-tester: a served endpoint asked with another method is 405, not 404.
    for method, path in (
        ("POST", "/Schemas"),
        ("DELETE", "/ServiceProviderConfig"),
        ("POST", "/Users/x"),
    ):
        answer = raw(provider, method, path, token)
        assert answer.status_code == 405 and answer.headers["Content-Type"] == SCIM_JSON
    for params in (
        {"count": "-5"},
        {"count": "abc"},
        {"startIndex": "0"},
        {"startIndex": "99999999999999999999"},
        {"count": "100000"},
        {"attributes": "nosuch"},
        {"filter": 'userName eq "a\x00b"'},
    ):
        answer = raw(provider, "GET", "/Users", token, params=params)
        assert answer.status_code < 500, (params, answer.text)
        assert answer.headers["Content-Type"] == SCIM_JSON


@pytest.mark.covers("G8")
def test_G8_the_provisioning_functions_refuse_another_contracts_actor(provider, directory):
    """The domain checks the actor's contract too, not only the SCIM views' lookup."""
    user_id, _ = provider.new_user(directory["contract_id"])
    stranger = Actor.scim("t-other", provider.new_contract())
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        with pytest.raises(NotFoundError):
            update_profile(stranger, user, "乗っ取り", "x")
        with pytest.raises(NotFoundError):
            request_directory_email_change(stranger, user, new_email())
        with pytest.raises(NotFoundError):
            issue_scim_token(stranger, directory["contract_id"])
        with pytest.raises(NotFoundError):
            revoke_scim_tokens(stranger, directory["contract_id"])
        user = provider.db().session.get(User, user_id)
        assert (user.name, user.external_id) == ("", None)
    assert raw(provider, "GET", "/Users", directory["token"]).status_code == 200


@pytest.mark.covers("G7", "C3")
def test_G7_C3_a_cancelled_contracts_tokens_stop_working(provider):
    contract_id = provider.new_contract()
    contractor_id, _ = provider.new_user(contract_id, role="contractor")
    token = scim_token(provider, contract_id)
    assert raw(provider, "GET", "/Users", token).status_code == 200
    with provider.app.app_context():
        cancel_contract(Actor.user(contractor_id, contract_id), contract_id)
    assert raw(provider, "GET", "/Users", token).status_code == 401


# --- the filter's SQL against scim2-models' own evaluation (property test) -----------------

LETTERS = "aAbB"
TEXT = st.text(alphabet=LETTERS, max_size=3)
STRING_ATTRIBUTES = ("userName", "name.formatted", "displayName", "externalId")
COMPARISON = st.builds(
    lambda attr, op, value: f"{attr} {op} {ScimFilter.quote(value)}",
    st.sampled_from(STRING_ATTRIBUTES),
    st.sampled_from(["eq", "ne", "co", "sw", "ew"]),
    TEXT,
)
OTHER = st.sampled_from(
    [
        "externalId pr",
        "name.formatted pr",
        "displayName pr",
        "userName pr",
        "active eq true",
        "active eq false",
        "active ne false",
        "externalId eq null",
        "externalId ne null",
    ]
)
FILTERS = st.recursive(
    COMPARISON | OTHER,
    lambda inner: (
        st.builds(lambda a, b: f"({a}) and ({b})", inner, inner)
        | st.builds(lambda a, b: f"({a}) or ({b})", inner, inner)
        | st.builds(lambda a: f"not ({a})", inner)
    ),
    max_leaves=4,
)


@pytest.mark.covers("G7")
def test_G7_filters_select_exactly_the_users_scim2_models_says_match(provider):
    """For generated filters (case-exact and case-insensitive attributes, absent values,
    and/or/not), the SQL condition selects exactly the users whose SCIM resource
    ``ScimFilter.match`` (the library's reference evaluation) accepts — on both databases."""
    from sqlalchemy import select

    from idp.scim.filters import user_condition
    from idp.scim.resources import to_scim
    from idp.users.provisioning import update_profile as set_profile

    contract_id = provider.new_contract()
    names = ["", "ab", "AB", "Ba", "aab", "b"]
    externals = [None, "a", "A", "ab", "bA", "aBa"]
    with provider.app.app_context():
        for i, (name, external) in enumerate(zip(names, externals, strict=True)):
            local = "".join(LETTERS[(i + k) % 4] for k in range(i % 3 + 1))
            user_id, _ = provider.new_user(contract_id, email=f"{local}{uuid.uuid4().hex[:4]}@x.jp")
            user = provider.db().session.get(User, user_id)
            set_profile(Actor.cli(), user, name, external)
            if i % 2:
                disable_user(Actor.cli(), user)  # active false (G4)
        users = provider.db().session.scalars(select(User).filter_by(contract_id=contract_id)).all()
        resources = {user.id: to_scim(user) for user in users}

        @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(FILTERS)
        def check(expression):
            parsed = ScimFilter[ScimUser](expression)
            expected = {uid for uid, resource in resources.items() if parsed.match(resource)}
            selected = set(
                provider.db().session.scalars(
                    select(User.id).where(
                        User.contract_id == contract_id, user_condition(parsed.ast)
                    )
                )
            )
            assert selected == expected, expression

        check()


def refused_with(response, reason):
    return response.status_code == 403 and f'data-reason="{reason}"' in response.text


@pytest.mark.covers("G7", "G4", "X7")
def test_G7_G4_active_false_disables_the_user_and_true_enables_them(provider, directory):
    """Entra ID and Okta deprovision by ``active: false`` first: the user signs in nowhere,
    every session ends and the relying party is told; ``true`` lets them in again."""
    client = directory["client"]
    user_id, email = provider.new_user(directory["contract_id"])
    receiver = Receiver().start()
    try:
        rp = provider.new_client(backchannel_logout_uri=receiver.url)
        issued = rp.login_tokens(Browser(provider.url), email, PASSWORD)
        off = client.modify(
            ScimUser, user_id, patch_op({"op": "replace", "path": "active", "value": False})
        )
        wait_for_deliveries(provider)
        (token,) = receiver.tokens()
    finally:
        receiver.stop()
    assert off.active is False
    assert validate_logout_token(provider, token, rp.client_id, set())["sub"] == user_id
    assert rp.refresh(issued["refresh_token"])["error"] == "invalid_grant"
    browser = Browser(provider.url)
    page = browser.get(rp.authorize_url())
    refused = browser.submit(page, "password-form", email=email, password=PASSWORD)
    assert refused_with(refused, "disabled"), refused.text[:300]
    inactive = search(client, filter="active eq false")
    assert [u.id for u in inactive.resources] == [user_id]
    assert user_id not in {u.id for u in search(client, filter="active eq true").resources}
    # Repeated by the next synchronisation: nothing more happens.
    again = client.modify(
        ScimUser, user_id, patch_op({"op": "replace", "path": "active", "value": False})
    )
    assert again.active is False

    on = client.modify(
        ScimUser, user_id, patch_op({"op": "replace", "path": "active", "value": True})
    )
    assert on.active is True
    assert rp.login_tokens(Browser(provider.url), email, PASSWORD)["access_token"]
    created_off = create(client, new_email(), active=False)
    assert created_off.active is False
    with provider.app.app_context():
        rows = provider.db().session.query(AuditEvent).filter_by(user_id=user_id)
        seen = [
            (r.event, r.outcome, r.details["actor"]["kind"]) for r in rows if "actor" in r.details
        ]
    assert ("user_disable", "ok", "scim") in seen and ("user_enable", "ok", "scim") in seen
    assert seen.count(("user_disable", "ok", "scim")) == 1
