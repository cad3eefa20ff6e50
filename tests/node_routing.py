"""Which node gets each request of a test's browser or relying party (tests/nodes.py).

Each HTTP request for the public URL (the issuer, nginx's address) goes to the next node in
turn (A, B, A, …) or to the one the route is pinned to, with the headers nginx would add
(``X-Forwarded-For`` of the browser's own address, ``-Proto``, ``X-Request-ID``); URLs,
cookies and ``Host`` stay the public ones, so a browser cannot tell the difference.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from itertools import count
from typing import Any
from typing import Protocol
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from tests.helpers import TIMEOUT
from tests.helpers import Browser
from tests.helpers import RelyingParty

_addresses = count(1)


class Target(Protocol):
    """A node as the routing sees it."""

    name: str

    @property
    def url(self) -> str: ...


class Route:
    """The node of each next request: in turn over the live order, or one pinned node."""

    def __init__(self, nodes: Sequence[Target]) -> None:
        self.nodes = nodes
        self.pinned: Target | None = None
        self.served: list[str] = []
        self._next = 0

    def pick(self) -> Target:
        if self.pinned is not None:
            node = self.pinned
        else:
            node = self.nodes[self._next % len(self.nodes)]
            self._next += 1
        self.served.append(node.name)
        return node


class _NodeAdapter(HTTPAdapter):
    """Sends a request for the public URL to the node the route picks, with nginx's headers;
    the response keeps the public URL (so redirects and cookies look as through nginx)."""

    def __init__(self, public: str, route: Route, client_address: str) -> None:
        super().__init__()
        self.public = public
        self.route = route
        self.client_address = client_address

    def send(self, request: Any, *args: Any, **kwargs: Any) -> requests.Response:
        node = self.route.pick()
        original = request.url
        routed = request.copy()
        routed.url = node.url + original[len(self.public) :]
        routed.headers["Host"] = urlsplit(self.public).netloc
        routed.headers["X-Forwarded-For"] = self.client_address
        routed.headers["X-Forwarded-Proto"] = urlsplit(self.public).scheme
        routed.headers["X-Request-ID"] = uuid.uuid4().hex
        response: requests.Response = super().send(routed, *args, **kwargs)
        response.url = original
        response.request = request
        return response


def _route_session(session: requests.Session, public: str, route: Route) -> str:
    """Mount the routing adapter for the public URL; returns the browser's own address."""
    address = f"198.51.100.{next(_addresses) % 250 + 1}"
    session.mount(public + "/", _NodeAdapter(public, route, address))
    return address


class NodeBrowser(Browser):
    """A :class:`Browser` whose every request goes to the node its route picks."""

    def __init__(self, public: str, nodes: Sequence[Target]) -> None:
        super().__init__(public)
        self.route = Route(nodes)
        self.address = _route_session(self.session, public, self.route)

    def to(self, node: Target | None) -> NodeBrowser:
        """Pin every next request to ``node`` (None: in turn again)."""
        self.route.pinned = node
        return self


class NodeRelyingParty(RelyingParty):
    """A :class:`RelyingParty` whose back-channel requests go to the node its route picks."""

    def __init__(self, nodes: Sequence[Target], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.http = requests.Session()
        self.route = Route(nodes)
        _route_session(self.http, self.issuer, self.route)

    def to(self, node: Target | None) -> NodeRelyingParty:
        self.route.pinned = node
        return self

    def token_request(self, data: dict[str, Any]) -> dict[str, Any]:
        auth = (self.client_id, self.secret) if self.secret else None
        if not self.secret:
            data = {**data, "client_id": self.client_id}
        response = self.http.post(
            self.metadata["token_endpoint"], data=data, auth=auth, timeout=TIMEOUT
        )
        body: dict[str, Any] = response.json()
        body["_status"] = response.status_code
        return body

    def introspect(self, token: str, **extra: str) -> dict[str, Any]:
        response = self.http.post(
            self.metadata["introspection_endpoint"],
            data={"token": token, **extra},
            auth=(self.client_id, self.secret or ""),
            timeout=TIMEOUT,
        )
        assert response.status_code == 200, response.text
        return dict(response.json())
