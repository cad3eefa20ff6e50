"""M7, X4: the link of the email-change mail, opened from the new address.

GET shows the new address and changes nothing (mail scanners open links). A ``password``
user confirms the new address and sets a password with its confirmation (P2, the rule
shown); anyone else confirms. The POST checks that no other account has taken the address
meanwhile (a clear page, the link still unused), uses the link and completes the change
(:func:`idp.users.email_change.complete_email_change`); the page that follows names the new
address and leads to the sign-in.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import render_template
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from idp.actor import Actor
from idp.errors import LinkError
from idp.links.handler import LinkHandler
from idp.links.reset import MAX_PASSWORD_FIELD
from idp.links.reset import password_errors
from idp.models import MailLink
from idp.models import User
from idp.users.email_change import EmailChangeError
from idp.users.email_change import complete_email_change
from idp.users.email_change import is_address_free
from idp.users.email_change import needs_password
from idp.users.email_change import pending_email
from policies.links import LinkPurpose

TAKEN_TEMPLATE = "links/email_change_taken.html"


def _fields(form: MultiDict[str, str]) -> tuple[str, str]:
    return (
        form.get("password", "")[:MAX_PASSWORD_FIELD],
        form.get("password_confirmation", "")[:MAX_PASSWORD_FIELD],
    )


def _taken(user: User, address: str) -> BaseResponse:
    page = render_template(TAKEN_TEMPLATE, user=user, new_email=address)
    return Response(page, 409)


class EmailChangeHandler(LinkHandler):
    purpose = LinkPurpose.EMAIL_CHANGE
    confirm_template = "links/email_change.html"
    done_template = "links/email_change_done.html"

    def link_context(self, link: MailLink, user: User) -> dict[str, Any]:
        return {"new_email": pending_email(link), "needs_password": needs_password(user)}

    def review(self, link: MailLink, user: User, form: MultiDict[str, str]) -> BaseResponse | None:
        address = pending_email(link)
        if not is_address_free(user, address):
            return _taken(user, address)
        if needs_password(user):
            errors = password_errors(user, *_fields(form), email=address)
            if errors:
                page = render_template(
                    self.confirm_template,
                    user=user,
                    errors=errors,
                    **self.link_context(link, user),
                )
                return Response(page, 400)
        return None

    def use(self, link: MailLink, user: User, form: MultiDict[str, str]) -> BaseResponse | None:
        password = _fields(form)[0] if needs_password(user) else None
        actor = Actor.user(user.id, user.contract_id)
        try:
            complete_email_change(actor, user, link, password)
        except EmailChangeError as error:
            if error.reason == "email_unavailable":
                return _taken(user, pending_email(link))
            if error.reason == "void":
                raise LinkError("void") from error
            raise
        page = render_template(self.done_template, user=user, new_email=user.email)
        return Response(page)
