"""Every cookie of the provider carries Secure, HttpOnly and SameSite=Lax (DESIGN.md, Security
defaults). Two of them once lacked ``Secure`` (the language choice and the last AD connection
ID): all now go through ``idp.cookies``, and a test finds any cookie set elsewhere."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from flask import Flask
from werkzeug.wrappers import Response

from idp.cookies import clear_cookie
from idp.cookies import set_cookie
from tests.conftest import build_provider

ROOT = Path(__file__).resolve().parent.parent
#: The demo storage frontend is a relying party of its own, not the provider.
OUTSIDE_THE_PROVIDER = {
    *(path.relative_to(ROOT) for path in (ROOT / "idp/demo/frontend").glob("*.py")),
    Path("idp/cookies.py"),
}


def _cookie_calls(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("set_cookie", "delete_cookie")
    ]


def test_no_cookie_is_set_outside_the_cookie_helper():
    offenders = {
        str(path.relative_to(ROOT)): lines
        for folder in ("idp", "brokers", "policies")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.relative_to(ROOT) not in OUTSIDE_THE_PROVIDER and (lines := _cookie_calls(path))
    }
    assert offenders == {}, "set cookies through idp.cookies.set_cookie"


@pytest.mark.parametrize("secure", [True, False])
def test_cookie_helper_sets_every_flag(secure, services, tmp_path):
    app: Flask = build_provider("sqlite+sqlstore", tmp_path, services, secure_cookies=secure).app
    with app.test_request_context("/"):
        response = Response()
        set_cookie(response, "idp_x", "v", max_age=60)
        clear_cookie(response, "idp_y")
    for header in response.headers.getlist("Set-Cookie"):
        attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
        assert {"httponly", "path", "samesite"} <= attributes, header
        assert "SameSite=Lax" in header
        assert ("secure" in attributes) is secure, header


def test_language_cookie_is_secure_behind_https(services, tmp_path):
    """The language switch's cookie (it once lacked ``Secure``) over a real request."""
    app: Flask = build_provider("sqlite+sqlstore", tmp_path, services, secure_cookies=True).app
    response = app.test_client().get("/healthz?lang=en")
    (header,) = response.headers.getlist("Set-Cookie")
    assert header.startswith("lang=en;")
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header
