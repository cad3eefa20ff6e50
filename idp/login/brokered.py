"""Identify step by an upstream (L7, L8): send the browser to the upstream, take the callback,
find the user by the bound (provider, issuer, subject) — never by email — and hand over to
the policies. Upstream MFA passes through into ``amr``; our 2FA (L3) is for password users."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from flask import Blueprint
from flask import Response
from flask import redirect
from flask import render_template
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from brokers.base import Broker
from brokers.base import BrokeredIdentity
from brokers.base import BrokerError
from brokers.base import UpstreamRequest
from brokers.registry import UPSTREAMS_BY_NAME
from idp import audit
from idp import extensions
from idp.login.gate import admit
from idp.login.route import route_of_request
from idp.login.steps import is_due
from idp.login.steps import step
from idp.login.transaction import Transaction
from idp.login.transaction import redirect_to_next_step
from idp.models import UpstreamIdentity
from idp.models import User
from idp.models import db
from idp.models import utcnow
from policies.assurance import amr_for_upstream

bp = Blueprint("brokered", __name__)

STATE_PREFIX = "broker-state:"
#: Upstreams whose broker is found per sign-in from what the transaction kept, not from the
#: settings (``ad``: the contract's AD FS by its connection ID). Their module registers here,
#: so that imports run one way: idp/login/active_directory.py → this module.
CALLBACK_BROKERS: dict[str, Callable[[dict[str, Any]], Broker | None]] = {}
#: What a callback does for a transaction of another purpose than signing in, by
#: ``tx.data["broker"]["purpose"]`` (``invite``: bind the identity to the invited user, L10).
#: The purpose's module registers here (idp/links/invite.py), so imports run one way.
CALLBACK_PURPOSES: dict[
    str, Callable[[Transaction, BrokeredIdentity, dict[str, Any]], BaseResponse]
] = {}
#: The login method a provider's identity signs in (SPEC Words: one method per user): an
#: upstream's registry name is its login method.
METHOD_OF_PROVIDER = {name: name for name in UPSTREAMS_BY_NAME}


def amr_for(identity: BrokeredIdentity) -> list[str]:
    """Our ``amr`` for a federated sign-in: ``fed``, plus ``mfa`` only when the upstream
    proves it (UPSTREAMS.md: absent means "federated, method unknown")."""
    return amr_for_upstream(identity.upstream_amr)


def configured_broker(name: str) -> Broker | None:
    """The upstream built at start-up (``setup_brokers``); ``None`` when not configured."""
    brokers: dict[str, Broker] = extensions.brokers()
    return brokers.get(name)


def _state_key(state: str) -> str:
    return STATE_PREFIX + hashlib.sha256(state.encode()).hexdigest()


def upstream_request(tx: Transaction, name: str) -> UpstreamRequest:
    """prompt=login / max_age from the relying party force re-authentication upstream."""
    issuer = extensions.settings().issuer
    prompts = set(tx.params.get("prompt", "").split())
    max_age = tx.params.get("max_age")
    return UpstreamRequest(
        redirect_uri=f"{issuer}/login/callback/{name}",
        force_login="login" in prompts or max_age == "0",
        max_age=int(max_age) if max_age and max_age.isdigit() else None,
        login_hint=tx.login_hint or None,
        select_account="select_account" in prompts,
    )


def send_upstream(
    tx: Transaction, broker: Broker, extra: dict[str, Any] | None = None
) -> BaseResponse:
    """Start the upstream sign-in; its state is kept in our transaction (UPSTREAMS.md)."""
    try:
        url, kept = broker.start(upstream_request(tx, broker.name))
    except BrokerError as error:
        # What the trip was for (a binding's purpose) decides the failure page's way on.
        tx.data["broker"] = {"name": broker.name, **(extra or {})}
        return upstream_failed(tx, broker.name, error)
    tx.data["broker"] = {"name": broker.name, "kept": kept, **(extra or {})}
    tx.save()
    ttl = extensions.settings().login_transaction_ttl
    extensions.store().set(_state_key(kept["state"]), tx.id, ttl)
    return redirect(url, code=303)


#: The upstream did not answer (in its timeout) or could not be reached: RFC 9110 §15.6.5
#: and §15.6.3, not the client's fault (nothing the client caused is a 5xx).
UPSTREAM_DOWN = {"timeout": 504, "unreachable": 502}


def way_on(tx: Transaction | None) -> str:
    """Where a failed upstream trip leads: back to the sign-in of ``tx`` (``sign_in``); a
    binding from a mailed link (registration L10, method change M6: ``mail_link``) or from the
    account menu (M5: ``account_menu``) is no sign-in, and its transaction has no relying
    party to finish at, so the person chooses again from the link or the menu; without a
    transaction, the service (``service``)."""
    if tx is None:
        return "service"
    kept = tx.data.get("broker") or {}
    if kept.get("purpose"):
        return "mail_link" if kept.get("link") else "account_menu"
    return "sign_in"


def upstream_failed(tx: Transaction | None, name: str, error: BrokerError) -> BaseResponse:
    audit.record("login", "refused", f"upstream_{error.reason}", details={"provider": name})
    page = render_template(
        "login/upstream_error.html", tx=tx, provider=name, reason=error.reason, way_on=way_on(tx)
    )
    return Response(page, UPSTREAM_DOWN.get(error.reason, 400))


@bp.get("/login/broker/<name>")
@bp.get("/line/login/broker/<name>", endpoint="line_start")
@step("identify")
def start(tx: Transaction, name: str) -> BaseResponse:
    tx.route = route_of_request()
    tx.save()
    if name == "ad":
        prefix = "/line" if tx.route["kind"] == "line" else ""
        return redirect(f"{prefix}/login/ad?tx={tx.id}", code=303)
    if name not in METHOD_OF_PROVIDER:
        return Response(render_template("login/not_available.html", tx=tx, broker=name), 404)
    broker = configured_broker(name)
    if broker is None:
        # An upstream that is not configured is a feature that is off: a page that says so
        # (not a server error; nothing is wrong with the server or the request).
        return Response(render_template("login/not_available.html", tx=tx, broker=name))
    return send_upstream(tx, broker)


@bp.get("/login/callback/<name>")
def callback(name: str) -> BaseResponse:
    """The upstream's redirect back. The state names our transaction (single use: a replayed
    callback finds nothing), which must also belong to this browser."""
    state = request.args.get("state", "")
    tx_id = extensions.store().pop(_state_key(state)) if state else None
    if not tx_id or len(state) > 512:
        return upstream_failed(None, name, BrokerError("bad_state"))
    tx = Transaction.load(tx_id)
    kept = tx.data.get("broker") or {}
    if not is_due(tx, "identify") or kept.get("name") != name:
        return upstream_failed(tx, name, BrokerError("bad_state"))
    broker = _broker_for_callback(name, kept)
    if broker is None:
        return upstream_failed(tx, name, BrokerError("upstream_error", "not configured"))
    try:
        identity = broker.finish(request.args, kept["kept"])
    except BrokerError as error:
        return upstream_failed(tx, name, error)
    purpose = CALLBACK_PURPOSES.get(kept.get("purpose", ""))
    if purpose is not None:
        return purpose(tx, identity, kept)
    return identified(tx, identity, contract_id=kept.get("contract_id"))


def _broker_for_callback(name: str, kept: dict[str, Any]) -> Broker | None:
    per_sign_in = CALLBACK_BROKERS.get(name)
    return per_sign_in(kept) if per_sign_in else configured_broker(name)


def identified(
    tx: Transaction, identity: BrokeredIdentity, contract_id: str | None = None
) -> BaseResponse:
    """L7: the user bound to this upstream identity, then the policies (O2)."""
    bound = (
        db.session.query(UpstreamIdentity)
        .filter_by(provider=identity.provider, issuer=identity.issuer, subject=identity.subject)
        .one_or_none()
    )
    user = db.session.get(User, bound.user_id) if bound else None
    reason = None
    if user is None:
        reason = "identity_not_registered"
    elif user.login_method != METHOD_OF_PROVIDER.get(identity.provider):
        reason = "not_current_method"
    elif contract_id is not None and user.contract_id != contract_id:
        reason = "other_contract"
    if reason:
        audit.record(
            "login",
            "refused",
            reason,
            user_id=user.id if user else None,
            details={"provider": identity.provider},
        )
        return Response(
            render_template(
                "login/not_registered.html", tx=tx, provider=identity.provider, reason=reason
            ),
            403,
        )
    assert user is not None and bound is not None
    refused = admit(tx, user, amr_for(identity))
    if refused is not None:
        return refused
    bound.last_used_at = utcnow()
    db.session.commit()
    tx.data = {}
    tx.save()
    return redirect_to_next_step(tx)
