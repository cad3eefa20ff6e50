"""The back channel's HTTP client: ``POST /token`` on one keep-alive ``http.client``
connection per worker thread.

``requests`` costs the client about 0.7–0.9 ms of CPU per request (its adapters, hooks, cookie
jar and urllib3's pool); a grant costs the server about 2 ms, so at twice the saturating rate
of ``client_credentials`` (1,200 grants/s on 2 cores) a ``requests`` client spent most of
its core on itself and left arrivals unstarted. This one does what a token request needs
and nothing else: form body, Basic client authentication, one connection kept open.

What a server does wrong stays visible: a reset, a closed connection or a timeout while a
request is out raises (the caller counts it as an error), never a silent retry; only a
connection the server closed while it was idle (a keep-alive timeout: readable before
anything was sent) is replaced before the request, as urllib3 does.
"""

from __future__ import annotations

import base64
import http.client
import json
import select
from typing import Any
from urllib.parse import quote
from urllib.parse import urlencode
from urllib.parse import urlsplit

from loginbench.steps import TIMEOUT


class Answer:
    """A response with the names of ``requests.Response`` that the flows and
    ``steps.unexpected`` read."""

    def __init__(
        self, status_code: int, headers: http.client.HTTPMessage, content: bytes, url: str
    ) -> None:
        self.status_code = status_code
        #: Case-insensitive ``get``, ``in`` and ``[]``, as requests' headers.
        self.headers = headers
        self.content = content
        self.url = url

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


def basic_auth(client_id: str, secret: str) -> str:
    """RFC 6749 §2.3.1: both parts urlencoded, then HTTP Basic (a space as %20, which
    authlib's ``unquote`` and a form decoder both read; ``+`` only the latter)."""
    pair = f"{quote(client_id, safe='')}:{quote(secret, safe='')}"
    return "Basic " + base64.b64encode(pair.encode()).decode()


def dropped(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle connection was closed by the server: its socket is readable (end of
    stream, or bytes nobody asked for) before a request was sent."""
    sock = connection.sock
    if sock is None:
        return True
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)


class Backchannel:
    """One keep-alive connection to the provider, for one thread at a time."""

    def __init__(self, base_url: str, timeout: float = TIMEOUT) -> None:
        parts = urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.prefix = parts.path.rstrip("/")
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.timeout = timeout
        self.connection: http.client.HTTPConnection | None = None

    def post_form(self, path: str, fields: dict[str, str], auth: tuple[str, str]) -> Answer:
        """``POST`` of a form with client_secret_basic; the whole answer read."""
        body = urlencode(fields)
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": basic_auth(*auth),
            "Accept": "application/json",
        }
        connection = self._connection()
        try:
            connection.request("POST", self.prefix + path, body, headers)
            response = connection.getresponse()
            content = response.read()
        except BaseException:
            self.close()
            raise
        if response.will_close:
            self.close()
        return Answer(response.status, response.headers, content, self.base_url + path)

    def _connection(self) -> http.client.HTTPConnection:
        if self.connection is not None and dropped(self.connection):
            self.close()
        if self.connection is None:
            kind = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            self.connection = kind(self.host, self.port, timeout=self.timeout)
            self.connection.connect()
        return self.connection

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None
