"""gunicorn's sync worker, refusing a request that waited too long before reading it
(``idp serve``'s default worker; the rule is :mod:`idp.admission.waited`).

Under twice the load it can serve, a worker refuses about every other request. What a
refusal costs decides what is left for the others: at a third of a grant's cost (a 503
through gunicorn's parser, the WSGI stack, Flask and the access log) refusals alone took the
whole machine in a bench on a busy host and almost nothing was served. Here a late request
costs a ``getsockopt``, a peek at its head (to answer in its shape) and one prepared answer:
the 503 of :func:`idp.web.unavailable_answer`, built by the application once per shape when
the worker starts (a page per language, OAuth ``temporarily_unavailable`` JSON for the
machine endpoints, an RFC 9457 problem for the admin API), each with ``Retry-After``.
A refused request is counted in ``idp_requests_shed_total`` and not in the access log (at
the rate requests are refused, a line each would be load of its own)."""

from __future__ import annotations

import secrets
import socket
import struct
import time
from typing import Any
from typing import cast
from urllib.parse import parse_qs

from flask import Flask
from flask import Response as FlaskResponse
from gunicorn import util
from gunicorn.workers.sync import SyncWorker
from werkzeug.http import parse_cookie

from idp.admission import SHED
from idp.admission import UNGATED_PATHS
from idp.admission.gate import Outcome
from idp.admission.waited import WaitGate
from idp.admission.waited import WaitRule

#: ``struct tcp_info`` (linux/tcp.h): ``tcpi_last_data_recv``, milliseconds since the
#: connection last received data, is the unsigned 32-bit field at this offset (after 8 bytes
#: of flags and the u32 fields rto … last_ack_sent); stable since Linux 2.6.
TCP_INFO_LAST_DATA_RECV = 52
TCP_INFO_LENGTH = 104
#: Bytes of a request's head read (peeked) to choose the shape of its refusal.
PEEK_BYTES = 4096


def waited_seconds(sock: socket.socket) -> float | None:
    """How long ago the kernel received the last bytes of the request on ``sock``: the time
    it waited for a worker (in the accept queue, or in the socket behind a proxy). ``None``
    where it cannot be known: not TCP (a Unix socket), not Linux."""
    option = getattr(socket, "TCP_INFO", None)
    if option is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, option, TCP_INFO_LENGTH)
    except OSError:
        return None
    if len(info) < TCP_INFO_LAST_DATA_RECV + 4:
        return None
    return float(struct.unpack_from("I", info, TCP_INFO_LAST_DATA_RECV)[0]) / 1000


def shape_of(head: bytes) -> str | None:
    """The refusal a request's head calls for (a key of :func:`prepared_answers`), or
    ``None`` for the paths never shed (``/healthz``, ``/readyz``, ``/metrics``)."""
    from idp.i18n import DEFAULT_LOCALE
    from idp.i18n import LANG_COOKIE
    from idp.i18n import SUPPORTED_LOCALES
    from idp.i18n import pick_locale
    from idp.web import API_PATHS
    from idp.web import PROBLEM_PATHS

    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    path, _, query = (parts[1] if len(parts) > 1 else "/").partition("?")
    if path in UNGATED_PATHS:
        return None
    if path.startswith(PROBLEM_PATHS):
        return "problem"
    if path.startswith(API_PATHS):
        return "oauth"
    locale = pick_locale(" ".join(parse_qs(query).get("ui_locales", [])))
    if locale is None:
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "cookie":
                cookie = parse_cookie(value.strip()).get(LANG_COOKIE)
                locale = cookie if cookie in SUPPORTED_LOCALES else None
    return f"page-{locale or DEFAULT_LOCALE}"


def prepared_answers(app: Flask, retry_after: int) -> dict[str, tuple[bytes, bytes]]:
    """Each shape's 503 as the application answers it: its status line and headers (without
    the request id and the blank line, which each refusal adds) and its body."""
    from idp.i18n import LANG_COOKIE
    from idp.i18n import SUPPORTED_LOCALES
    from idp.web import unavailable_answer

    requests: dict[str, dict[str, Any]] = {
        "problem": {"path": "/api/admin/v1/users"},
        "oauth": {"path": "/token", "method": "POST"},
        **{
            f"page-{locale}": {"path": "/", "headers": {"Cookie": f"{LANG_COOKIE}={locale}"}}
            for locale in SUPPORTED_LOCALES
        },
    }
    answers = {}
    for shape, request in requests.items():
        with app.test_request_context(**request):
            # The after-request hooks (security headers) need only werkzeug's Response,
            # which Flask's annotation narrows to its subclass.
            answer = app.process_response(
                cast(FlaskResponse, unavailable_answer(None, retry_after))
            )
            body = answer.get_data()
            head = [f"HTTP/1.1 {answer.status}"]
            head += [f"{name}: {value}" for name, value in answer.headers.items()]
            head += [f"Content-Length: {len(body)}", "Connection: close", ""]
        answers[shape] = "\r\n".join(head).encode("latin-1"), body
    return answers


class SheddingSyncWorker(SyncWorker):
    """A sync worker whose late requests get their prepared 503 instead of being read."""

    shed: WaitGate | None = None
    answers: dict[str, tuple[bytes, bytes]]

    def load_wsgi(self) -> None:
        super().load_wsgi()
        app = self.wsgi
        if not isinstance(app, Flask):  # pragma: no cover - idp serve always loads ours
            return
        from idp import extensions

        settings = extensions.settings.of(app)
        if not settings.shed_by_wait:
            return
        rule = WaitRule(wait=settings.shed_wait_ms / 1000, target=settings.shed_target_ms / 1000)
        self.shed = WaitGate(rule)
        self.answers = prepared_answers(app, settings.shed_retry_after)

    def handle(self, listener: Any, client: socket.socket, addr: Any) -> None:
        if self.shed is not None and self._refused(client):
            return
        super().handle(listener, client, addr)

    def _refused(self, client: socket.socket) -> bool:
        """Answer ``client`` with its prepared 503 when its request waited past the rule;
        whether it did."""
        assert self.shed is not None
        waited = waited_seconds(client)
        if waited is None or self.shed.admit(waited, time.monotonic()) is Outcome.ADMITTED:
            return False
        try:
            head = client.recv(PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, OSError):
            head = b""
        shape = shape_of(head)
        if shape is None:
            return False
        SHED.labels(reason=Outcome.WAITED).inc()
        head, body = self.answers[shape]
        request_id = f"X-Request-ID: {secrets.token_hex(16)}\r\n\r\n".encode()
        try:
            client.sendall(head + request_id + body)
        except OSError:
            pass  # the client has gone: nothing to answer
        finally:
            util.close_graceful(client)
        return True
