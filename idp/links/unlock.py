"""K1, K2: the unlock link of the lock mail: confirm, and the account is unlocked."""

from __future__ import annotations

from flask import Response
from werkzeug.datastructures import MultiDict

from idp.actor import Actor
from idp.links.handler import LinkHandler
from idp.models import User
from idp.users.lockout import unlock_account
from policies.links import LinkPurpose


class UnlockHandler(LinkHandler):
    purpose = LinkPurpose.UNLOCK
    confirm_template = "links/unlock.html"
    done_template = "links/unlock_done.html"

    def apply(self, user: User, form: MultiDict[str, str]) -> Response | None:
        unlock_account(Actor.user(user.id, user.contract_id), user)
        return None
