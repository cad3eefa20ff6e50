"""Every domain function that changes something takes the actor and writes its audit event
(DESIGN.md "Inside idp/", issue 10): the test lists the public functions of the domain
modules, so a new one without ``@audit.change`` and a call here fails."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from typing import Any

import pytest

from idp import audit
from idp.actor import Actor
from idp.errors import DomainError
from idp.models import AuditEvent
from idp.models import User
from tests.conftest import PASSWORD
from tests.conftest import Provider
from tests.conftest import build_provider

DOMAIN_PACKAGES = (
    "idp.users",
    "idp.contracts",
    "idp.twofactor",
    "idp.backchannel",
    "idp.audit_chain",
)
DOMAIN_MODULES = ("idp.clients", "idp.maintenance", "idp.sessions", "idp.sso")

#: Public domain functions that change nothing, or cannot audit, and why.
READERS = {
    "idp.users.invitations.ad_connection_of": "reads",
    "idp.users.invitations.contractor_email": "reads",
    "idp.users.invitations.get_invitation": "reads",
    "idp.users.invitations.list_pending_invitations": "reads",
    "idp.users.invitations.pending_invitation": "reads",
    "idp.users.invitations.stage_password": "keeps a hash on an unused link; no account change",
    "idp.users.invitations.staged_password_hash": "reads",
    "idp.users.invitations.upstream_taken": "reads",
    "idp.backchannel.delivery.backoff": "pure: the retry schedule",
    "idp.backchannel.delivery.deliver": "sends queued logout tokens; each outcome is audited",
    "idp.backchannel.delivery.deliver_due": "sends queued logout tokens; each outcome is audited",
    "idp.backchannel.delivery.deliver_one": "sends a queued logout token; audits its outcome",
    "idp.backchannel.delivery.setup_backchannel": "registers the dispatcher at start-up",
    "idp.backchannel.logout_token.build_logout_token": "signs a token; changes nothing",
    "idp.backchannel.logout_token.logout_token_claims": "builds claims; changes nothing",
    "idp.audit_chain.canonical.canonical_event": "pure: what an event's hash covers",
    "idp.audit_chain.canonical.canonical_values": "pure: what an event's hash covers",
    "idp.audit_chain.canonical.chain_hash": "pure: SHA-256",
    "idp.audit_chain.canonical.link_hash": "pure: SHA-256",
    "idp.audit_chain.canonical.genesis_hash": "pure: SHA-256",
    "idp.audit_chain.retention.delete_events_before": "a step of purge, which audits the count",
    "idp.audit_chain.seal.chain_of": "pure: a chain's key",
    "idp.audit_chain.seal.in_chain": "pure: a SQL condition",
    "idp.audit_chain.seal.lock_head": "a step of sealing",
    "idp.audit_chain.seal.seal_all": "chains audit events (auditing it would need sealing)",
    "idp.audit_chain.seal.seal_chain": "chains audit events (auditing it would need sealing)",
    "idp.audit_chain.seal.unsealed_chains": "reads",
    "idp.audit_chain.sealer.mark_unsealed": "flags the session for the sealer",
    "idp.audit_chain.trigger.setup_audit_chain": "registers the sealer at start-up",
    "idp.audit_chain.verify.verify": "reads",
    "idp.audit_chain.verify.verify_chain": "reads",
    "idp.clients.get_client": "reads",
    "idp.contracts.ad.ad_login_urls": "pure: URLs from the settings",
    "idp.contracts.ad.find_connection": "reads",
    "idp.contracts.ad.mail_ad_login_urls": "a mail, part of the audited method change (D2)",
    "idp.contracts.ad.ad_user_count": "reads",
    "idp.contracts.ad.check_settings": "pure: refuses settings that cannot work",
    "idp.contracts.ad.contract_connection": "reads",
    "idp.contracts.ad.list_ad_connections": "reads",
    "idp.contracts.ad.new_connection_id": "pure: a random ID",
    "idp.contracts.contract.contract_state": "pure: what the rules know of a contract",
    "idp.contracts.contract.get_contract": "reads",
    "idp.contracts.lines.list_lines": "reads",
    "idp.contracts.lines.line_choices": "reads",
    "idp.contracts.life.clean_information_field": "pure: checks one C4 field",
    "idp.maintenance.init_database": "creates the schema, the audit table included",
    "idp.users.find.email_key": "pure: the L2 key",
    "idp.users.find.find_user_by_email": "reads",
    "idp.users.find.get_user": "reads",
    "idp.users.listing.list_users": "reads",
    "idp.users.links.create_link": "a step of audited changes (the lock and reset mails)",
    "idp.users.links.bound_version": "pure: the account version a link is bound to",
    "idp.users.reset.mail_reset_link": "a step of audited changes (reset request, X6 revert)",
    "idp.users.email_change.normalise_email": "pure: the stored form of an address",
    "idp.users.email_change.is_address_free": "reads",
    "idp.users.email_change.pending_email": "reads a link's data",
    "idp.users.email_change.needs_password": "pure: M7's password step",
    "idp.users.not_me.identity_snapshot": "reads",
    "idp.users.not_me.change_of": "reads a link's data",
    "idp.users.links.consume_link": "a step of the audited change the link applies",
    "idp.users.links.find_link": "reads",
    "idp.users.links.hash_token": "pure: SHA-256 of a token",
    "idp.users.links.new_link": "a step of audited changes (create_link with the row)",
    "idp.users.login_method.binding_refusal": "reads",
    "idp.users.login_method.has_ad": "reads",
    "idp.users.login_method.hash_new_password": "P2 check and hash; changes nothing",
    "idp.users.login_method.methods_for": "reads",
    "idp.users.login_method.stage_new_password": "a hash on an unused link; no account change",
    "idp.users.links.resolve_link": "reads",
    "idp.users.lockout.reserve_password_attempt": "a step of audited attempts (login, P1)",
    "idp.users.passwords.common_passwords": "reads a word list",
    "idp.users.passwords.password_problems": "pure: the P2 check",
    "idp.twofactor.factors.factors_of": "reads",
    "idp.twofactor.factors.is_enrolled": "reads",
    "idp.twofactor.factors.primary_factor": "reads",
    "idp.twofactor.factors.seal": "pure: encrypts",
    "idp.twofactor.factors.unseal": "pure: decrypts",
    "idp.twofactor.passkeys.start_registration": "a challenge in the ephemeral store",
    "idp.twofactor.passkeys.finish_registration": "verifies; add_factor stores and audits",
    "idp.twofactor.passkeys.start_authentication": "a challenge in the ephemeral store",
    "idp.twofactor.passkeys.finish_authentication": "verifies; the sign-in step audits it",
    "idp.twofactor.passkeys.is_sign_count_valid": "pure: the clone check",
    "idp.twofactor.phone.mask_phone": "pure",
    "idp.twofactor.phone.normalise_phone": "pure",
    "idp.twofactor.recovery.hash_recovery_code": "pure",
    "idp.twofactor.recovery.matches": "pure",
    "idp.twofactor.recovery.new_recovery_code": "pure: random",
    "idp.twofactor.recovery.normalise": "pure",
    "idp.twofactor.remembered.aware": "pure: a timezone",
    "idp.twofactor.remembered.find_remembered": "reads",
    "idp.twofactor.remembered.touch": "a remembered browser's last use (L3), part of a sign-in",
    "idp.twofactor.sms_codes.check_code": "a code in the ephemeral store; the sign-in step audits",
    "idp.twofactor.sms_codes.has_pending_code": "reads",
    "idp.twofactor.sms_codes.send_code": "sends an SMS; the sign-in step audits a refusal",
    "idp.twofactor.totp.claim_step": "marks a used step in the ephemeral store (replay guard)",
    "idp.twofactor.totp.matching_step": "pure",
    "idp.twofactor.totp.new_secret": "pure: random",
    "idp.twofactor.totp.provisioning_uri": "pure",
    "idp.twofactor.totp.qr_svg_data_uri": "pure",
    "idp.sso.start_session": "part of a sign-in, whose own event (login ok) names the user",
    "idp.sso.current_session": "reads",
    "idp.sso.current_session_of": "reads",
    "idp.sso.end_session": "part of a logout, whose own event names the session's user",
    "idp.sso.set_session_cookie": "sets a response cookie",
    "idp.sso.clear_session_cookie": "clears a response cookie",
    "idp.sso.revoke_token_families": "a step of audited changes (reset, sign out everywhere)",
    "idp.sso.network_of": "pure: an address cut to its network",
    "idp.sso.is_session_live": "reads",
    "idp.sso.touch_session": "a session's last use, part of a sign-in's use (like touch)",
    "idp.sessions.describe_device": "pure: a User-Agent made short",
    "idp.sessions.list_sessions": "reads",
    "idp.twofactor.remembered.list_remembered": "reads",
    "idp.users.detail.find_contract_user": "reads",
    "idp.users.detail.user_detail": "reads",
    "idp.users.bulk_invite.resume_jobs": "runs stored jobs: each invitation audits itself",
    "idp.users.bulk_invite.resume_orphaned_jobs": "a node sweep: queues stored jobs (as above)",
    "idp.users.passwords.usable_cores": "reads the machine: the cores this process may run on",
    "idp.users.what_if.what_if_for_user": "reads (X3: the rules over what the login reads)",
    "idp.users.authority.authorise": "reads; raises the admin rule's refusal (G4, G8)",
    "idp.users.authority.authorise_invite": "reads; raises the admin rule's refusal (G3, G8)",
    "idp.contracts.scim_tokens.find_scim_token": "reads",
    "idp.contracts.scim_tokens.hash_scim_token": "pure: SHA-256",
    "idp.users.provisioning.check_profile": "pure: checks the values",
    "idp.users.provisioning.pending_email_change": "reads",
    "idp.users.provisioning.provision_user": "invite_user then update_profile, each audited",
    "idp.users.invite_file.decode_upload": "pure",
    "idp.users.invite_file.parse_upload": "pure",
    "idp.users.invite_file.validate_rows": "reads (G3: the rows' results, nothing stored)",
    "idp.users.bulk_invite.get_job": "reads",
    "idp.users.bulk_invite.job_rows": "reads",
    "idp.users.bulk_invite.error_report": "pure: a CSV of rows",
}


def domain_modules() -> list[str]:
    names = list(DOMAIN_MODULES)
    for package in DOMAIN_PACKAGES:
        names.append(package)
        path = importlib.import_module(package).__path__
        names += [f"{package}.{m.name}" for m in pkgutil.iter_modules(path)]
    return names


def public_functions() -> dict[str, Callable[..., Any]]:
    found = {}
    for module_name in domain_modules():
        module = importlib.import_module(module_name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("_") and function.__module__ == module_name:
                found[f"{module_name}.{name}"] = function
    return found


def test_every_changing_domain_function_is_marked_and_takes_the_actor_first():
    functions = public_functions()
    unknown = sorted(set(functions) - set(READERS) - set(audit.DOMAIN_CHANGES))
    assert not unknown, f"mark with @audit.change or list in READERS: {unknown}"
    for name in audit.DOMAIN_CHANGES:
        first = next(iter(inspect.signature(functions[name]).parameters))
        assert first == "actor", f"{name} must take the actor first"
    assert set(CALLS) == set(audit.DOMAIN_CHANGES), "every domain change needs a call below"


# One call per domain change, made by ``actor`` on fresh data of ``p``.


def _user(p: Provider, **values: Any) -> User:
    user_id, _email = p.new_user(**values)
    return p.db().session.get(User, user_id)


def _connection(p: Provider, actor: Actor, by: Actor | None = None) -> str:
    """An AD connection in ``actor``'s contract (G8: one acts on one's own), added by ``by``
    (default: ``actor``)."""
    from idp.contracts.ad import add_ad_connection

    settings = {"issuer": "https://fs.example/adfs", "client_id": "wd"}
    contract_id = _actors_contract(p, actor)
    return add_ad_connection(by or actor, contract_id, "adfs", settings, "s3cret").connection_id


def _add_contract(p: Provider, actor: Actor) -> None:
    from idp.contracts.contract import add_contract

    add_contract(actor, "Audited")


def _set_two_factor(p: Provider, actor: Actor) -> None:
    from idp.contracts.contract import set_two_factor

    set_two_factor(actor, p.new_contract(), True)


def _set_access_route(p: Provider, actor: Actor) -> None:
    from idp.contracts.contract import set_access_route

    set_access_route(actor, p.new_contract(), "line-only")


def _add_line(p: Provider, actor: Actor) -> None:
    from idp.contracts.lines import add_line

    add_line(actor, p.new_contract(), "CAF1234567890")


def _remove_line(p: Provider, actor: Actor) -> None:
    from idp.contracts.lines import add_line
    from idp.contracts.lines import remove_line

    contract_id = p.new_contract()
    add_line(Actor.cli(), contract_id, "COP1234ABCD")
    remove_line(actor, contract_id, "COP1234ABCD")


def _choose_line_notification(p: Provider, actor: Actor) -> None:
    from idp.contracts.lines import add_line
    from idp.contracts.lines import choose_line_notification

    contract_id = p.new_contract()
    add_line(Actor.cli(), contract_id, "CAF1234567891")
    choose_line_notification(actor, contract_id, "CAF1234567891", "notify")


def _add_ad_connection(p: Provider, actor: Actor) -> None:
    _connection(p, actor)


def _remove_ad_connection(p: Provider, actor: Actor) -> None:
    from idp.contracts.ad import remove_ad_connection

    remove_ad_connection(actor, _connection(p, actor, by=Actor.cli()))


def _update_ad_connection(p: Provider, actor: Actor) -> None:
    from idp.contracts.ad import update_ad_connection

    settings = {"issuer": "https://fs2.example/adfs", "client_id": "wd"}
    update_ad_connection(actor, _connection(p, actor, by=Actor.cli()), settings)


def _add_client(p: Provider, actor: Actor) -> None:
    from idp.clients import add_client

    add_client(actor, "Audited RP", ["https://rp.example/cb"], [])


def _add_user(p: Provider, actor: Actor) -> None:
    from idp.users.add import add_user

    add_user(actor, p.new_contract(), f"a-{uuid.uuid4().hex[:8]}@example.jp", PASSWORD)


def _link_identity(p: Provider, actor: Actor) -> None:
    from idp.users.identities import link_identity

    user = _user(p, password=None, method="google")
    link_identity(actor, user.id, "google", "https://accounts.google.com", uuid.uuid4().hex)


def _actors_contract(p: Provider, actor: Actor) -> str:
    """A contract with the actor's own id: an admin invites only into their contract (G8)."""
    from idp.models import Contract

    if actor.contract_id is None:
        return p.new_contract()
    if p.db().session.get(Contract, actor.contract_id) is None:
        p.db().session.add(Contract(id=actor.contract_id, name="Audited"))
        p.db().session.commit()
    return actor.contract_id


