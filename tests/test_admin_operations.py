"""G4, G3, G7, G8, M2, T2, X7: the per-user admin operations as an administrator, a service
client and the operator use them — through the admin API (a service client's token) and the
domain functions the console calls (a person's actor): who may do what to whom
(``policies/admin.py``), another contract's ids 404 for every operation, a read-only token
403, and what a disabled user and their relying parties observe."""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest
import requests

from idp.actor import Actor
from idp.errors import ConflictError
from idp.errors import ForbiddenError
from idp.errors import NotFoundError
from idp.models import AuditEvent
from idp.models import SecondFactor
from idp.models import User
from idp.twofactor.factors import add_factor
from idp.twofactor.factors import complete_enrollment
from idp.users.admin_operations import admin_delete_user
from idp.users.admin_operations import admin_invite_user
from idp.users.admin_operations import admin_resend_invitation
from idp.users.admin_operations import admin_reset_two_factor
from idp.users.admin_operations import admin_revoke_invitation
from idp.users.admin_operations import admin_sign_out_everywhere
from idp.users.admin_operations import admin_unlock
from idp.users.admin_operations import send_change_link
from idp.users.disable import disable_user
from idp.users.disable import enable_user
from idp.users.invitations import invite_user
from idp.users.roles import set_admin_privilege
from idp.vocabulary import Role
from tests.conftest import PASSWORD
from tests.facebook_double import FacebookUser
from tests.helpers import Browser
from tests.helpers import redirect_params
from tests.test_admin_api import PREFIX
from tests.test_admin_api import TIMEOUT
from tests.test_admin_api import assert_problem
from tests.test_admin_api import token_for
from tests.test_backchannel_logout import receivers  # noqa: F401 (a fixture)
from tests.test_backchannel_logout import validate_logout_token
from tests.test_backchannel_logout import wait_for_deliveries
from tests.test_brokered_login import facebook  # noqa: F401 (a fixture)
from tests.test_brokered_login import facebook_user
from tests.test_brokered_login import node  # noqa: F401 (a fixture)
from tests.test_brokered_login import through_facebook

#: Every write operation of the API on a user: (method, path after /users/{id}, body).
USER_OPERATIONS = [
    ("POST", "/unlock", None),
    ("POST", "/reset-two-factor", None),
    ("POST", "/sign-out", None),
    ("POST", "/disable", None),
    ("POST", "/enable", None),
    ("PUT", "/role", {"role": "admin"}),
    ("DELETE", "", None),
    ("POST", "/change-link", {}),
]


def call(provider, method, path, token, body=None):
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(
        method, f"{provider.url}{PREFIX}{path}", headers=headers, json=body, timeout=TIMEOUT
    )


def load(provider, user_id) -> User | None:
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        if user is not None:
            provider.db().session.expunge(user)
        return user


def act(provider, function, *args, **kwargs):
    """Run a domain function in the app, on a freshly loaded user (``args[1]`` an id)."""
    with provider.app.app_context():
        actor, target, *rest = args
        if isinstance(target, str) and len(target) == 32:
            target = provider.db().session.get(User, target) or target
        return function(actor, target, *rest, **kwargs)


def team(provider) -> dict[str, Any]:
    """A contract with its contractor, two admins and a user, and their actors."""
    contract_id = provider.new_contract()
    ids = {
        "contractor": provider.new_user(contract_id, role=Role.CONTRACTOR)[0],
        "admin": provider.new_user(contract_id, role=Role.ADMIN)[0],
        "admin2": provider.new_user(contract_id, role=Role.ADMIN)[0],
        "user": provider.new_user(contract_id)[0],
    }
    actors = {name: Actor.admin(user_id, contract_id) for name, user_id in ids.items()}
    return {"contract_id": contract_id, "ids": ids, "actors": actors}


def refusals(provider, actor: Actor, event: str) -> list[str | None]:
    with provider.app.app_context():
        rows = provider.db().session.query(AuditEvent).filter_by(event=event, outcome="refused")
        return [r.reason for r in rows if (r.details or {}).get("actor") == actor.as_details()]


