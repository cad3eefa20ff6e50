"""A2: the contract's line numbers (validated, upper case, unique within the contract)."""

from __future__ import annotations

from idp import audit
from idp.actor import Actor
from idp.actor import ActorKind
from idp.contracts.contract import get_contract
from idp.errors import NotFoundError
from idp.errors import ProvisioningError
from idp.models import LineNumber
from idp.models import db
from policies.line_numbers import normalise_line_number


def list_lines(contract_id: str) -> list[LineNumber]:
    return list(
        db.session.query(LineNumber).filter_by(contract_id=contract_id).order_by(LineNumber.number)
    )


def line_choices(contract_id: str) -> dict[str, str | None]:
    """The contract's registered lines (A2), each with its L9 West Japan notification choice
    (``notify``, ``do_not_notify``, or None while not asked)."""
    rows = db.session.query(LineNumber.number, LineNumber.notification).filter_by(
        contract_id=contract_id
    )
    return {number: notification for number, notification in rows}


@audit.change("line_add")
def add_line(actor: Actor, contract_id: str, raw_number: str) -> LineNumber:
    """A2: register a line number."""
    number = normalise_line_number(raw_number)
    if number is None:
        raise ProvisioningError(
            f"not a line number (CAF + 10 or COP + 8): {raw_number!r}", "not_a_line_number"
        )
    get_contract(contract_id)
    if db.session.get(LineNumber, (contract_id, number)) is not None:
        raise ProvisioningError(f"{number} is already registered for this contract", "exists")
    line = LineNumber(contract_id=contract_id, number=number)
    db.session.add(line)
    db.session.commit()
    audit.record("line_add", "ok", None, contract_id=contract_id, actor=actor, target=number)
    return line


@audit.change("line_remove")
def remove_line(actor: Actor, contract_id: str, raw_number: str) -> None:
    """Sessions that came through the line end at their next refresh (X5)."""
    number = normalise_line_number(raw_number) or raw_number
    line = db.session.get(LineNumber, (contract_id, number))
    if line is None:
        raise NotFoundError(f"{raw_number} is not registered for this contract")
    db.session.delete(line)
    db.session.commit()
    audit.record("line_remove", "ok", None, contract_id=contract_id, actor=actor, target=number)


#: L9: what a person answers at a West Japan line's first line-authenticated access.
NOTIFICATION_CHOICES = ("notify", "do_not_notify")


@audit.change("line_notice")
def choose_line_notification(actor: Actor, contract_id: str, number: str, choice: str) -> None:
    """L9: keep the notification choice for one of the contract's lines ("do not notify"
    closes line authentication for that line). The actor is the person who answered."""
    if choice not in NOTIFICATION_CHOICES:
        raise ProvisioningError(f"not a notification choice: {choice!r}", "bad_choice")
    line = db.session.get(LineNumber, (contract_id, number))
    if line is None:
        raise NotFoundError(f"{number} is not registered for this contract")
    line.notification = choice
    db.session.commit()
    audit.record(
        "line_notice",
        "ok",
        choice,
        user_id=actor.id if actor.kind == ActorKind.USER else None,
        contract_id=contract_id,
        details={"line": number},
        actor=actor,
    )
