"""What the shell of every page repeats, built once per app instead of once per page (issue
13): the static files' URLs (``static_url``) and the footer's links (idp/footer.py).

A value is kept per request script root and subdomain (what a relative URL depends on, with
values fixed for the app's life such as the settings and the catalogs) and only when it was
built inside a request as relative URLs: anything else (no request, an absolute URL) is built
each time, as ``url_for`` would."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Hashable
from typing import Generic
from typing import TypeVar

from flask import Flask
from flask import has_request_context
from flask import url_for
from flask.globals import request_ctx

#: Entries per memo at most; its keys come from the requests' script roots and subdomains.
MAX_ENTRIES = 256

T = TypeVar("T")


class PageMemo(Generic[T]):
    """Values of the page shell by request script root, subdomain and ``key``."""

    def __init__(self) -> None:
        self._values: dict[tuple[Hashable, ...], T] = {}

    def get(self, key: tuple[Hashable, ...], build: Callable[[], tuple[T, bool]]) -> T:
        """The value for ``key``; ``build`` returns it and whether it may be kept (its URLs
        are relative)."""
        if not has_request_context() or request_ctx.url_adapter is None:
            return build()[0]
        adapter = request_ctx.url_adapter
        full = (adapter.script_name, adapter.subdomain, *key)
        try:
            return self._values[full]
        except KeyError:
            pass
        value, keep = build()
        if keep:
            if len(self._values) >= MAX_ENTRIES:
                self._values.clear()
            self._values[full] = value
        return value


def is_relative(url: str) -> bool:
    return url.startswith("/") and not url.startswith("//")


def setup_pages(app: Flask) -> None:
    """Give every template ``static_url(filename)``: ``url_for('static', filename=…)``."""
    memo: PageMemo[str] = PageMemo()

    def build(filename: str) -> tuple[str, bool]:
        url = url_for("static", filename=filename)
        return url, is_relative(url)

    def static_url(filename: str) -> str:
        return memo.get((filename,), lambda: build(filename))

    app.jinja_env.globals["static_url"] = static_url