# --- every operation through the API ---------------------------------------------------


@pytest.mark.covers("G4", "G7", "K1", "T2")
def test_G4_G7_unlock_reset_two_factor_and_role_through_the_api(provider):
    contract_id = provider.new_contract()
    user_id, _email = provider.new_user(contract_id)
    token = token_for(provider, contract_id)
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        add_factor(Actor.cli(), user, "sms", {"phone": "+819012345678"})
        complete_enrollment(Actor.cli(), user)
        user.locked_at = user.created_at
        provider.db().session.commit()

    assert call(provider, "POST", f"/users/{user_id}/unlock", token).status_code == 204
    assert load(provider, user_id).locked_at is None
    assert_problem(call(provider, "POST", f"/users/{user_id}/unlock", token), 409, "not_locked")

    assert call(provider, "POST", f"/users/{user_id}/reset-two-factor", token).status_code == 204
    assert load(provider, user_id).two_factor_enrolled_at is None
    with provider.app.app_context():
        assert provider.db().session.query(SecondFactor).filter_by(user_id=user_id).count() == 0

    granted = call(provider, "PUT", f"/users/{user_id}/role", token, {"role": "admin"})
    assert granted.status_code == 200 and granted.json() == {"id": user_id, "role": "admin"}
    again = call(provider, "PUT", f"/users/{user_id}/role", token, {"role": "admin"})
    assert_problem(again, 409, "already_admin")
    revoked = call(provider, "PUT", f"/users/{user_id}/role", token, {"role": "user"})
    assert revoked.json()["role"] == "user"
    for body in ({"role": "contractor"}, {"role": 1}, {}, {"role": "admin", "x": "y"}, None):
        assert_problem(call(provider, "PUT", f"/users/{user_id}/role", token, body), 400)
    detail = requests.get(
        f"{provider.url}{PREFIX}/users/{user_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=TIMEOUT,
    ).json()
    assert detail["role"] == "user" and detail["locked"] is False and detail["disabled_at"] is None


@pytest.mark.covers("M2", "M6", "M7", "G4", "G7")
def test_M2_same_or_no_email_mails_the_method_link_a_new_one_the_email_link(provider, mailbox):
    contract_id = provider.new_contract()
    user_id, email = provider.new_user(contract_id)
    token = token_for(provider, contract_id)
    for body in ({}, {"email": None}, {"email": email.upper()}):
        sent = call(provider, "POST", f"/users/{user_id}/change-link", token, body)
        assert sent.status_code == 202 and sent.json() == {"sent": "method_change"}, sent.text
    mailbox.wait_for(to=email, subject_contains="ログイン方法の設定変更")
    new = f"new-{uuid.uuid4().hex[:8]}@example.jp"
    sent = call(provider, "POST", f"/users/{user_id}/change-link", token, {"email": new})
    assert sent.status_code == 202 and sent.json() == {"sent": "email_change"}
    mailbox.wait_for(to=new, subject_contains="メールアドレス変更登録")
    assert load(provider, user_id).email == email  # nothing changes until the link is used
    bad = call(provider, "POST", f"/users/{user_id}/change-link", token, {"email": "no-at"})
    assert_problem(bad, 400, "invalid_email")


