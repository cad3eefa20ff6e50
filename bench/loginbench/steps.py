"""One HTTP step of a flow: the expected redirect, the form's hidden fields, and the gist of
an unexpected answer."""

from __future__ import annotations

import html
import re
from typing import Any
from typing import Protocol
from urllib.parse import urljoin

TIMEOUT = 30
HIDDEN_RE = {
    name: re.compile(r'<input\b[^>]*\bname="' + name + r'"[^>]*\bvalue="([^"]*)"')
    for name in ("csrf_token", "tx")
}


class Response(Protocol):
    """``requests.Response`` or the back channel's ``Answer``: what the steps read."""

    status_code: int
    url: str
    headers: Any

    @property
    def text(self) -> str: ...


class FlowError(Exception):
    """An unexpected answer at one step of a flow."""

    def __init__(
        self, step: str, detail: str, status: int | None = None, shed: bool = False
    ) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step
        self.status = status
        #: A deliberate refusal under load (429 or 503 with Retry-After), not a failure.
        self.shed = shed
        #: Its Retry-After in seconds (a date or nonsense counts as 1).
        self.retry_after = 1.0


ERROR_TEXT_RE = re.compile(r'<(?:p|div)\b[^>]*\bclass="error"[^>]*>(.*?)</', re.S)
TITLE_RE = re.compile(r"<title>(.*?)</title>", re.S)
TAG_RE = re.compile(r"<[^>]+>")


def form_fields(
    step: str, response: Response, form_id: str = "", action: str = ""
) -> dict[str, str]:
    """``csrf_token`` and ``tx`` of the form ``#form_id`` (or the form posting to ``action``)
    of a 200 page (else a FlowError)."""
    form = None
    attribute = f'id="{form_id}"' if form_id else f'action="{action}"'
    if response.status_code == 200:
        form = re.search(
            r"<form\b[^>]*\b" + re.escape(attribute) + r"[^>]*>(.*?)</form>", response.text, re.S
        )
    if form is None:
        raise unexpected(step, response)
    fields = {}
    for name, pattern in HIDDEN_RE.items():
        match = pattern.search(form.group(1))
        if match is None:
            raise FlowError(step, f"no hidden input {name} in <form {attribute}>")
        fields[name] = html.unescape(match.group(1))
    return fields


def redirected(step: str, response: Response, contains: str, status: int = 303) -> str:
    """The absolute ``Location`` of an expected redirect whose target contains ``contains``."""
    location = response.headers.get("Location", "")
    if response.status_code != status or contains not in location:
        raise unexpected(step, response)
    return urljoin(response.url, location)


def unexpected(step: str, response: Response) -> FlowError:
    """The step, status, Location and the gist of the body (an HTML page's error text)."""
    text = response.text
    if "html" in response.headers.get("Content-Type", ""):
        found = ERROR_TEXT_RE.search(text)
        title = TITLE_RE.search(text)
        main = text.split("<main", 1)[-1].split(">", 1)[-1] if "<main" in text else text
        gist = found.group(1) if found else TAG_RE.sub(" ", main)
        text = f"[{title.group(1) if title else 'html'}] {html.unescape(gist)}"
    body = " ".join(text.split())[:400]
    location = response.headers.get("Location")
    where = f" Location={location}" if location else ""
    shed = response.status_code in (429, 503) and "Retry-After" in response.headers
    error = FlowError(
        step, f"HTTP {response.status_code}{where} {body}", response.status_code, shed
    )
    if shed and response.headers["Retry-After"].strip().isdigit():
        error.retry_after = float(response.headers["Retry-After"].strip())
    return error