def _invite(p: Provider, actor: Actor) -> Any:
    from idp.users.invitations import invite_user

    email = f"i-{uuid.uuid4().hex[:8]}@example.jp"
    return invite_user(Actor.cli(), _actors_contract(p, actor), email)


def _invite_user(p: Provider, actor: Actor) -> None:
    from idp.users.invitations import invite_user

    invite_user(actor, _actors_contract(p, actor), f"i-{uuid.uuid4().hex[:8]}@example.jp")


def _resend_invitation(p: Provider, actor: Actor) -> None:
    from idp.users.invitations import resend_invitation

    resend_invitation(actor, _invite(p, actor).id)


def _revoke_invitation(p: Provider, actor: Actor) -> None:
    from idp.users.invitations import revoke_invitation

    revoke_invitation(actor, _invite(p, actor).id)


def _register_with_password(p: Provider, actor: Actor) -> None:
    from idp.users.invitations import register_with_password

    invitation = _invite(p, actor)
    user = p.db().session.get(User, invitation.user_id)
    register_with_password(actor, user, "$argon2id$not-a-real-hash")


def _register_with_upstream(p: Provider, actor: Actor) -> None:
    from idp.users.invitations import register_with_upstream

    invitation = _invite(p, actor)
    user = p.db().session.get(User, invitation.user_id)
    register_with_upstream(actor, user, "google", "https://accounts.google.com", uuid.uuid4().hex)