@pytest.mark.covers("G3", "G7", "L10")
def test_G3_G7_invite_and_resend_through_the_api(provider, mailbox):
    contract_id = provider.new_contract()
    token = token_for(provider, contract_id)
    email = f"inv-{uuid.uuid4().hex[:8]}@example.jp"
    body = {"email": email, "name": "招待 太郎", "role": "admin", "locale": "en"}
    created = call(provider, "POST", "/invitations", token, body)
    assert created.status_code == 201, created.text
    invitation = created.json()
    invited = load(provider, invitation["user_id"])
    assert invited.role == "admin" and invited.contract_id == contract_id
    mailbox.wait_for(to=email)
    mailbox.clear()
    resent = call(provider, "POST", f"/invitations/{invitation['id']}/resend", token)
    assert resent.status_code == 204
    mailbox.wait_for(to=email)
    assert_problem(call(provider, "POST", "/invitations", token, body), 400, "already_invited")
    assert call(provider, "DELETE", f"/invitations/{invitation['id']}", token).status_code == 204
    assert load(provider, invitation["user_id"]) is None  # the address may be invited again
    gone = call(provider, "POST", f"/invitations/{invitation['id']}/resend", token)
    assert_problem(gone, 404, "not_found")
    as_contractor = {"email": f"c-{uuid.uuid4().hex[:8]}@example.jp", "role": "contractor"}
    refused = call(provider, "POST", "/invitations", token, as_contractor)
    assert_problem(refused, 403, "forbidden")
    assert refused.json()["reason"] == "contractor_role"
    assert_problem(call(provider, "POST", "/invitations", token, {"name": "no email"}), 400)


@pytest.mark.covers("G4", "G7", "X7")
def test_G4_G7_sign_out_and_delete_through_the_api_end_tokens(provider, rp):
    contract_id = provider.new_contract()
    user_id, email = provider.new_user(contract_id)
    token = token_for(provider, contract_id)
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    assert call(provider, "POST", f"/users/{user_id}/sign-out", token).status_code == 204
    assert rp.refresh(tokens["refresh_token"])["error"] == "invalid_grant"
    assert call(provider, "DELETE", f"/users/{user_id}", token).status_code == 204
    assert load(provider, user_id) is None
    assert_problem(call(provider, "DELETE", f"/users/{user_id}", token), 404, "not_found")


# --- who may do what to whom --------------------------------------------------------------


@pytest.mark.covers("G4", "G8")
def test_G4_the_contractors_account_and_role_are_out_of_an_admins_and_a_clients_reach(provider):
    t = team(provider)
    contractor = t["ids"]["contractor"]
    token = token_for(provider, t["contract_id"])
    expected = {
        "/unlock": "target_contractor",
        "/reset-two-factor": "target_contractor",
        "/sign-out": "target_contractor",
        "/disable": "contractor_account",
        "/enable": "target_contractor",
        "/role": "contractor_role",
        "": "contractor_account",
        "/change-link": "target_contractor",
    }
    for method, path, body in USER_OPERATIONS:
        answer = call(provider, method, f"/users/{contractor}{path}", token, body)
        assert_problem(answer, 403, "forbidden")
        assert answer.json()["reason"] == expected[path], path
    admin = t["actors"]["admin"]
    for function, args in (
        (admin_unlock, ()),
        (admin_sign_out_everywhere, ()),
        (admin_reset_two_factor, ()),
        (send_change_link, ()),
    ):
        with pytest.raises(ForbiddenError) as refused:
            act(provider, function, admin, contractor, *args)
        assert refused.value.reason == "target_contractor"
    for actor in (admin, t["actors"]["contractor"], Actor.cli()):
        for is_admin in (True, False):
            with pytest.raises(ForbiddenError) as refused:
                act(provider, set_admin_privilege, actor, contractor, is_admin)
            assert refused.value.reason == "contractor_role"
        with pytest.raises(ForbiddenError):
            act(provider, disable_user, actor, contractor)
    assert load(provider, contractor).role == "contractor"
    assert load(provider, contractor).disabled_at is None
    assert "target_contractor" in refusals(provider, admin, "sign_out_everywhere")


