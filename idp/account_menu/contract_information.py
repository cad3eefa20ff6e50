"""C4: the contract information (company name, department, contact person, address, phone,
billing contact email), shown to whom U2 allows and, on ``basic``, changed by the
contractor: each field is checked on its own, its errors next to it; all or nothing is
saved (:func:`idp.contracts.life.update_contract_information` audits the change)."""

from __future__ import annotations

from flask import Response
from flask import render_template
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from idp.account_menu.guard import ENDPOINTS
from idp.account_menu.guard import Person
from idp.account_menu.guard import bp
from idp.account_menu.guard import forbidden
from idp.account_menu.guard import menu_item
from idp.actor import Actor
from idp.contracts.life import INFORMATION_FIELDS
from idp.contracts.life import ContractChangeRefused
from idp.contracts.life import clean_information_field
from idp.contracts.life import update_contract_information
from idp.errors import ProvisioningError
from idp.i18n import gettext as _
from idp.vocabulary import MenuItem
from idp.vocabulary import Plan

ENDPOINTS[MenuItem.CONTRACT_INFORMATION] = "account_menu.contract_information"


def _labels() -> dict[str, str]:
    return {
        "company_name": _("Company name"),
        "department": _("Department"),
        "contact_person": _("Contact person"),
        "address": _("Address"),
        "phone": _("Phone number"),
        "billing_email": _("Billing contact email"),
    }


def _error(field: str) -> str:
    if field == "phone":
        return _("Enter a valid phone number (for example 03-1234-5678 or +81 3 1234 5678).")
    if field == "billing_email":
        return _("Enter a valid email address.")
    return _(
        "Use at most %(max)d characters, without line breaks or control characters.",
        max=INFORMATION_FIELDS[field],
    )


def _page(
    person: Person,
    values: dict[str, str],
    errors: dict[str, list[str]],
    status: int = 200,
    saved: bool = False,
) -> BaseResponse:
    return Response(
        render_template(
            "account/contract_information.html",
            user=person.user,
            contract=person.contract,
            fields=[(name, label, INFORMATION_FIELDS[name]) for name, label in _labels().items()],
            values=values,
            errors=errors,
            editable=person.contract.plan == Plan.BASIC,
            saved=saved,
        ),
        status,
    )


def _stored(person: Person) -> dict[str, str]:
    return {name: str(getattr(person.contract, name) or "") for name in INFORMATION_FIELDS}


@bp.route("/account/contract", methods=["GET", "POST"])
@menu_item(MenuItem.CONTRACT_INFORMATION)
def contract_information(person: Person) -> BaseResponse:
    if request.method == "GET":
        return _page(person, _stored(person), {})
    # Longer input than a field takes is cut a character past its limit: still refused.
    values = {
        name: request.form.get(name, "")[: limit + 1] for name, limit in INFORMATION_FIELDS.items()
    }
    errors: dict[str, list[str]] = {}
    for name, value in values.items():
        try:
            clean_information_field(name, value)
        except ProvisioningError:
            errors[name] = [_error(name)]
    if errors:
        return _page(person, values, errors, 400)
    actor = Actor.user(person.user.id, person.contract.id)
    try:
        contract = update_contract_information(actor, person.contract.id, **values)
    except ContractChangeRefused as error:
        return forbidden(error.reason)
    return _page(person, {n: str(getattr(contract, n)) for n in INFORMATION_FIELDS}, {}, 200, True)