def _lock_account(p: Provider, actor: Actor) -> None:
    from idp.users.lockout import lock_account

    lock_account(actor, _user(p))


def _unlock_account(p: Provider, actor: Actor) -> None:
    from idp.users.lockout import unlock_account

    unlock_account(actor, _user(p))


def _reset_two_factor(p: Provider, actor: Actor) -> None:
    from idp.users.lockout import reset_two_factor

    reset_two_factor(actor, _user(p), "admin_reset")


def _request_reset(p: Provider, actor: Actor) -> None:
    from idp.users.reset import request_reset

    request_reset(actor, _user(p).email, "ja")


def _set_new_password(p: Provider, actor: Actor) -> None:
    from idp.users.reset import set_new_password

    set_new_password(actor, _user(p), "Neues-Passwort-2026")


def _add_factor(p: Provider, actor: Actor) -> None:
    from idp.twofactor.factors import add_factor

    add_factor(actor, _user(p), "sms", {"phone": "+819012345678"})


def _issue_recovery_code(p: Provider, actor: Actor) -> None:
    from idp.twofactor.factors import issue_recovery_code

    issue_recovery_code(actor, _user(p))


def _use_recovery_code(p: Provider, actor: Actor) -> None:
    from idp.twofactor.factors import issue_recovery_code
    from idp.twofactor.factors import use_recovery_code

    user = _user(p)
    code = issue_recovery_code(Actor.cli(), user)
    assert use_recovery_code(actor, user, code)