@pytest.mark.covers("G4")
def test_G4_nobody_raises_their_own_privilege_and_a_user_may_do_nothing(provider):
    t = team(provider)
    ids, actors = t["ids"], t["actors"]
    with pytest.raises(ForbiddenError) as refused:
        act(provider, set_admin_privilege, actors["user"], ids["user"], True)
    assert refused.value.reason == "not_admin"
    with pytest.raises(ForbiddenError) as refused:
        act(provider, set_admin_privilege, actors["admin"], ids["admin"], True)
    assert refused.value.reason == "self_raise"
    for function in (disable_user, admin_delete_user, admin_reset_two_factor):
        with pytest.raises(ForbiddenError) as refused:
            act(provider, function, actors["admin"], ids["admin"])
        assert refused.value.reason == "self"
    with pytest.raises(ForbiddenError) as refused:
        act(provider, admin_sign_out_everywhere, actors["user"], ids["admin2"])
    assert refused.value.reason == "not_admin"
    # A user made admin a moment ago acts as one; demoted, at once no longer (read per call).
    act(provider, set_admin_privilege, actors["contractor"], ids["user"], True)
    act(provider, admin_sign_out_everywhere, actors["user"], ids["admin2"])
    act(provider, set_admin_privilege, actors["contractor"], ids["user"], False)
    with pytest.raises(ForbiddenError):
        act(provider, admin_sign_out_everywhere, actors["user"], ids["admin2"])
    # Stepping down is lowering: allowed.
    act(provider, set_admin_privilege, actors["admin"], ids["admin"], False)
    assert load(provider, ids["admin"]).role == "user"
    assert refusals(provider, actors["admin"], "role_change") == ["self_raise"]


@pytest.mark.covers("G4")
def test_G4_admins_help_each_other_but_only_the_contractor_removes_an_admin(provider):
    t = team(provider)
    ids, actors = t["ids"], t["actors"]
    admin, admin2 = actors["admin"], ids["admin2"]
    with provider.app.app_context():
        provider.db().session.get(User, admin2).locked_at = load(provider, admin2).created_at
        provider.db().session.commit()
    act(provider, admin_unlock, admin, admin2)
    act(provider, admin_sign_out_everywhere, admin, admin2)
    for function, args in (
        (disable_user, ()),
        (admin_delete_user, ()),
        (admin_reset_two_factor, ()),
        (send_change_link, ()),
        (set_admin_privilege, (False,)),
    ):
        with pytest.raises(ForbiddenError) as refused:
            act(provider, function, admin, admin2, *args)
        assert refused.value.reason == "peer_admin", function.__name__
    # On users an admin does everything; the contractor revokes an admin.
    act(provider, set_admin_privilege, admin, ids["user"], True)
    act(provider, set_admin_privilege, actors["contractor"], ids["user"], False)
    act(provider, disable_user, admin, ids["user"])
    act(provider, enable_user, admin, ids["user"])
    act(provider, set_admin_privilege, actors["contractor"], admin2, False)
    assert load(provider, admin2).role == "user"
    with pytest.raises(ConflictError) as conflict:
        act(provider, set_admin_privilege, actors["contractor"], admin2, False)
    assert conflict.value.reason == "already_user"


@pytest.mark.covers("G3", "G4")
def test_G3_invitations_follow_the_same_rules(provider):
    t = team(provider)
    actors, contract_id = t["actors"], t["contract_id"]

    def invite(actor, role, contract=contract_id):
        email = f"i-{uuid.uuid4().hex[:8]}@example.jp"
        return act(provider, admin_invite_user, actor, contract, email, "", role)

    assert invite(actors["admin"], "admin").user_id
    with pytest.raises(ForbiddenError) as refused:
        invite(actors["user"], "user")
    assert refused.value.reason == "not_admin"
    with pytest.raises(ForbiddenError) as refused:
        invite(actors["contractor"], "contractor")
    assert refused.value.reason == "contractor_role"
    with pytest.raises(NotFoundError):
        invite(actors["admin"], "user", provider.new_contract())
    with provider.app.app_context():
        other = invite_user(
            Actor.cli(),
            provider.new_contract(),
            "i-other@example.jp".replace("other", uuid.uuid4().hex[:8]),
        )
        with pytest.raises(NotFoundError):
            admin_resend_invitation(actors["admin"], other.id)
        with pytest.raises(NotFoundError):
            admin_revoke_invitation(actors["admin"], other.id)
        mine = invite(actors["admin"], "user")
        with pytest.raises(ForbiddenError):
            admin_resend_invitation(actors["user"], mine.id)
        with pytest.raises(ForbiddenError):
            admin_revoke_invitation(actors["user"], mine.id)


# --- isolation (G8) and scope ----------------------------------------------------------


