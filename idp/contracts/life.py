"""The contract's life (C1–C4): the plan change from trial to basic (C2), cancellation (C3)
and the contract information (C4).

Who may act is decided by the rules of ``policies/`` for the role the actor holds in the
contract: a signed-in person (``Actor.user`` or ``Actor.admin``) by their own role, and only
in their own contract; the operator at the command line (``Actor.cli``) and the provider
itself (``Actor.system``) act on the contractor's behalf. Each change writes its audit event
naming the actor; a refusal is audited with its reason code (``idp.audit.change``)."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import phonenumbers
from email_validator import EmailNotValidError
from email_validator import validate_email

from idp import audit
from idp.actor import Actor
from idp.actor import ActorKind
from idp.contracts.contract import contract_state
from idp.contracts.contract import get_contract
from idp.errors import DomainError
from idp.errors import ProvisioningError
from idp.models import Contract
from idp.models import User
from idp.models import db
from idp.sso import sign_out_everywhere
from idp.vocabulary import MenuItem
from idp.vocabulary import Plan
from idp.vocabulary import Role
from policies.decision import Decision
from policies.permissions import check_permission
from policies.plan import check_cancellation
from policies.plan import check_plan_change

#: C4: the contract information's fields and their longest values (the columns' lengths).
INFORMATION_FIELDS: dict[str, int] = {
    "company_name": 200,
    "department": 200,
    "contact_person": 200,
    "address": 400,
    "phone": 32,
    "billing_email": 320,
}
#: Phone numbers without a country code are Japanese.
PHONE_REGION = "JP"
#: The reason every session and token family of a cancelled contract is revoked with.
CANCELLED = "contract_cancelled"


class ContractChangeRefused(DomainError):
    """The actor may not make this change (not the contractor, another contract, or the
    contract's plan or state does not allow it): a page answers 403."""

    status_code = 403


def _role_of(actor: Actor, contract: Contract) -> Role:
    """The role ``actor`` acts with in ``contract``; refused when it holds none there."""
    if actor.kind in (ActorKind.CLI, ActorKind.SYSTEM):
        return Role.CONTRACTOR  # the operator or the provider acts for the contractor
    if actor.kind in (ActorKind.USER, ActorKind.ADMIN) and actor.id:
        user = db.session.get(User, actor.id)
        if user is not None and user.contract_id == contract.id:
            return Role(user.role)
    raise ContractChangeRefused("not a person of this contract", "other_contract")


def _enforce(decision: Decision, message: str) -> None:
    if not decision.is_allowed:
        raise ContractChangeRefused(message, decision.reason)


@audit.change("plan_change")
def change_plan(actor: Actor, contract_id: str, plan: str) -> Contract:
    """C2: the contractor changes ``trial`` to ``basic``, during the trial or the 15 days
    after it; sign-ins to the storage frontend work again at once (the gate reads the plan)."""
    if plan not in set(Plan):
        raise ProvisioningError(f"unknown plan {plan}")
    contract = get_contract(contract_id)
    state = contract_state(contract)
    role = _role_of(actor, contract)
    decision = check_plan_change(state, role, Plan(plan), datetime.now(UTC))
    _enforce(decision, f"the plan cannot change from {contract.plan} to {plan}")
    old = contract.plan
    contract.plan = plan
    db.session.commit()
    audit.record(
        "plan_change",
        "ok",
        None,
        contract_id=contract_id,
        actor=actor,
        details={"plan": {"old": old, "new": plan}},
    )
    return contract


@audit.change("contract_cancel")
def cancel_contract(actor: Actor, contract_id: str) -> Contract:
    """C3: the contractor cancels a ``basic`` contract. Its status turns ``cancelled`` first
    (the gate, every refresh and the account menu refuse from then on), then every SSO
    session and refresh-token family of its users is revoked (X7 through
    :func:`idp.sso.sign_out_everywhere`, one event per user). ``idp purge`` deletes the
    users and their data after ``IDP_CANCELLED_RETENTION_DAYS``."""
    contract = get_contract(contract_id)
    role = _role_of(actor, contract)
    decision = check_cancellation(contract_state(contract), role)
    _enforce(decision, "this contract cannot be cancelled")
    contract.status = "cancelled"
    contract.cancelled_at = datetime.now(UTC)
    db.session.commit()
    users = list(db.session.query(User).filter_by(contract_id=contract_id).order_by(User.id))
    revoked = sum(sign_out_everywhere(actor, user, CANCELLED) for user in users)
    audit.record(
        "contract_cancel",
        "ok",
        None,
        contract_id=contract_id,
        actor=actor,
        details={"users": len(users), "token_families": revoked},
    )
    return contract


def _clean(field: str, value: object) -> str:
    """One C4 field, trimmed and checked; a bad value raises with the field's name."""
    if field not in INFORMATION_FIELDS:
        raise ProvisioningError(f"unknown contract information field {field}", "unknown_field")
    if not isinstance(value, str):
        raise ProvisioningError(f"{field} must be text", f"invalid_{field}")
    text = value.strip()
    if len(text) > INFORMATION_FIELDS[field] or any(ord(c) < 32 for c in text):
        raise ProvisioningError(
            f"{field} is too long or has control characters", f"invalid_{field}"
        )
    if not text:
        return ""
    if field == "billing_email":
        try:
            return validate_email(text, check_deliverability=False).normalized
        except EmailNotValidError as error:
            raise ProvisioningError(f"billing_email: {error}", "invalid_billing_email") from error
    if field == "phone":
        try:
            number = phonenumbers.parse(text, PHONE_REGION)
        except phonenumbers.NumberParseException as error:
            raise ProvisioningError(f"phone: {error}", "invalid_phone") from error
        if not phonenumbers.is_valid_number(number):
            raise ProvisioningError("phone: not a valid phone number", "invalid_phone")
        region = phonenumbers.region_code_for_number(number)
        style = (
            phonenumbers.PhoneNumberFormat.NATIONAL
            if region == PHONE_REGION
            else phonenumbers.PhoneNumberFormat.INTERNATIONAL
        )
        return str(phonenumbers.format_number(number, style))
    return text


def clean_information_field(field: str, value: object) -> str:
    """C4: one field as :func:`update_contract_information` would store it; a bad value
    raises :class:`ProvisioningError` with reason ``invalid_<field>`` (pages check each
    field on its own to show every error next to its field)."""
    return _clean(field, value)


@audit.change("contract_information")
def update_contract_information(actor: Actor, /, contract_id: str, **fields: str) -> Contract:
    """C4: the contractor of a ``basic`` contract changes its information (U2). Every value
    is checked before any is stored; the audit event names the fields that changed, not
    their values (addresses and phone numbers are personal data)."""
    contract = get_contract(contract_id)
    role = _role_of(actor, contract)
    decision = check_permission(
        MenuItem.CONTRACT_INFORMATION, role, contract_state(contract), datetime.now(UTC)
    )
    _enforce(decision, "the contract information cannot be changed")
    cleaned = {field: _clean(field, value) for field, value in fields.items()}
    changed = sorted(f for f, v in cleaned.items() if getattr(contract, f) != v)
    for field in changed:
        setattr(contract, field, cleaned[field])
    db.session.commit()
    audit.record(
        "contract_information",
        "ok",
        None,
        contract_id=contract_id,
        actor=actor,
        details={"changed": changed},
    )
    return contract
