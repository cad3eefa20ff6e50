"""The base of every link purpose's handler (SPEC Links, X4)."""

from __future__ import annotations

from typing import Any
from typing import ClassVar

from flask import Response
from werkzeug.datastructures import MultiDict

from idp.models import User
from policies.links import LinkPurpose


class LinkHandler:
    """What one link purpose shows and does. ``views.py`` runs every purpose the same way:
    resolve the link for ``purpose``; GET renders ``confirm_template``; POST checks
    ``errors``, consumes the link atomically, then calls ``apply``."""

    purpose: ClassVar[LinkPurpose]
    #: The page GET shows (and POST shows again, with ``errors``), under ``templates/links/``.
    confirm_template: ClassVar[str]
    #: The page after the link was used.
    done_template: ClassVar[str]

    def context(self, user: User) -> dict[str, Any]:
        """Extra values for the confirm page."""
        return {}

    def errors(self, user: User, form: MultiDict[str, str]) -> list[str]:
        """Messages, in the user's language, that refuse the confirm form; the link stays
        unused."""
        return []

    def apply(self, user: User, form: MultiDict[str, str]) -> Response | None:
        """Do what the link is for; it is already consumed. ``None``: show ``done_template``."""
        raise NotImplementedError
