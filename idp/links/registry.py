"""One handler per link purpose (SPEC Links): the registry the links blueprint dispatches on.

Adding a purpose (invitation, email change, method change, "this was not me") takes one
``LinkPurpose`` member, one handler module, one entry in ``HANDLERS`` and its templates
under ``templates/links/``.
"""

from __future__ import annotations

from idp.errors import LinkError
from idp.links.email_change import EmailChangeHandler
from idp.links.handler import LinkHandler
from idp.links.invite import InviteHandler
from idp.links.method_change import MethodChangeHandler
from idp.links.not_me import NotMeHandler
from idp.links.reset import ResetHandler
from idp.links.unlock import UnlockHandler

HANDLERS: dict[str, LinkHandler] = {
    handler.purpose: handler
    for handler in (
        UnlockHandler(),
        ResetHandler(),
        InviteHandler(),
        MethodChangeHandler(),
        EmailChangeHandler(),
        NotMeHandler(),
    )
}


def handler_for(purpose: str) -> LinkHandler:
    """The handler of a stored link's purpose; a purpose no handler serves is not a link."""
    try:
        return HANDLERS[purpose]
    except KeyError:
        raise LinkError("unknown") from None