def _complete_enrollment(p: Provider, actor: Actor) -> None:
    from idp.twofactor.factors import complete_enrollment

    complete_enrollment(actor, _user(p))


def _discard_unfinished_enrollment(p: Provider, actor: Actor) -> None:
    from idp.twofactor.factors import add_factor
    from idp.twofactor.factors import discard_unfinished_enrollment

    user = _user(p)
    add_factor(Actor.cli(), user, "sms", {"phone": "+819012345678"})
    discard_unfinished_enrollment(actor, user)


def _remember(p: Provider, actor: Actor) -> None:
    from werkzeug.wrappers import Response

    from idp.twofactor.remembered import remember

    with p.app.test_request_context("/"):
        remember(actor, _user(p), Response())


def _revoke_all(p: Provider, actor: Actor) -> None:
    from idp.twofactor.remembered import revoke_all

    revoke_all(actor, _user(p), "sign_out_everywhere")


def _sign_out_everywhere(p: Provider, actor: Actor) -> None:
    from idp.sso import sign_out_everywhere

    sign_out_everywhere(actor, _user(p))


def _sign_out_other_sessions(p: Provider, actor: Actor) -> None:
    from idp.sso import sign_out_other_sessions
    from idp.sso import start_session

    user = _user(p)
    sign_out_other_sessions(actor, user, start_session(user, ["pwd"], "1", {}), "test")


