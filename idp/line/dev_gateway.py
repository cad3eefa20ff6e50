"""L9: a development line gateway, so that a person and the tests can act as a given line.

It stands in for the production reverse proxy on the line network (DESIGN.md, "Line
gateway"): every request is forwarded to the provider with signed line headers for the
forwarded path (:mod:`idp.line.gateway`). It is a development tool, not a production proxy:
each request body and response body is held in memory.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote
from urllib.parse import urlsplit

import requests
from werkzeug.datastructures import Headers
from werkzeug.serving import make_server
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

from idp.line.gateway import LINE_AREAS
from idp.line.gateway import sign_line_headers
from policies.line_numbers import normalise_line_number

#: RFC 9110 §7.6.1: connection-specific headers that a proxy must not forward.
HOP_BY_HOP_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
#: A client must not be able to inject line headers: anything with this prefix is dropped.
LINE_HEADER_PREFIX = "x-line-"
#: (connect, read) timeouts of the upstream call, in seconds.
UPSTREAM_TIMEOUT = (5, 60)
#: RFC 3986 characters that may stay unescaped in a path.
_PATH_SAFE = "/!$&'()*+,;=:@-._~"

WSGIApp = Any


class _ProxiedResponse(Response):
    # No Content-Type is invented for an upstream response that had none.
    default_mimetype = None


def _connection_tokens(headers: Iterable[tuple[str, str]]) -> set[str]:
    """The header names listed in ``Connection`` (hop-by-hop as well, RFC 9110 §7.6.1)."""
    return {
        token.strip().lower()
        for name, value in headers
        if name.lower() == "connection"
        for token in value.split(",")
    }


def _upstream_request_headers(headers: Headers) -> dict[str, str]:
    dropped = HOP_BY_HOP_HEADERS | _connection_tokens(headers.items())
    # Host: the upstream's own (set by requests); Content-Length: recomputed from the body.
    dropped |= {"host", "content-length"}
    return {
        name: value
        for name, value in headers.items()
        if name.lower() not in dropped and not name.lower().startswith(LINE_HEADER_PREFIX)
    }


def _rewrite_location(location: str, upstream_base: str, own_base: str) -> str:
    """A ``Location`` into the upstream points back at the gateway; any other is kept."""
    if location.lower().startswith(upstream_base.lower()):
        rest = location[len(upstream_base) :]
        if not rest or rest[0] in "/?#":
            return own_base + rest
    return location


def _proxy(request: Request, line: str, area: str, upstream_base: str, secret: bytes) -> Response:
    target = upstream_base + quote(request.path, safe=_PATH_SAFE)
    if request.query_string:
        target += "?" + request.query_string.decode("utf-8", "replace")
    headers = _upstream_request_headers(request.headers)
    headers.update(sign_line_headers(secret, line, area, request.method, request.path, time.time()))
    try:
        with requests.Session() as session:
            # No proxies or netrc from the environment; no cookie jar shared between clients.
            session.trust_env = False
            session.headers.clear()
            upstream = session.request(
                request.method,
                target,
                headers=headers,
                data=request.get_data(),
                allow_redirects=False,
                stream=True,
                timeout=UPSTREAM_TIMEOUT,
            )
            with upstream:
                # Undecoded, so that the body matches the Content-Encoding passed on.
                body = upstream.raw.read(decode_content=False)
                raw_headers = list(upstream.raw.headers.items())
    except requests.Timeout:
        return Response(f"line gateway: {upstream_base} did not answer in time\n", 504)
    except requests.RequestException:
        return Response(f"line gateway: {upstream_base} is not reachable\n", 502)
    dropped = HOP_BY_HOP_HEADERS | _connection_tokens(raw_headers) | {"content-length"}
    own_base = request.host_url.rstrip("/")
    response_headers = Headers()
    # items() keeps repeated headers apart: every Set-Cookie passes unchanged.
    for name, value in raw_headers:
        if name.lower() == "location":
            value = _rewrite_location(value, upstream_base, own_base)
        if name.lower() not in dropped:
            response_headers.add(name, value)
    response = _ProxiedResponse(body, status=upstream.status_code, headers=response_headers)
    if request.method == "HEAD" and "content-length" in upstream.raw.headers:
        response.headers["Content-Length"] = upstream.raw.headers["content-length"]
    return response


def make_dev_gateway_app(line: str, area: str, to: str, secret: bytes) -> WSGIApp:
    """A WSGI app that forwards every request to ``to`` as line ``line`` in ``area``.

    Incoming ``X-Line-*`` headers are dropped and replaced by signed ones; redirects are
    passed back (not followed), with a ``Location`` into ``to`` rewritten to the gateway.

    :param line: the line number (A2), upper-cased here.
    :param area: ``east`` or ``west``.
    :param to: the provider's base URL, such as ``http://127.0.0.1:8000``.
    :param secret: the secret shared with the provider.
    :raises ValueError: for a malformed line number, an unknown area or an empty secret.
    """
    number = normalise_line_number(line)
    if number is None:
        raise ValueError(f"not a line number: {line!r} (CAF + 10 or COP + 8 letters/digits)")
    if area not in LINE_AREAS:
        raise ValueError(f"unknown line area: {area!r} (east or west)")
    if not secret:
        raise ValueError("the line gateway secret must not be empty")
    upstream_base = to.rstrip("/")
    if urlsplit(upstream_base).scheme not in ("http", "https"):
        raise ValueError(f"not an http(s) URL: {to!r}")

    @Request.application
    def app(request: Request) -> Response:
        return _proxy(request, number, area, upstream_base, secret)

    return app


def run_dev_gateway(line: str, area: str, to: str, listen: str, secret: bytes) -> None:
    """Serve the development line gateway on ``listen`` (``host:port``) until interrupted."""
    app = make_dev_gateway_app(line, area, to, secret)
    host, _, port = listen.rpartition(":")
    host = host or "127.0.0.1"
    server = make_server(host.strip("[]"), int(port), app, threaded=True)
    own = f"http://{host}:{server.server_port}"
    print(f"line gateway {line.upper()} ({area}) on {own} → {to}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
