"""Every cookie the provider sets goes through here, so that none lacks a flag.

DESIGN.md, Security defaults: ``Secure`` (outside local development), ``HttpOnly``,
``SameSite=Lax``, path ``/``. No page script reads a cookie of ours, so all are HttpOnly."""

from __future__ import annotations

from werkzeug.wrappers import Response

from idp import extensions


def _is_secure() -> bool:
    return bool(extensions.settings().cookies_secure)


def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    """Set ``name`` with the provider's flags for ``max_age`` seconds."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        secure=_is_secure(),
        samesite="Lax",
        path="/",
    )


def clear_cookie(response: Response, name: str) -> None:
    """Remove ``name`` (the same flags, or browsers keep the old cookie)."""
    response.delete_cookie(name, path="/", secure=_is_secure(), samesite="Lax", httponly=True)