def _end_one_session(p: Provider, actor: Actor) -> None:
    from idp.sessions import end_one_session
    from idp.sso import start_session

    user = _user(p)
    end_one_session(actor, user, start_session(user, ["pwd"], "1", {}).sid)


def _revoke_remembered(p: Provider, actor: Actor) -> None:
    from werkzeug.wrappers import Response

    from idp.twofactor.remembered import remember
    from idp.twofactor.remembered import revoke_remembered

    user = _user(p)
    with p.app.test_request_context("/"):
        record = remember(Actor.cli(), user, Response())
    revoke_remembered(actor, user, record.id, "forgotten_by_user")


def _lock_by_admin(p: Provider, actor: Actor) -> None:
    from idp.users.lockout import lock_by_admin

    lock_by_admin(actor, _user(p))


def _delete_user(p: Provider, actor: Actor) -> None:
    from idp.users.delete import delete_user

    delete_user(actor, _user(p))


def _change_password(p: Provider, actor: Actor) -> None:
    from idp.sso import start_session
    from idp.users.password_change import change_password

    user = _user(p)
    keep = start_session(user, ["pwd"], "1", {})
    change_password(actor, user, PASSWORD, "Neues-Passwort-2026", keep)


def _email_link(p: Provider, user: User) -> Any:
    from idp.users.email_change import request_email_change

    return request_email_change(Actor.cli(), user, f"n-{uuid.uuid4().hex[:8]}@example.jp")


def _request_email_change(p: Provider, actor: Actor) -> None:
    from idp.users.email_change import request_email_change

    user = _user(p, contract_id=_actors_contract(p, actor))
    request_email_change(actor, user, f"n-{uuid.uuid4().hex[:8]}@example.jp")


def _issue_scim_token(p: Provider, actor: Actor) -> None:
    from idp.contracts.scim_tokens import issue_scim_token

    issue_scim_token(actor, _actors_contract(p, actor))


def _revoke_scim_tokens(p: Provider, actor: Actor) -> None:
    from idp.contracts.scim_tokens import issue_scim_token
    from idp.contracts.scim_tokens import revoke_scim_tokens

    contract_id = _actors_contract(p, actor)
    issue_scim_token(Actor.cli(), contract_id)
    revoke_scim_tokens(actor, contract_id)


def _update_profile(p: Provider, actor: Actor) -> None:
    from idp.users.provisioning import update_profile

    update_profile(actor, _user(p, contract_id=_actors_contract(p, actor)), "新 名前", "ext-1")


def _request_directory_email_change(p: Provider, actor: Actor) -> None:
    from idp.users.provisioning import request_directory_email_change

    request_directory_email_change(actor, _managed(p, actor), f"n-{uuid.uuid4().hex[:8]}@x.jp")


