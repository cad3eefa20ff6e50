"""Prometheus metrics (README "Metrics" lists them for operators).

Every audit event is counted by event, outcome and reason (``idp_audit_events_total``), and
the events an operator watches are also counted under their own names: sign-ins by method,
route and outcome, refusals by reason, locks, second-factor checks, tokens by grant. They are
derived here from the audit event (:func:`count_event`, called by ``audit.record``), so that
the domain and login code write one event and nothing else. Each request's latency is
observed by the request observer (``idp.logs.RequestObserver``) per URL rule (``/links/<token>``,
never the raw path: the label set stays bounded), HTTP method and status class.

``/metrics`` answers only clients of ``IDP_METRICS_ALLOW`` (default: loopback) or a request
with ``Authorization: Bearer <IDP_METRICS_TOKEN>``; anyone else gets 404, as if there were
no such page (the counts describe refusals and must not help an attacker tune an attack).

Under gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` (``idp serve`` does) so that ``/metrics``
sums all workers."""

from __future__ import annotations

import hmac
import ipaddress
import os
from collections.abc import Mapping
from typing import Any

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import abort
from flask import has_request_context
from flask import request
from flask.blueprints import BlueprintSetupState
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import Histogram
from prometheus_client import generate_latest
from prometheus_client import multiprocess

from idp import extensions
from idp.config import ConfigError
from idp.extensions import Network
from policies.vocabulary import LoginMethod

bp = Blueprint("metrics", __name__)