@pytest.mark.covers("G8", "G7")
def test_G8_another_contracts_user_is_not_found_for_every_operation(provider):
    mine = team(provider)
    stranger_id, _ = provider.new_user(provider.new_contract())
    token = token_for(provider, mine["contract_id"])
    for method, path, body in USER_OPERATIONS:
        answer = call(provider, method, f"/users/{stranger_id}{path}", token, body)
        assert_problem(answer, 404, "not_found")
    with provider.app.app_context():
        invitation = invite_user(
            Actor.cli(), provider.new_contract(), f"i-{uuid.uuid4().hex[:8]}@example.jp"
        )
    answer = call(provider, "POST", f"/invitations/{invitation.id}/resend", token)
    assert_problem(answer, 404, "not_found")
    assert_problem(call(provider, "DELETE", f"/invitations/{invitation.id}", token), 404)
    # The domain functions the console calls refuse the same way, whatever the actor's role.
    actor = mine["actors"]["contractor"]
    client = Actor.client("svc", mine["contract_id"])
    for who in (client, actor):
        for function, args in (
            (admin_unlock, ()),
            (admin_reset_two_factor, ()),
            (admin_sign_out_everywhere, ()),
            (disable_user, ()),
            (enable_user, ()),
            (admin_delete_user, ()),
            (send_change_link, ()),
            (set_admin_privilege, (True,)),
        ):
            with pytest.raises(NotFoundError):
                act(provider, function, who, stranger_id, *args)
    stranger = load(provider, stranger_id)
    assert stranger is not None and stranger.role == "user" and stranger.disabled_at is None


@pytest.mark.covers("G7", "G8")
def test_G7_a_read_only_token_changes_nothing(provider):
    contract_id = provider.new_contract()
    user_id, _ = provider.new_user(contract_id)
    token = token_for(provider, contract_id, scope="admin:read")
    for method, path, body in USER_OPERATIONS:
        answer = call(provider, method, f"/users/{user_id}{path}", token, body)
        assert_problem(answer, 403, "insufficient_scope")
    body = {"email": f"i-{uuid.uuid4().hex[:8]}@example.jp"}
    assert_problem(call(provider, "POST", "/invitations", token, body), 403, "insufficient_scope")
    assert load(provider, user_id).role == "user"


# --- disabling (G4, X7) -----------------------------------------------------------------


def refused_with(response, reason):
    return response.status_code == 403 and f'data-reason="{reason}"' in response.text


def password_sign_in(provider, rp, email):
    browser = Browser(provider.url)
    page = browser.get(rp.authorize_url())
    return browser.submit(page, "password-form", email=email, password=PASSWORD)


@pytest.mark.covers("G4", "X7", "O2")
def test_G4_X7_a_disabled_user_signs_in_nowhere_and_the_relying_party_is_told(
    provider,
    receivers,  # noqa: F811
):
    contract_id = provider.new_contract()
    user_id, email = provider.new_user(contract_id)
    listening = receivers()
    rp = provider.new_client(backchannel_logout_uri=listening.url)
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    token = token_for(provider, contract_id)

    assert call(provider, "POST", f"/users/{user_id}/disable", token).status_code == 204
    assert_problem(call(provider, "POST", f"/users/{user_id}/disable", token), 409)
    wait_for_deliveries(provider)
    (logout_token,) = listening.tokens()
    assert validate_logout_token(provider, logout_token, rp.client_id, set())["sub"] == user_id
    assert rp.refresh(tokens["refresh_token"])["error"] == "invalid_grant"
    refused = password_sign_in(provider, rp, email)
    assert refused_with(refused, "disabled"), refused.text[:500]
    assert "無効" in refused.text  # the page says why, in the user's language (ja)
    english = Browser(provider.url)
    english.session.cookies.set("lang", "en")  # the language switch's cookie
    page = english.get(rp.authorize_url())
    refused = english.submit(page, "password-form", email=email, password=PASSWORD)
    assert refused_with(refused, "disabled") and "disabled by an administrator" in refused.text
    listed = requests.get(
        f"{provider.url}{PREFIX}/users",
        headers={"Authorization": f"Bearer {token}"},
        params={"disabled": "true"},
        timeout=TIMEOUT,
    ).json()
    assert [u["id"] for u in listed["users"]] == [user_id] and listed["users"][0]["disabled"]

    assert call(provider, "POST", f"/users/{user_id}/enable", token).status_code == 204
    assert_problem(call(provider, "POST", f"/users/{user_id}/enable", token), 409, "not_disabled")
    assert rp.login_tokens(Browser(provider.url), email, PASSWORD)["access_token"]
    assert rp.refresh(tokens["refresh_token"])["error"] == "invalid_grant"  # ended stays ended
    with provider.app.app_context():
        rows = provider.db().session.query(AuditEvent).filter_by(user_id=user_id)
        seen = [(r.event, r.outcome, r.reason) for r in rows]
    assert ("login", "refused", "disabled") in seen
    assert ("sign_out_everywhere", "ok", "user_disabled") in seen
    assert ("user_disable", "ok", None) in seen and ("user_enable", "ok", None) in seen