def _complete_email_change(p: Provider, actor: Actor) -> None:
    from idp.users.email_change import complete_email_change

    user = _user(p)
    complete_email_change(actor, user, _email_link(p, user), "Neues-Passwort-2026")


def _tell_old_address(p: Provider, actor: Actor) -> None:
    from idp.users.not_me import IdentityChange
    from idp.users.not_me import tell_old_address

    user = _user(p)
    tell_old_address(
        actor, user, kind=IdentityChange.EMAIL, old_email="old@example.jp", old_method="password"
    )


def _revert_identity_change(p: Provider, actor: Actor) -> None:
    from idp.users.not_me import IdentityChange
    from idp.users.not_me import revert_identity_change
    from idp.users.not_me import tell_old_address

    user = _user(p)
    old = f"o-{uuid.uuid4().hex[:8]}@example.jp"
    link = tell_old_address(
        Actor.cli(), user, kind=IdentityChange.EMAIL, old_email=old, old_method="password"
    )
    revert_identity_change(actor, user, link)


def _contract_of(p: Provider, actor: Actor, **values: Any) -> str:
    """A fresh contract whose contractor is ``actor`` (C2–C4 let only the contractor act)."""
    contract_id = p.new_contract(**values)
    email = f"c-{uuid.uuid4().hex[:8]}@example.jp"
    session = p.db().session
    session.add(
        User(
            id=actor.id,
            contract_id=contract_id,
            email=email,
            email_key=email,
            role="contractor",
            login_method="google",
        )
    )
    session.commit()
    return contract_id


def _change_plan(p: Provider, actor: Actor) -> None:
    from idp.contracts.life import change_plan

    change_plan(actor, _contract_of(p, actor, plan="trial"), "basic")


def _cancel_contract(p: Provider, actor: Actor) -> None:
    from idp.contracts.life import cancel_contract

    cancel_contract(actor, _contract_of(p, actor))


def _update_contract_information(p: Provider, actor: Actor) -> None:
    from idp.contracts.life import update_contract_information

    update_contract_information(actor, _contract_of(p, actor), company_name="Audited KK")


def _notify_logout(p: Provider, actor: Actor) -> None:
    from idp.backchannel.notify import notify_logout

    notify_logout(actor, _user(p).id, reason="sign_out_everywhere")


def _purge(p: Provider, actor: Actor) -> None:
    from idp.maintenance import purge

    purge(actor)


def _rotate_signing_key(p: Provider, actor: Actor) -> None:
    from idp.maintenance import rotate_signing_key

    rotate_signing_key(actor)


def _member(p: Provider, actor: Actor, **values: Any) -> User:
    """A user of the actor's own contract (an admin acts only there, G8)."""
    return _user(p, contract_id=_actors_contract(p, actor), **values)


def _change_to_password(p: Provider, actor: Actor) -> None:
    from idp.users.login_method import change_to_password

    change_to_password(actor, _member(p, actor, password=None, method="google"), "$argon2id$x")


def _change_to_upstream(p: Provider, actor: Actor) -> None:
    from idp.users.login_method import change_to_upstream

    user = _member(p, actor)
    change_to_upstream(actor, user, "google", "https://accounts.google.com", uuid.uuid4().hex)


def _send_method_change_link(p: Provider, actor: Actor) -> None:
    from idp.users.login_method import send_method_change_link

    send_method_change_link(actor, _member(p, actor))


def _managed(p: Provider, actor: Actor, **values: Any) -> User:
    """A user of the actor's contract, the actor being its contractor (G4's operations)."""
    contract_id = _actors_contract(p, actor)
    session = p.db().session
    if session.get(User, actor.id) is None:
        email = f"c-{uuid.uuid4().hex[:8]}@example.jp"
        session.add(
            User(
                id=actor.id,
                contract_id=contract_id,
                email=email,
                email_key=email,
                role="contractor",
                login_method="google",
            )
        )
        session.commit()
    return _user(p, contract_id=contract_id, **values)


def _set_admin_privilege(p: Provider, actor: Actor) -> None:
    from idp.users.roles import set_admin_privilege

    set_admin_privilege(actor, _managed(p, actor), True)


def _disable_user(p: Provider, actor: Actor) -> None:
    from idp.users.disable import disable_user

    disable_user(actor, _managed(p, actor))


def _enable_user(p: Provider, actor: Actor) -> None:
    from idp.users.disable import disable_user
    from idp.users.disable import enable_user

    user = _managed(p, actor)
    disable_user(Actor.cli(), user)
    enable_user(actor, user)