AUDIT_EVENTS = Counter(
    "idp_audit_events_total",
    "Security-relevant events by kind, outcome and reason code",
    ["event", "outcome", "reason"],
)
SIGN_INS = Counter(
    "idp_sign_ins_total",
    "Sign-ins by login method, route (internet, line) and outcome (ok, refused)",
    ["method", "route", "outcome"],
)
SIGN_IN_REFUSALS = Counter(
    "idp_sign_in_refusals_total",
    "Refused sign-ins by login method and reason code",
    ["method", "reason"],
)
LOCKS = Counter(
    "idp_account_locks_total",
    "Accounts locked, by reason (too_many_failures, admin_lock)",
    ["reason"],
)
UNLOCKS = Counter("idp_account_unlocks_total", "Accounts unlocked")
SECOND_FACTOR = Counter(
    "idp_second_factor_total",
    "Second-factor checks at sign-in by kind (sms, totp, passkey, recovery) and outcome "
    "(ok or the refusal's reason code)",
    ["kind", "outcome"],
)
TOKENS = Counter(
    "idp_tokens_issued_total",
    "Token responses by grant type",
    ["grant_type"],
)
TOKEN_REFUSALS = Counter(
    "idp_token_refusals_total",
    "Refused token requests by reason code (code_reuse, refresh_reuse …)",
    ["reason"],
)
HTTP_DURATION = Histogram(
    "idp_http_request_duration_seconds",
    "Time in the application per request, by URL rule, HTTP method and status class",
    ["endpoint", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)

#: Label values of ``method``; anything else (a misspelt provider) counts as ``other``.
METHODS = frozenset(m.value for m in LoginMethod)
#: Refusals of the Active Directory steps that name no method in their event.
AD_REASONS = frozenset({"unknown_connection_id", "ldap_too_many_failures"})
#: HTTP methods kept as label values; the rest (any token a client sends) is ``other``.
HTTP_METHODS = frozenset({"GET", "POST", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
#: Second-factor kinds by a word of the step's URL rule (a refusal names no kind).
FACTOR_OF_RULE = (("sms", "sms"), ("app", "totp"), ("passkey", "passkey"), ("recovery", "recovery"))
#: Environ key where the request's URL rule is left for the request observer.
RULE_KEY = "idp.url_rule"
UNMATCHED = "<unmatched>"


#: Each metric's children by label values (in the order of the metric's label names), so that
#: counting looks one up in a dict: ``labels()`` validates its arguments and takes a lock on
#: every call, a few per cent of a token grant (issue 13). Holds what prometheus_client
#: holds anyway: every child ever used, a bounded set (reason codes, URL rules, methods).
_CHILDREN: dict[tuple[Any, tuple[str, ...]], Any] = {}


def _child(metric: Any, *values: str) -> Any:
    key = (metric, values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*values)
    return child


def _sign_in_method(reason: str | None, details: Mapping[str, Any]) -> str:
    """The login method of a ``login`` event: named by the event (the finish step, the
    policies step, an upstream's ``provider``), else the Active Directory steps' reasons,
    else the password form, whose refusals (wrong_password, unknown_email, locked,
    ip_rate_limited …) name none."""
    method = details.get("method") or details.get("provider")
    if method:
        return method if method in METHODS else "other"
    return "ad" if reason in AD_REASONS else "password"


def _route(details: Mapping[str, Any]) -> str:
    route = details.get("route")
    kind = route.get("kind") if isinstance(route, Mapping) else route
    if kind in ("line", "internet"):
        return str(kind)
    return "line" if has_request_context() and request.path.startswith("/line/") else "internet"


def _factor_kind(details: Mapping[str, Any]) -> str:
    kind = details.get("kind")
    if kind:
        return str(kind)
    rule = request.url_rule.rule if has_request_context() and request.url_rule else ""
    last = rule.rstrip("/").rsplit("/", 1)[-1]
    for word, name in FACTOR_OF_RULE:
        if word in last:
            return name
    return "unknown"


def count_event(
    event: str, outcome: str, reason: str | None, details: Mapping[str, Any] | None = None
) -> None:
    """Count one audit event, and under its own metric when an operator watches it."""
    _child(AUDIT_EVENTS, event, outcome, reason or "").inc()
    details = details or {}
    if event == "login" and outcome in ("ok", "refused"):
        method = _sign_in_method(reason, details)
        _child(SIGN_INS, method, _route(details), outcome).inc()
        if outcome == "refused":
            _child(SIGN_IN_REFUSALS, method, reason or "").inc()
    elif event == "second_factor" and outcome in ("ok", "refused"):
        result = "ok" if outcome == "ok" else reason or "refused"
        _child(SECOND_FACTOR, _factor_kind(details), result).inc()
    elif event in ("token_issued", "token_refreshed"):
        grant = "refresh_token" if event == "token_refreshed" else details.get("grant")
        _child(TOKENS, grant or "authorization_code").inc()
    elif event == "token" and outcome == "refused":
        _child(TOKEN_REFUSALS, reason or "").inc()
    elif event == "lock":
        _child(LOCKS, reason or "").inc()
    elif event == "unlock":
        UNLOCKS.inc()


def _remember_rule(_endpoint: str | None, _values: dict[str, Any] | None) -> None:
    """Leave the matched URL rule where the request observer finds it after the request
    context is gone (Flask clears ``environ["werkzeug.request"]``)."""
    rule = request.url_rule
    request.environ[RULE_KEY] = rule.rule if rule is not None else UNMATCHED


def observe_request(environ: dict[str, Any], status: str, seconds: float) -> None:
    """One request's time in the application (the request observer calls it)."""
    method = environ.get("REQUEST_METHOD", "")
    key = (
        environ.get(RULE_KEY, UNMATCHED),
        method if method in HTTP_METHODS else "other",
        f"{status[:1]}xx",
    )
    _child(HTTP_DURATION, *key).observe(seconds)


def setup_request_metrics(app: Flask) -> None:
    app.url_value_preprocessor(_remember_rule)


def parse_networks(value: str) -> tuple[Network, ...]:
    """``IDP_METRICS_ALLOW``: comma-separated CIDRs (a bare address is a /32 or /128)."""
    networks = []
    for item in value.split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError as error:
                raise ConfigError(f"IDP_METRICS_ALLOW: {error}") from error
    return tuple(networks)


@bp.record_once
def _read_settings(state: BlueprintSetupState) -> None:
    """Parse the allowed networks once, at start-up (a malformed one stops start-up)."""
    settings = extensions.settings.of(state.app)
    extensions.metrics_allow.register(state.app, parse_networks(settings.metrics_allow))


def is_metrics_reader() -> bool:
    """An allowed network (the address after trusted proxies), or the bearer token."""
    token = extensions.settings().metrics_token
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if token and scheme.lower() == "bearer":
        return hmac.compare_digest(presented.strip().encode(), token.encode())
    try:
        client = ipaddress.ip_address(request.remote_addr or "")
    except ValueError:
        return False
    return any(client in network for network in extensions.metrics_allow())


@bp.get("/metrics")
def metrics() -> Response:
    if not is_metrics_reader():
        abort(404)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        # prometheus_client leaves this constructor unannotated.
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