@pytest.mark.covers("G4", "L7")
def test_G4_a_disabled_user_cannot_sign_in_through_an_upstream_either(
    node,  # noqa: F811
    facebook,  # noqa: F811
):
    person = FacebookUser("Jiro Suzuki", f"jiro-{uuid.uuid4().hex[:6]}@example.jp")
    user_id = facebook_user(node, person)
    rp = node.new_client()
    act(node, disable_user, Actor.cli(), user_id)
    refused, _callback = through_facebook(node, facebook, person, Browser(node.url), rp)
    assert refused_with(refused, "disabled"), refused.text[:500]
    act(node, enable_user, Actor.cli(), user_id)
    admitted, _callback = through_facebook(node, facebook, person, Browser(node.url), rp)
    claims = rp.id_token_claims(rp.exchange(redirect_params(admitted)["code"])["id_token"])
    assert claims["sub"] == user_id


@pytest.mark.covers("G4", "T2")
def test_G4_the_operator_commands(tmp_path):
    """``idp users role|disable|enable|reset-2fa``: the operator is bound by SPEC's rules
    (never the contractor's role), not by the contract-admin ones."""
    from tests.test_cli import run

    env = {
        **os.environ,
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_SECRET_KEY": "cli-test-secret",
        "IDP_ENCRYPTION_KEY": "x2rqoV0T3sD5cQ0nJ6W9lJ2xQe0y2v9cN3m0tWqZ8kE=",
        "IDP_ISSUER": "http://127.0.0.1:9",
        "IDP_ARGON2_MEMORY_KIB": "1024",
        "IDP_ARGON2_TIME_COST": "1",
    }
    run(["init"], env)
    contract = run(["contracts", "add", "Acme"], env).stdout.strip()
    for email, role in (("boss@acme.example", "contractor"), ("kim@acme.example", "user")):
        add = ["users", "add", "--contract", contract, "--email", email, "--role", role]
        run([*add, "--password", "Acme-Boss-2026"], env)

    def users(*args, check=True):
        return run(["users", *args], env, check=check)

    assert users("role", "--email", "kim@acme.example", "--admin").stdout.strip() == "admin"
    again = users("role", "--email", "kim@acme.example", "--admin", check=False)
    assert again.returncode == 1 and "already" in again.stderr
    assert users("disable", "--email", "kim@acme.example").stdout.startswith("disabled")
    assert users("enable", "--email", "kim@acme.example").stdout.strip() == "enabled"
    assert users("reset-2fa", "--email", "kim@acme.example").stdout.strip() == "two_factor_reset"
    assert users("role", "--email", "kim@acme.example", "--no-admin").stdout.strip() == "user"
    for command in (("role", "--admin"), ("role", "--no-admin"), ("disable",)):
        refused = users(command[0], "--email", "boss@acme.example", *command[1:], check=False)
        assert refused.returncode == 1 and "Error" in refused.stderr, refused.stderr