def _admin_unlock(p: Provider, actor: Actor) -> None:
    from idp.users.admin_operations import admin_unlock
    from idp.users.lockout import lock_by_admin

    user = _managed(p, actor)
    lock_by_admin(Actor.cli(), user)
    admin_unlock(actor, user)


def _admin_reset_two_factor(p: Provider, actor: Actor) -> None:
    from idp.users.admin_operations import admin_reset_two_factor

    admin_reset_two_factor(actor, _managed(p, actor))


def _admin_sign_out_everywhere(p: Provider, actor: Actor) -> None:
    from idp.users.admin_operations import admin_sign_out_everywhere

    admin_sign_out_everywhere(actor, _managed(p, actor))


def _admin_delete_user(p: Provider, actor: Actor) -> None:
    from idp.users.admin_operations import admin_delete_user

    admin_delete_user(actor, _managed(p, actor))


def _send_change_link(p: Provider, actor: Actor) -> None:
    from idp.users.admin_operations import send_change_link

    send_change_link(actor, _managed(p, actor), None)


def _admin_invite_user(p: Provider, actor: Actor) -> None:
    from idp.users.admin_operations import admin_invite_user

    _managed(p, actor)
    admin_invite_user(actor, actor.contract_id or "", f"i-{uuid.uuid4().hex[:8]}@example.jp")


def _admin_resend_invitation(p: Provider, actor: Actor) -> None:
    from idp.users.admin_operations import admin_resend_invitation

    _managed(p, actor)
    admin_resend_invitation(actor, _invite(p, actor).id)


def _admin_revoke_invitation(p: Provider, actor: Actor) -> None:
    from idp.users.admin_operations import admin_revoke_invitation

    _managed(p, actor)
    admin_revoke_invitation(actor, _invite(p, actor).id)


def _start_bulk_invite(p: Provider, actor: Actor) -> None:
    from idp.users.bulk_invite import start_bulk_invite

    _managed(p, actor)
    upload = f"email,name,role\r\ni-{uuid.uuid4().hex[:8]}@example.jp,,user\r\n".encode()
    start_bulk_invite(actor, actor.contract_id or "", upload)
    p.app.extensions["idp.invite_jobs"].wait_idle()


