"""K3: the reset link of the forgot-password mail: a new password (under P2) and its
confirmation; setting it unlocks, clears 2FA (T2) and voids older links."""

from __future__ import annotations

from flask import Response
from werkzeug.datastructures import MultiDict

from idp.actor import Actor
from idp.i18n import gettext as _
from idp.links.handler import LinkHandler
from idp.models import User
from idp.users.passwords import password_problems
from idp.users.reset import set_new_password
from policies.links import LinkPurpose

#: Longer form fields are cut before checking (the password rule refuses them anyway).
MAX_PASSWORD_FIELD = 1024


def password_errors(
    user: User, password: str, confirmation: str, email: str | None = None
) -> list[str]:
    """P2: what is wrong with the new password and its confirmation, in the user's language.

    :param email: the address the password must differ from (default the user's)."""
    messages = {
        "too_short": _("Use at least 8 characters."),
        "too_long": _("Use at most 128 characters."),
        "too_few_classes": _(
            "Use at least 3 of: upper-case letters, lower-case letters, digits, symbols."
        ),
        "common": _("This password is too common. Choose another."),
        "is_email": _("Do not use your email address as the password."),
    }
    errors = [messages[p] for p in password_problems(password, email or user.email)]
    if password != confirmation:
        errors.append(_("The two passwords do not match."))
    return errors


def _fields(form: MultiDict[str, str]) -> tuple[str, str]:
    return (
        form.get("password", "")[:MAX_PASSWORD_FIELD],
        form.get("password_confirmation", "")[:MAX_PASSWORD_FIELD],
    )


class ResetHandler(LinkHandler):
    purpose = LinkPurpose.RESET
    confirm_template = "links/reset.html"
    done_template = "links/reset_done.html"

    def errors(self, user: User, form: MultiDict[str, str]) -> list[str]:
        return password_errors(user, *_fields(form))

    def apply(self, user: User, form: MultiDict[str, str]) -> Response | None:
        password, _confirmation = _fields(form)
        set_new_password(Actor.user(user.id, user.contract_id), user, password)
        return None
