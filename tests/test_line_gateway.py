"""L9/X5: the signed line headers and the development line gateway (DESIGN.md "Line gateway")."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st
from werkzeug.serving import BaseWSGIServer
from werkzeug.serving import make_server
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

from idp.line.dev_gateway import make_dev_gateway_app
from idp.line.gateway import LINE_AREA_HEADER
from idp.line.gateway import LINE_NUMBER_HEADER
from idp.line.gateway import LINE_SIGNATURE_HEADER
from idp.line.gateway import LINE_TIMESTAMP_HEADER
from idp.line.gateway import LineAssertion
from idp.line.gateway import RejectedLine
from idp.line.gateway import normalise_line_number
from idp.line.gateway import sign_line_headers
from idp.line.gateway import verify_line_headers
from policies.line_numbers import normalise_line_number as policies_normalise_line_number

SECRET = b"line-gateway-test-secret"
NUMBER = "CAF0123456789"
NOW = 1_790_000_000.0
PATH = "/line/login"


def signed(**overrides: Any) -> dict[str, str]:
    values = {
        "secret": SECRET,
        "number": NUMBER,
        "area": "east",
        "method": "POST",
        "path": PATH,
        "now": NOW,
    }
    return sign_line_headers(**{**values, **overrides})


def verify(
    headers: dict[str, str], method: str = "POST", path: str = PATH, now: float = NOW
) -> LineAssertion | RejectedLine:
    return verify_line_headers(headers, SECRET, method, path, now)


# --- the signed headers ------------------------------------------------------------------------


def test_L9_X5_round_trip() -> None:
    assert verify(signed()) == LineAssertion(NUMBER, "east", int(NOW))
    assert verify(signed(number="COP12AB34CD", area="west")) == LineAssertion(
        "COP12AB34CD", "west", int(NOW)
    )


def test_L9_lower_case_number_is_normalised() -> None:
    assert verify(signed(number="caf0123abc789")) == LineAssertion(
        "CAF0123ABC789", "east", int(NOW)
    )


def test_L9_header_names_are_case_insensitive_in_a_plain_dict() -> None:
    headers = {name.lower(): value for name, value in signed().items()}
    assert isinstance(verify(headers), LineAssertion)


def test_L9_absent_is_plain_internet_access() -> None:
    assert verify({}) == RejectedLine("absent")
    assert verify({"Accept": "text/html"}) == RejectedLine("absent")


@pytest.mark.parametrize(
    "missing",
    [LINE_NUMBER_HEADER, LINE_AREA_HEADER, LINE_TIMESTAMP_HEADER, LINE_SIGNATURE_HEADER],
)
def test_L9_incomplete(missing: str) -> None:
    headers = signed()
    del headers[missing]
    assert verify(headers) == RejectedLine("incomplete")


@pytest.mark.parametrize(
    ("number", "area"),
    [
        ("CAF012345678", "east"),  # CAF + 9
        ("CAF01234567890", "east"),  # CAF + 11
        ("COP0123456", "east"),  # COP + 7
        ("COP012345678", "east"),  # COP + 9
        ("XYZ0123456789", "east"),
        ("CAF01234-6789", "east"),
        ("CAF012345678\n", "east"),
        ("CAF01234567８9", "east"),  # a full-width digit
        ("", "east"),
        (NUMBER, "north"),
        (NUMBER, "East"),
        (NUMBER, ""),
    ],
)
def test_L9_A2_malformed_number_or_area(number: str, area: str) -> None:
    # Signed with the right secret, and still refused: the format is checked on its own.
    assert verify(signed(number=number, area=area)) == RejectedLine("malformed")


@pytest.mark.parametrize("timestamp", ["", "soon", "1790000000.5", "+1790000000", " 1790000000"])
def test_L9_malformed_timestamp(timestamp: str) -> None:
    headers = signed()
    headers[LINE_TIMESTAMP_HEADER] = timestamp
    assert verify(headers) == RejectedLine("malformed")


@pytest.mark.parametrize(("skew", "accepted"), [(-61, False), (-60, True), (60, True), (61, False)])
def test_L9_stale_beyond_60_seconds_either_way(skew: int, accepted: bool) -> None:
    # Signed ``skew`` seconds before (negative: after) the provider checks.
    result = verify(signed(now=NOW - skew))
    assert isinstance(result, LineAssertion) if accepted else result == RejectedLine("stale")


@pytest.mark.parametrize(
    ("headers", "method", "path"),
    [
        (signed(secret=b"another secret"), "POST", PATH),
        (signed(path="/line/other"), "POST", PATH),  # replayed on another path
        (signed(), "POST", "/line/login/"),
        (signed(), "GET", PATH),  # replayed with another method
        ({**signed(), LINE_NUMBER_HEADER: "CAF0123456780"}, "POST", PATH),
        ({**signed(), LINE_NUMBER_HEADER: NUMBER.lower()}, "POST", PATH),
        ({**signed(), LINE_AREA_HEADER: "west"}, "POST", PATH),
        ({**signed(), LINE_TIMESTAMP_HEADER: str(int(NOW) + 1)}, "POST", PATH),
        ({**signed(), LINE_SIGNATURE_HEADER: ""}, "POST", PATH),
        ({**signed(), LINE_SIGNATURE_HEADER: "0" * 64}, "POST", PATH),
        ({**signed(), LINE_SIGNATURE_HEADER: "é" * 64}, "POST", PATH),
    ],
)
def test_L9_X5_bad_signature(headers: dict[str, str], method: str, path: str) -> None:
    assert verify(headers, method, path) == RejectedLine("bad_signature")


def test_L9_method_case_does_not_matter() -> None:
    assert isinstance(verify(signed(method="post"), method="POST"), LineAssertion)


def test_L9_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="secret"):
        sign_line_headers(b"", NUMBER, "east", "GET", PATH, NOW)
    with pytest.raises(ValueError, match="secret"):
        verify_line_headers(signed(), b"", "POST", PATH, NOW)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("CAF0123456789", "CAF0123456789"),
        ("caf0123abc789", "CAF0123ABC789"),
        ("COP12AB34CD", "COP12AB34CD"),
        ("cop12ab34cd", "COP12AB34CD"),
        ("CAF012345678", None),
        ("COP12AB34CD0", None),
        ("cafıııııııııı", None),  # dotless i upper-cases to ASCII I
    ],
)
def test_A2_normalise_line_number(raw: str, expected: str | None) -> None:
    assert normalise_line_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Where the gateway's own normaliser (upper case only) and the admin console's
        # (policies.line_numbers) disagreed: the one rule now drops spaces and hyphens ...
        ("CAF-0123-456-789", "CAF0123456789"),
        ("caf 0123 456 789", "CAF0123456789"),
        ("COP12-AB34-CD", "COP12AB34CD"),
        # ... and nothing else: the console's used to drop every kind of white space.
        ("CAF0123456789\t", None),
        ("CAF0123\n456789", None),
        ("CAF\x1f0123456789", None),
        ("CAF0123456789" + "-" * 28, None),  # over 40 characters
    ],
)
def test_A2_L9_gateway_reads_a_number_as_the_admin_console_does(
    raw: str, expected: str | None
) -> None:
    assert policies_normalise_line_number(raw) == expected
    result = verify(signed(number=raw))
    if expected is None:
        assert result == RejectedLine("malformed")
    else:
        assert result == LineAssertion(expected, "east", int(NOW))


ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
LINE_NUMBERS = st.one_of(
    st.text(ALNUM, min_size=10, max_size=10).map(lambda s: "CAF" + s),
    st.text(ALNUM, min_size=8, max_size=8).map(lambda s: "COP" + s),
)
METHODS = st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"])
PATHS = st.text(max_size=40).map(lambda s: "/" + s)
REQUESTS = st.fixed_dictionaries(
    {
        "secret": st.binary(min_size=1, max_size=64),
        "number": LINE_NUMBERS,
        "area": st.sampled_from(["east", "west"]),
        "method": METHODS,
        "path": PATHS,
        "now": st.integers(60, 2**40).map(float),
    }
)


@given(REQUESTS)
def test_X5_any_request_round_trips(fields: dict[str, Any]) -> None:
    headers = sign_line_headers(**fields)
    result = verify_line_headers(
        headers, fields["secret"], fields["method"], fields["path"], fields["now"]
    )
    assert result == LineAssertion(fields["number"].upper(), fields["area"], int(fields["now"]))


@given(
    REQUESTS,
    st.sampled_from(["secret", "number", "area", "timestamp", "method", "path"]),
    st.data(),
)
def test_X5_any_single_field_change_breaks_the_signature(
    fields: dict[str, Any], field: str, data: st.DataObject
) -> None:
    headers = sign_line_headers(**fields)
    checked = {k: fields[k] for k in ("secret", "method", "path", "now")}
    if field == "number":
        other = data.draw(LINE_NUMBERS.filter(lambda n: n != fields["number"]))
        headers[LINE_NUMBER_HEADER] = other
    elif field == "area":
        headers[LINE_AREA_HEADER] = "west" if fields["area"] == "east" else "east"
    elif field == "timestamp":
        # Still within the allowed skew, so only the signature can tell.
        delta = data.draw(st.integers(-60, 60).filter(bool))
        headers[LINE_TIMESTAMP_HEADER] = str(int(fields["now"]) + delta)
    elif field == "secret":
        checked["secret"] = data.draw(
            st.binary(min_size=1, max_size=64).filter(lambda s: s != fields["secret"])
        )
    elif field == "method":
        checked["method"] = data.draw(METHODS.filter(lambda m: m != fields["method"]))
    else:
        checked["path"] = data.draw(PATHS.filter(lambda p: p != fields["path"]))
    result = verify_line_headers(
        headers, checked["secret"], checked["method"], checked["path"], checked["now"]
    )
    assert result == RejectedLine("bad_signature")


# --- the development gateway -------------------------------------------------------------------


def serve(app: Any) -> tuple[BaseWSGIServer, str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def stop(server: BaseWSGIServer) -> None:
    server.shutdown()
    server.server_close()


@Request.application
def echo_upstream(request: Request) -> Response:
    """The far side: echoes what it received, and answers a few special paths."""
    own = request.host_url.rstrip("/")
    if request.path == "/line/redirect":
        return Response("", 302, {"Location": own + "/line/landing?step=2"})
    if request.path == "/line/elsewhere":
        return Response("", 302, {"Location": "https://rp.example/callback?code=x"})
    if request.path == "/line/relative":
        return Response("", 303, {"Location": "/line/next"})
    if request.path == "/line/cookies":
        response = Response("two cookies")
        response.headers.add("Set-Cookie", "session=abc; HttpOnly; Path=/; SameSite=Lax")
        response.headers.add("Set-Cookie", "remember=xyz; Path=/line; Max-Age=60")
        return response
    seen = {
        "method": request.method,
        "path": request.path,
        "query": request.query_string.decode(),
        "body": request.get_data(as_text=True),
        "headers": [[name, value] for name, value in request.headers.items()],
        "host": request.host,
    }
    return Response(json.dumps(seen), content_type="application/json")


@dataclass
class Gateway:
    url: str
    upstream_url: str

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        with requests.Session() as session:
            session.trust_env = False
            return session.request(
                method, self.url + path, allow_redirects=False, timeout=10, **kwargs
            )

    def echo(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, path, **kwargs)
        assert response.status_code == 200, response.text
        seen: dict[str, Any] = response.json()
        return seen


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    upstream, upstream_url = serve(echo_upstream)
    server, url = serve(make_dev_gateway_app("caf0123456789", "west", upstream_url + "/", SECRET))
    yield Gateway(url, upstream_url)
    stop(server)
    stop(upstream)


def line_headers(seen: dict[str, Any]) -> dict[str, str]:
    return {name: value for name, value in seen["headers"] if name.lower().startswith("x-line-")}


def assert_signed_for(seen: dict[str, Any], method: str, path: str) -> None:
    result = verify_line_headers(line_headers(seen), SECRET, method, path, time.time())
    assert isinstance(result, LineAssertion), result
    assert (result.number, result.area) == (NUMBER, "west")


def test_L9_dev_gateway_signs_the_forwarded_path(gateway: Gateway) -> None:
    seen = gateway.echo("GET", "/line/login?client_id=rp&state=a%20b")
    assert seen["method"] == "GET"
    assert seen["path"] == "/line/login"
    assert seen["query"] == "client_id=rp&state=a%20b"
    assert seen["host"] == gateway.upstream_url.removeprefix("http://")
    assert_signed_for(seen, "GET", "/line/login")
    other_path = verify_line_headers(line_headers(seen), SECRET, "GET", "/line/other", time.time())
    assert other_path == RejectedLine("bad_signature")


def test_L9_dev_gateway_non_ascii_path(gateway: Gateway) -> None:
    seen = gateway.echo("GET", "/line/%C3%A4%20x%2Fy")
    assert seen["path"] == "/line/ä x/y"
    assert_signed_for(seen, "GET", "/line/ä x/y")


def test_L9_dev_gateway_passes_post_bodies(gateway: Gateway) -> None:
    seen = gateway.echo(
        "POST", "/line/login?next=1", data={"email": "u@example.jp", "password": "p w&="}
    )
    assert seen["method"] == "POST"
    assert seen["query"] == "next=1"
    assert seen["body"] == "email=u%40example.jp&password=p+w%26%3D"
    headers = dict(seen["headers"])
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert headers["Content-Length"] == str(len(seen["body"]))
    assert_signed_for(seen, "POST", "/line/login")


def test_L9_X5_dev_gateway_strips_client_line_headers(gateway: Gateway) -> None:
    forged = sign_line_headers(b"guessed", "COP00000000", "east", "GET", "/line/login", NOW)
    seen = gateway.echo(
        "GET", "/line/login", headers={**forged, "x-line-extra": "1", "Cookie": "session=abc"}
    )
    received = line_headers(seen)
    assert sorted(received) == sorted(forged)  # exactly the four, once each
    assert received[LINE_NUMBER_HEADER] == NUMBER
    assert received[LINE_AREA_HEADER] == "west"
    assert_signed_for(seen, "GET", "/line/login")
    assert dict(seen["headers"])["Cookie"] == "session=abc"


def test_L9_dev_gateway_passes_redirects_back_rewritten(gateway: Gateway) -> None:
    response = gateway.request("GET", "/line/redirect")
    assert response.status_code == 302
    assert response.headers["Location"] == gateway.url + "/line/landing?step=2"

    response = gateway.request("GET", "/line/elsewhere")
    assert response.status_code == 302
    assert response.headers["Location"] == "https://rp.example/callback?code=x"

    response = gateway.request("GET", "/line/relative")
    assert response.status_code == 303
    assert response.headers["Location"] == "/line/next"


def test_L9_dev_gateway_passes_every_set_cookie(gateway: Gateway) -> None:
    response = gateway.request("GET", "/line/cookies")
    assert response.status_code == 200
    assert response.text == "two cookies"
    assert response.raw.headers.getlist("Set-Cookie") == [
        "session=abc; HttpOnly; Path=/; SameSite=Lax",
        "remember=xyz; Path=/line; Max-Age=60",
    ]


def test_L9_dev_gateway_upstream_down_is_502() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    server, url = serve(
        make_dev_gateway_app(NUMBER, "east", f"http://127.0.0.1:{closed_port}", SECRET)
    )
    try:
        response = Gateway(url, "").request("GET", "/line/login")
    finally:
        stop(server)
    assert response.status_code == 502
    assert "not reachable" in response.text


@pytest.mark.parametrize(
    ("line", "area", "to", "secret"),
    [
        ("CAF012345678", "east", "http://127.0.0.1:8000", SECRET),
        (NUMBER, "north", "http://127.0.0.1:8000", SECRET),
        (NUMBER, "east", "127.0.0.1:8000", SECRET),
        (NUMBER, "east", "http://127.0.0.1:8000", b""),
    ],
)
def test_L9_dev_gateway_refuses_bad_settings(line: str, area: str, to: str, secret: bytes) -> None:
    with pytest.raises(ValueError):
        make_dev_gateway_app(line, area, to, secret)
