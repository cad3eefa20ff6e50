"""RFC 9457 problem details for the JSON APIs under ``/api/`` (the admin API): every error is
an ``application/problem+json`` document with ``type``, ``title``, ``status`` and
``detail``; nothing the client caused is a 5xx."""

from __future__ import annotations

from flask import Response
from flask import json

#: RFC 9457 §3: the media type of a problem document.
PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An answer the caller caused: ``code`` names the problem type (a URN of ours, RFC 9457
    §3.1.1: "a URI reference that identifies the problem type")."""

    def __init__(
        self,
        status: int,
        code: str,
        title: str,
        detail: str = "",
        headers: dict[str, str] | None = None,
        extensions: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or title)
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        #: RFC 9457 §3.2 extension members (``reason`` of a refused operation).
        self.extensions = extensions or {}


def problem_type(code: str) -> str:
    return f"urn:worksdrive:problem:{code}"


def problem_response(problem: Problem) -> Response:
    body: dict[str, object] = {
        "type": problem_type(problem.code),
        "title": problem.title,
        "status": problem.status,
    }
    if problem.detail:
        body["detail"] = problem.detail
    body.update(problem.extensions)
    response = Response(json.dumps(body), problem.status, mimetype=PROBLEM_JSON)
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response
