"""L10: the registration link of the invitation mail.

GET shows the registration page (changes nothing: mail scanners open links) with the methods
the contract allows; today the password (P2 policy text, password and confirmation). The
password form leads to a confirmation screen (method and email, the password not shown; the
hash waits on the unused link), whose POST uses the link and registers; then the completion
screen, and the user signs in normally at the service.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import render_template
from werkzeug.datastructures import MultiDict

from idp.actor import Actor
from idp.i18n import gettext as _
from idp.links.handler import LinkHandler
from idp.links.reset import MAX_PASSWORD_FIELD
from idp.links.reset import password_errors
from idp.models import MailLink
from idp.models import User
from idp.users.invitations import contractor_email
from idp.users.invitations import register_with_password
from idp.users.invitations import stage_password
from idp.users.invitations import staged_password_hash
from idp.vocabulary import LoginMethod
from policies.links import LinkPurpose

#: The registration form's steps (its hidden ``step`` field).
STEP_PASSWORD = "password"
STEP_CONFIRM = "confirm"


def _step(form: MultiDict[str, str]) -> str:
    return form.get("step", "")


class InviteHandler(LinkHandler):
    purpose = LinkPurpose.INVITE
    confirm_template = "links/invite.html"
    done_template = "links/invite_done.html"

    def context(self, user: User) -> dict[str, Any]:
        return {
            "methods": [LoginMethod.PASSWORD.value],
            "contractor_email": contractor_email(user.contract_id),
        }

    def errors(self, user: User, form: MultiDict[str, str]) -> list[str]:
        step = _step(form)
        if step == STEP_PASSWORD:
            return password_errors(
                user,
                form.get("password", "")[:MAX_PASSWORD_FIELD],
                form.get("password_confirmation", "")[:MAX_PASSWORD_FIELD],
            )
        if step == STEP_CONFIRM:
            return []
        return [_("Choose how you will sign in.")]

    def review(self, link: MailLink, user: User, form: MultiDict[str, str]) -> Response | None:
        if _step(form) == STEP_PASSWORD:
            stage_password(link, form.get("password", "")[:MAX_PASSWORD_FIELD])
            return Response(
                render_template(
                    "links/invite_confirm.html", user=user, method=LoginMethod.PASSWORD.value
                )
            )
        if staged_password_hash(link) is None:
            # A confirmation without a password chosen first: back to the form.
            page = render_template(
                self.confirm_template,
                user=user,
                errors=[_("Enter your password first.")],
                **self.context(user),
            )
            return Response(page, 400)
        return None

    def use(self, link: MailLink, user: User, form: MultiDict[str, str]) -> Response | None:
        password_hash = staged_password_hash(link)
        assert password_hash is not None  # review() let only a staged password through
        register_with_password(Actor.user(user.id, user.contract_id), user, password_hash)
        return None
