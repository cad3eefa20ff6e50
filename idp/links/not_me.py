"""X6: the "this was not me" link of the notice mailed to the old address after an email or
login-method change.

GET shows what changed and what confirming does, and changes nothing (mail scanners open
links); the POST uses the link and reverts the change
(:func:`idp.users.not_me.revert_identity_change`): the change undone, every session ended
(relying parties hear), remembered browsers forgotten, the account locked until a password
reset whose link goes to the restored address. The page that follows says which of these
happened, and when the old address had been taken by another account meanwhile, says so.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import render_template
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from idp.actor import Actor
from idp.i18n import gettext as _
from idp.links.handler import LinkHandler
from idp.models import MailLink
from idp.models import User
from idp.users.not_me import change_of
from idp.users.not_me import revert_identity_change
from idp.vocabulary import LoginMethod
from policies.links import LinkPurpose


def method_names() -> dict[str, str]:
    """The login methods' names, in the page's language."""
    return {
        LoginMethod.PASSWORD: _("Password"),
        LoginMethod.GOOGLE: "Google",
        LoginMethod.FACEBOOK: "Facebook",
        LoginMethod.MICROSOFT: "Microsoft",
        LoginMethod.DACCOUNT: _("d account"),
        LoginMethod.AD: "Active Directory",
    }


class NotMeHandler(LinkHandler):
    purpose = LinkPurpose.NOT_ME
    confirm_template = "links/not_me.html"
    done_template = "links/not_me_done.html"

    def link_context(self, link: MailLink, user: User) -> dict[str, Any]:
        return {"change": change_of(link), "method_names": method_names()}

    def use(self, link: MailLink, user: User, form: MultiDict[str, str]) -> BaseResponse | None:
        reverted = revert_identity_change(Actor.user(user.id, user.contract_id), user, link)
        page = render_template(self.done_template, user=user, reverted=reverted)
        return Response(page)