CALLS: dict[str, Callable[[Provider, Actor], None]] = {
    "idp.users.roles.set_admin_privilege": _set_admin_privilege,
    "idp.users.disable.disable_user": _disable_user,
    "idp.users.disable.enable_user": _enable_user,
    "idp.users.admin_operations.admin_unlock": _admin_unlock,
    "idp.users.admin_operations.admin_reset_two_factor": _admin_reset_two_factor,
    "idp.users.admin_operations.admin_sign_out_everywhere": _admin_sign_out_everywhere,
    "idp.users.admin_operations.admin_delete_user": _admin_delete_user,
    "idp.users.admin_operations.send_change_link": _send_change_link,
    "idp.users.admin_operations.admin_invite_user": _admin_invite_user,
    "idp.users.bulk_invite.start_bulk_invite": _start_bulk_invite,
    "idp.users.admin_operations.admin_resend_invitation": _admin_resend_invitation,
    "idp.users.admin_operations.admin_revoke_invitation": _admin_revoke_invitation,
    "idp.backchannel.notify.notify_logout": _notify_logout,
    "idp.clients.add_client": _add_client,
    "idp.contracts.ad.add_ad_connection": _add_ad_connection,
    "idp.contracts.ad.remove_ad_connection": _remove_ad_connection,
    "idp.contracts.ad.update_ad_connection": _update_ad_connection,
    "idp.contracts.contract.add_contract": _add_contract,
    "idp.contracts.contract.set_access_route": _set_access_route,
    "idp.contracts.contract.set_two_factor": _set_two_factor,
    "idp.contracts.life.cancel_contract": _cancel_contract,
    "idp.contracts.life.change_plan": _change_plan,
    "idp.contracts.life.update_contract_information": _update_contract_information,
    "idp.contracts.lines.add_line": _add_line,
    "idp.contracts.lines.remove_line": _remove_line,
    "idp.contracts.lines.choose_line_notification": _choose_line_notification,
    "idp.maintenance.purge": _purge,
    "idp.maintenance.rotate_signing_key": _rotate_signing_key,
    "idp.sso.sign_out_everywhere": _sign_out_everywhere,
    "idp.sessions.end_one_session": _end_one_session,
    "idp.twofactor.remembered.revoke_remembered": _revoke_remembered,
    "idp.users.lockout.lock_by_admin": _lock_by_admin,
    "idp.users.delete.delete_user": _delete_user,
    "idp.contracts.scim_tokens.issue_scim_token": _issue_scim_token,
    "idp.contracts.scim_tokens.revoke_scim_tokens": _revoke_scim_tokens,
    "idp.users.provisioning.update_profile": _update_profile,
    "idp.users.provisioning.request_directory_email_change": _request_directory_email_change,
    "idp.twofactor.factors.add_factor": _add_factor,
    "idp.twofactor.factors.complete_enrollment": _complete_enrollment,
    "idp.twofactor.factors.discard_unfinished_enrollment": _discard_unfinished_enrollment,
    "idp.twofactor.factors.issue_recovery_code": _issue_recovery_code,
    "idp.twofactor.factors.use_recovery_code": _use_recovery_code,
    "idp.twofactor.remembered.remember": _remember,
    "idp.twofactor.remembered.revoke_all": _revoke_all,
    "idp.sso.sign_out_other_sessions": _sign_out_other_sessions,
    "idp.users.add.add_user": _add_user,
    "idp.users.identities.link_identity": _link_identity,
    "idp.users.email_change.complete_email_change": _complete_email_change,
    "idp.users.email_change.request_email_change": _request_email_change,
    "idp.users.not_me.revert_identity_change": _revert_identity_change,
    "idp.users.not_me.tell_old_address": _tell_old_address,
    "idp.users.invitations.invite_user": _invite_user,
    "idp.users.invitations.register_with_password": _register_with_password,
    "idp.users.invitations.register_with_upstream": _register_with_upstream,
    "idp.users.invitations.resend_invitation": _resend_invitation,
    "idp.users.invitations.revoke_invitation": _revoke_invitation,
    "idp.users.lockout.lock_account": _lock_account,
    "idp.users.lockout.reset_two_factor": _reset_two_factor,
    "idp.users.lockout.unlock_account": _unlock_account,
    "idp.users.login_method.change_to_password": _change_to_password,
    "idp.users.login_method.change_to_upstream": _change_to_upstream,
    "idp.users.login_method.send_method_change_link": _send_method_change_link,
    "idp.users.password_change.change_password": _change_password,
    "idp.users.reset.request_reset": _request_reset,
    "idp.users.reset.set_new_password": _set_new_password,
}


@pytest.fixture(scope="module")
def node(smtp_sink: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """A provider of its own (keys are rotated here), SQLite + SQL store, not served."""
    services = {"smtp": smtp_sink}
    node = build_provider("sqlite+sqlstore", tmp_path_factory.mktemp("audit"), services)
    yield node
    node.close()


def events_by(node: Provider, actor: Actor, event: str) -> list[AuditEvent]:
    node.app.extensions["idp.mailer"].wait_idle()  # request_reset audits off the request thread
    with node.app.app_context():
        rows = node.db().session.query(AuditEvent).filter_by(event=event).all()
        return [r for r in rows if (r.details or {}).get("actor") == actor.as_details()]


@pytest.mark.covers("X3")
@pytest.mark.parametrize("name", sorted(CALLS))
def test_X3_each_domain_change_audits_with_the_actor(node, name):
    actor = Actor.admin(uuid.uuid4().hex, uuid.uuid4().hex)
    with node.app.app_context():
        CALLS[name](node, actor)
    event = audit.DOMAIN_CHANGES[name]
    rows = events_by(node, actor, event)
    assert [r.outcome for r in rows] == ["ok"], f"{name} wrote no {event} event naming the actor"
    row = rows[0]
    has_target = row.user_id or row.contract_id or row.client_id or "target" in row.details
    assert has_target or event == "purge", f"{event} names no target"


@pytest.mark.covers("X3", "A2")
def test_X3_a_refused_domain_change_is_audited_with_actor_and_reason(node):
    from idp.contracts.lines import add_line

    actor = Actor.admin(uuid.uuid4().hex)
    contract_id = node.new_contract()
    with node.app.app_context(), pytest.raises(DomainError, match="not a line number"):
        add_line(actor, contract_id, "CAF12")
    rows = events_by(node, actor, "line_add")
    assert [(r.outcome, r.reason) for r in rows] == [("refused", "not_a_line_number")]
