"""Audit events (X3): one row per security-relevant action, with a reason code on every
refusal; never a password, code or token. Each event is also logged as a JSON line.

Domain functions (DESIGN.md "Inside idp/") are marked with ``@audit.change(event)``: they
take the actor first, write their own ``ok`` event naming it, and a refusal they raise
(``DomainError``) is recorded here with its reason code.

Every event names its contract where one is known (the user's, or the actor's), so that the
contract's log (G6) shows it and it joins that contract's hash chain (X8): rows are written
unsealed and chained after the commit, off the request thread (``idp.audit_chain``)."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any
from typing import Concatenate
from typing import ParamSpec
from typing import TypeVar

from flask import current_app
from flask import has_request_context
from flask import request
from sqlalchemy import insert
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from idp import extensions
from idp.actor import Actor
from idp.audit_chain.sealer import mark_unsealed
from idp.errors import DomainError
from idp.log_lines import info_line
from idp.metrics import count_event
from idp.models import AuditEvent
from idp.models import Contract
from idp.models import User
from idp.models import db
from idp.models import utcnow

log = logging.getLogger("idp.audit")

P = ParamSpec("P")
R = TypeVar("R")

#: Every domain function that changes something: "module.function" -> its audit event.
DOMAIN_CHANGES: dict[str, str] = {}


def record(
    event: str,
    outcome: str,
    reason: str | None,
    *,
    user_id: str | None = None,
    contract_id: str | None = None,
    client_id: str | None = None,
    details: dict[str, Any] | None = None,
    commit: bool = True,
    actor: Actor | None = None,
    target: str | None = None,
) -> None:
    """Store one audit event, in its own commit unless ``commit`` is False (then it goes
    with the caller's next commit: one write instead of two on the token path).

    :param outcome: ``ok``, ``refused`` or ``info``.
    :param reason: reason code such as ``wrong_password``; required when refused.
    :param contract_id: the contract concerned; default: the user's, else the actor's.
    :param actor: who asked (domain functions always name one).
    :param target: what was changed when no user/contract/client column says it (a line
        number, a connection ID).
    """
    details = dict(details or {})
    if actor is not None:
        details["actor"] = actor.as_details()
    if contract_id is None and user_id is not None:
        # The identity map has the user on every path that names one (no extra query).
        user = db.session.get(User, user_id)
        contract_id = user.contract_id if user is not None else None
    if contract_id is None and actor is not None:
        contract_id = actor.contract_id
    if target is not None:
        details["target"] = target
    ip = request.remote_addr if has_request_context() else None
    event_row = AuditEvent(
        event=event,
        outcome=outcome,
        reason=reason,
        user_id=user_id,
        contract_id=contract_id,
        client_id=client_id,
        ip=ip,
        actor=actor.as_text() if actor is not None else None,
        details=details,
    )
    db.session.add(event_row)
    mark_unsealed()
    if commit:
        db.session.commit()
    _announce(event, outcome, reason, user_id, client_id, ip, details, target)


#: ``record_in_transaction``'s statement, built once. Inline: nothing reads the new row's
#: id, so PostgreSQL is not asked to return it (no ``RETURNING id``, no result to fetch).
_INSERT_EVENT = insert(AuditEvent.__table__).inline()


def record_in_transaction(
    event: str,
    outcome: str,
    reason: str | None,
    *,
    user_id: str | None,
    contract_id: str | None,
    client_id: str | None,
    details: dict[str, Any] | None = None,
    connection: Connection | None = None,
) -> None:
    """``record`` for the token endpoint's hot path (issue 13): one prebuilt Core INSERT on
    the caller's transaction, which the caller commits; no ORM unit of work, and the contract
    is given, never looked up. No actor: a grant is the client's own request.

    :param connection: a Core connection of the caller's instead of the ORM session's; the
        caller calls :func:`seal_soon` once it has committed."""
    ip = request.remote_addr if has_request_context() else None
    (connection or db.session.connection()).execute(
        _INSERT_EVENT,
        {
            "at": utcnow(),
            "event": event,
            "outcome": outcome,
            "reason": reason,
            "user_id": user_id,
            "contract_id": contract_id,
            "client_id": client_id,
            "ip": ip,
            "actor": None,
            "details": details or {},
        },
    )
    if connection is None:
        mark_unsealed()
    _announce(event, outcome, reason, user_id, client_id, ip, details or {}, None)


def seal_soon() -> None:
    """X8: events were committed outside the ORM session (``record_in_transaction`` on a
    connection of the caller's): ask the app's sealer to chain them, as a session's commit
    does (``idp.audit_chain.trigger``)."""
    app: Any = current_app
    extensions.audit_sealer().request(app._get_current_object())


def _announce(
    event: str,
    outcome: str,
    reason: str | None,
    user_id: str | None,
    client_id: str | None,
    ip: str | None,
    details: dict[str, Any],
    target: str | None,
) -> None:
    """The metrics and the JSON log line of an audit event."""
    count_event(event, outcome, reason, details)
    info_line(
        log,
        "audit",
        audit={
            "event": event,
            "outcome": outcome,
            "reason": reason,
            "user_id": user_id,
            "client_id": client_id,
            "ip": ip,
            "actor": details.get("actor"),
            "target": target,
        },
    )


def change(
    event: str,
) -> Callable[[Callable[Concatenate[Actor, P], R]], Callable[Concatenate[Actor, P], R]]:
    """Mark a domain function that changes something (its first parameter is the actor).

    The function writes its own ``ok`` event (it knows the target); a ``DomainError`` it
    raises is recorded as ``refused`` with the error's reason code and the actor, then
    re-raised. The registry lets a test check that every such function audits."""

    def decorate(
        function: Callable[Concatenate[Actor, P], R],
    ) -> Callable[Concatenate[Actor, P], R]:
        @functools.wraps(function)
        def wrapper(actor: Actor, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return function(actor, *args, **kwargs)
            except DomainError as error:
                db.session.rollback()
                # A nested domain function (an admin operation over the plain one) records
                # the refusal once, under the innermost, most specific event.
                if not getattr(error, "is_audited", False):
                    contract_id = _target_contract(signature, actor, args, kwargs)
                    record(event, "refused", error.reason, actor=actor, contract_id=contract_id)
                    error.is_audited = True  # type: ignore[attr-defined]
                raise

        signature = inspect.signature(function)
        DOMAIN_CHANGES[f"{function.__module__}.{function.__qualname__}"] = event
        return wrapper

    return decorate


def _target_contract(
    signature: inspect.Signature, actor: Actor, args: Any, kwargs: Any
) -> str | None:
    """The contract a refused change was aimed at, when its arguments name one (a
    ``contract_id`` that exists, or a ``user``); else None (``record`` then takes the
    actor's). A NotFound's made-up contract id never becomes a chain."""
    try:
        bound = signature.bind(actor, *args, **kwargs).arguments
    except TypeError:
        return None
    contract_id = bound.get("contract_id")
    if isinstance(contract_id, str) and db.session.get(Contract, contract_id) is not None:
        return contract_id
    user = bound.get("user")
    if isinstance(user, User):
        try:
            return user.contract_id
        except SQLAlchemyError:  # a user deleted meanwhile: its row cannot be reloaded
            return None
    return None
