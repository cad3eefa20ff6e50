"""Load shedding (issue 13, "Speed": no error under twice the saturating load).

Past what a worker can serve, a request is answered at once and cheaply with ``503`` and
``Retry-After`` in the shape of an outage (``idp.web.unavailable_answer``: a page in the
person's language, OAuth ``temporarily_unavailable`` JSON for the machine endpoints, an RFC
9457 problem for the admin API) instead of queueing until the client times out. The rule is
in :mod:`idp.admission.gate`; this module is its WSGI middleware, one gate per worker
process.

It needs a worker that hands it more requests than it lets in: gunicorn's ``gthread``
worker, whose threads take connections while others run (``idp serve --worker-class
gthread``, ``IDP_SHED_LIMIT``). A sync worker (``idp serve``'s default) serves one request at
a time; its queue is the kernel's accept queue, where no one can answer a request. Once the
worker takes one, the kernel tells how long it waited there: :mod:`idp.admission.worker`
refuses it by the rule of :mod:`idp.admission.waited` when that is past its budget
(``IDP_SHED_BY_WAIT``), in the worker itself, before reading it.

``/healthz``, ``/readyz`` and ``/metrics`` pass without the gate: a load balancer or a
monitor must see a busy node as alive. Each refusal counts in ``idp_requests_shed_total``
by reason (``queue_full``, ``waited``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from typing import Any
from typing import cast

from flask import Flask
from flask import Response as FlaskResponse
from prometheus_client import Counter

from idp.admission.gate import AdmissionRule
from idp.admission.gate import Gate
from idp.admission.gate import Outcome
from idp.config import Settings

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

#: Never shed: liveness, readiness and the metrics that show the shedding.
UNGATED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

SHED = Counter(
    "idp_requests_shed_total",
    "Requests refused with 503 and Retry-After because the worker was past its capacity",
    ["reason"],
)


def rule_of(settings: Settings) -> AdmissionRule:
    return AdmissionRule(
        limit=settings.shed_limit,
        queue=settings.shed_queue,
        wait=settings.shed_wait_ms / 1000,
        target=settings.shed_target_ms / 1000,
    )


class Admission:
    """WSGI middleware: each request passes the worker's gate, or is refused."""

    def __init__(
        self,
        app: WsgiApp,
        flask_app: Flask,
        rule: AdmissionRule,
        retry_after: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.flask_app = flask_app
        self.clock = clock
        self.gate = Gate(rule, clock())
        self.retry_after = retry_after

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") in UNGATED_PATHS:
            return self.app(environ, start_response)
        outcome = self._admit()
        if outcome is not Outcome.ADMITTED:
            SHED.labels(reason=outcome).inc()
            return self._refuse(environ, start_response)
        try:
            body = self.app(environ, start_response)
        except BaseException:
            self.gate.leave(self.clock())
            raise
        # A streamed body (a CSV export) is work too: the place is held until it is closed.
        return _Closing(body, lambda: self.gate.leave(self.clock()))

    def _admit(self) -> Outcome:
        ticket = self.gate.enter(self.clock())
        if ticket.outcome is not Outcome.WAITING:
            return ticket.outcome
        ticket.event.wait(max(0.0, ticket.deadline - self.clock()))
        return self.gate.give_up(ticket, self.clock())

    def _refuse(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        from idp.web import unavailable_answer

        with self.flask_app.request_context(environ):
            answer = unavailable_answer(None, self.retry_after)
            # The after-request hooks (security headers, the language cookie) need only
            # werkzeug's Response, which Flask's annotation narrows to its subclass.
            response = self.flask_app.process_response(cast(FlaskResponse, answer))
        return response(environ, start_response)


class _Closing:
    """The application's body; ``on_close`` runs once when the server closes it (PEP 3333)."""

    def __init__(self, body: Iterable[bytes], on_close: Callable[[], None]) -> None:
        self.body = body
        self.on_close = on_close

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.body)

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.on_close()


def setup_admission(app: Flask, settings: Settings) -> None:
    """Put the gate around the application: inside ``ProxyFix`` (a shed page sees the
    client's scheme and address) and the request observer (the wait and the refusals are in
    the latency histogram, and a refusal carries a request id)."""
    if settings.shed_limit <= 0:
        return
    app.wsgi_app = Admission(  # type: ignore[method-assign]
        app.wsgi_app, app, rule_of(settings), settings.shed_retry_after
    )
