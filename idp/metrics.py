"""Prometheus metrics: every audit event is counted by event, outcome and reason, so
dashboards see refusals (``wrong_password``, ``locked``, ``code_reuse`` …) as they happen.

``/metrics`` answers only clients of ``IDP_METRICS_ALLOW`` (default: loopback) or a request
with ``Authorization: Bearer <IDP_METRICS_TOKEN>``; anyone else gets 404, as if there were
no such page (the counts describe refusals and must not help an attacker tune an attack).

Under gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` so that ``/metrics`` sums all workers."""

from __future__ import annotations

import hmac
import ipaddress
import os

from flask import Blueprint
from flask import Response
from flask import abort
from flask import request
from flask.blueprints import BlueprintSetupState
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import generate_latest
from prometheus_client import multiprocess

from idp import extensions
from idp.config import ConfigError
from idp.extensions import Network

bp = Blueprint("metrics", __name__)

AUDIT_EVENTS = Counter(
    "idp_audit_events_total",
    "Security-relevant events by kind, outcome and reason code",
    ["event", "outcome", "reason"],
)


def count_event(event: str, outcome: str, reason: str | None) -> None:
    AUDIT_EVENTS.labels(event=event, outcome=outcome, reason=reason or "").inc()


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
