"""gunicorn's sync worker, refusing a request that waited too long before reading it
(``idp serve``'s default worker; the rule is :mod:`idp.admission.waited`), and closing a
connection without lingering when nothing is left to read (:func:`close_promptly`).

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

import errno
import secrets
import socket
import ssl
import struct
import time
from typing import Any
from typing import cast
from urllib.parse import parse_qs

from flask import Flask
from flask import Response as FlaskResponse
from gunicorn import http
from gunicorn import sock as gunicorn_sock
from gunicorn import util
from gunicorn.http import errors as http_errors
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


def _drain_request(sock: socket.socket, limit: int = 1 << 16) -> bool:
    """Read and drop what the client has sent so far (``limit`` bytes at most); whether that
    was its whole request (the head and a body of its ``Content-Length``)."""
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(PEEK_BYTES, socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            break
        if not chunk:
            return True  # the client has closed its side: nothing more will come
        data += chunk
    head, found, body = data.partition(b"\r\n\r\n")
    if not found:
        return False
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"transfer-encoding":
            return False  # chunked: where it ends is not worth parsing to refuse it
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
    return len(body) >= length


def close_promptly(sock: socket.socket) -> None:
    """Close a connection whose response is sent: at once when the client has sent nothing
    more than the request read; by gunicorn's lingering close when it has (RFC 9112 §9.6:
    unread bytes at close make the kernel answer with a reset, which may destroy the response
    before the client reads it, so they are drained first).

    gunicorn 27 lingers after every response, until the client closes its side (up to 2 s):
    a sync worker then waits, one request at a time, for its client to be scheduled, read the
    answer and close. In a profile of the live server (client_credentials) that wait was
    13–17 % of the worker's samples. nginx lingers only when the client may still be sending
    (its ``lingering_close on``), as here."""
    try:
        sock.shutdown(socket.SHUT_WR)  # the response is complete: FIN after it
        unread = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        unread = b""  # nothing more sent, the client still open: nothing to drain
    except OSError:
        unread = b""  # the client is gone
    if unread:
        util.close_graceful(sock)
    else:
        sock.close()


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
        """gunicorn's ``SyncWorker.handle`` (27.0), but closing by :func:`close_promptly`,
        and with the refusal of a late request first."""
        if self.shed is not None and self._refused(client):
            return
        req = None
        try:
            if self.cfg.is_ssl:  # pragma: no cover - idp serve terminates no TLS
                client = gunicorn_sock.ssl_wrap_socket(client, self.cfg)
            parser = http.get_parser(self.cfg, client, addr)
            req = next(parser)
            self.handle_request(listener, req, client, addr)
        except http_errors.NoMoreData as error:
            self.log.debug("Ignored premature client disconnection. %s", error)
        except StopIteration as error:
            self.log.debug("Closing connection. %s", error)
        except ssl.SSLError as error:  # pragma: no cover - no TLS here
            if error.args[0] == ssl.SSL_ERROR_EOF:
                client.close()
            else:
                self.handle_error(req, client, addr, error)
        except OSError as error:
            if error.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                self.log.exception("Socket error processing request.")
        except BaseException as error:
            self.handle_error(req, client, addr, error)
        finally:
            close_promptly(client)

    def _refused(self, client: socket.socket) -> bool:
        """Answer ``client`` with its prepared 503 when its request waited past the rule;
        whether it did. A connection on which nothing has arrived yet is no request that
        waited (its client is slow to send, or was descheduled between connecting and
        sending): it is served as it comes, never answered before it asked."""
        assert self.shed is not None
        waited = waited_seconds(client)
        if waited is None or self.shed.admit(waited, time.monotonic()) is Outcome.ADMITTED:
            return False
        try:
            head = client.recv(PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, OSError):
            head = b""
        shape = shape_of(head) if head else None
        if shape is None:
            return False
        SHED.labels(reason=Outcome.WAITED).inc()
        answer, body = self.answers[shape]
        request_id = f"X-Request-ID: {secrets.token_hex(16)}\r\n\r\n".encode()
        whole = False
        try:
            whole = _drain_request(client)
            client.sendall(answer + request_id + body)
        except OSError:
            pass  # the client has gone: nothing to answer
        finally:
            # A request still arriving is drained by the lingering close, or its client's
            # next bytes would meet a reset instead of the answer.
            if whole:
                close_promptly(client)
            else:
                util.close_graceful(client)
        return True
