"""The admin API's query parameters: one answer for a bad one (RFC 9457 problem, 400
``invalid_parameter``, naming the parameter) and the page parameters every list takes."""

from __future__ import annotations

from flask import request

from idp.problems import Problem

#: Longer than any cursor we hand out; a longer one is not ours.
MAX_CURSOR_LENGTH = 1000
#: A page's size when the client names none.
DEFAULT_PAGE_SIZE = 50


def bad_parameter(parameter: str, detail: str) -> Problem:
    return Problem(400, "invalid_parameter", f"The parameter {parameter} is not valid.", detail)


def page_parameters(max_page_size: int) -> tuple[str | None, int]:
    """``cursor`` (from a previous page, if any) and ``limit`` (1 to ``max_page_size``)."""
    cursor = request.args.get("cursor")
    if cursor is not None and not 0 < len(cursor) <= MAX_CURSOR_LENGTH:
        raise bad_parameter("cursor", "A cursor from a previous page.")
    limit_text = request.args.get("limit", str(DEFAULT_PAGE_SIZE))
    # ASCII digits only, at most 4 (int() also reads "١٢" and "1_0").
    if not limit_text.isascii() or not limit_text.isdigit() or len(limit_text) > 4:
        raise bad_parameter("limit", f"A number from 1 to {max_page_size}.")
    limit = int(limit_text)
    if not 1 <= limit <= max_page_size:
        raise bad_parameter("limit", f"A number from 1 to {max_page_size}.")
    return cursor, limit
