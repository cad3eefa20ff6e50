"""Prometheus metrics: every audit event is counted by event, outcome and reason, so
dashboards see refusals (``wrong_password``, ``locked``, ``code_reuse`` …) as they happen.

Under gunicorn set ``PROMETHEUS_MULTIPROC_DIR`` so that ``/metrics`` sums all workers."""

from __future__ import annotations

import os

from flask import Blueprint
from flask import Response
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client import CollectorRegistry
from prometheus_client import Counter
from prometheus_client import generate_latest
from prometheus_client import multiprocess

bp = Blueprint("metrics", __name__)

AUDIT_EVENTS = Counter(
    "idp_audit_events_total",
    "Security-relevant events by kind, outcome and reason code",
    ["event", "outcome", "reason"],
)


def count_event(event: str, outcome: str, reason: str | None) -> None:
    AUDIT_EVENTS.labels(event=event, outcome=outcome, reason=reason or "").inc()


@bp.get("/metrics")
def metrics() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
