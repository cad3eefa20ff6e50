"""The base of every link purpose's handler (SPEC Links, X4)."""

from __future__ import annotations

from typing import Any
from typing import ClassVar

from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from idp.errors import LinkError
from idp.i18n import follow_account_locale
from idp.login.transaction import Transaction
from idp.models import MailLink
from idp.models import User
from idp.models import db
from idp.users.links import resolve_link
from policies.links import LinkPurpose

#: A confirm form's messages: a list (a page of one form), or by field name (a page of
#: several, as the login-method choice: ``password``, ``method``), for
#: ``templates/account/_fields.html``.
FormErrors = list[str] | dict[str, list[str]]


class LinkHandler:
    """What one link purpose shows and does. ``views.py`` runs every purpose the same way:
    resolve the link for ``purpose``; GET renders ``confirm_template``; POST checks
    ``errors``, asks ``review`` (a step before the link is used, e.g. a confirmation screen),
    consumes the link atomically, then calls ``use`` (by default ``apply``)."""

    purpose: ClassVar[LinkPurpose]
    #: The page GET shows (and POST shows again, with ``errors``), under ``templates/links/``.
    confirm_template: ClassVar[str]
    #: The page after the link was used.
    done_template: ClassVar[str]

    def context(self, user: User) -> dict[str, Any]:
        """Extra values for the confirm page."""
        return {}

    def link_context(self, link: MailLink, user: User) -> dict[str, Any]:
        """Extra values for the confirm page that depend on the link (its ``data``); by
        default ``context``."""
        return self.context(user)

    def errors(self, user: User, form: MultiDict[str, str]) -> FormErrors:
        """Messages, in the user's language, that refuse the confirm form; the link stays
        unused."""
        return []

    def review(self, link: MailLink, user: User, form: MultiDict[str, str]) -> BaseResponse | None:
        """A page to show instead of using the link now (the link stays unused); ``None``:
        use it."""
        return None

    def use(self, link: MailLink, user: User, form: MultiDict[str, str]) -> BaseResponse | None:
        """Do what the link is for, with the (consumed) link at hand."""
        return self.apply(user, form)

    def apply(self, user: User, form: MultiDict[str, str]) -> BaseResponse | None:
        """Do what the link is for; it is already consumed. ``None``: show ``done_template``."""
        raise NotImplementedError


def link_of_callback(
    tx: Transaction, kept: dict[str, Any], purpose: LinkPurpose
) -> tuple[MailLink, User]:
    """An upstream's callback for a link's sign-in (a registration, a login-method change):
    the link is checked again (it may have been used, expired or voided meanwhile), the
    pages that follow speak its user's language, and the login transaction ends. The
    upstream of another contract's directory never reaches this user (``LinkError("void")``).
    """
    link = db.session.get(MailLink, str(kept.get("link", "")))
    if link is None:
        raise LinkError("unknown")
    user = resolve_link(link, purpose)
    follow_account_locale(user.locale)
    tx.close()
    if kept.get("contract_id") not in (None, user.contract_id):
        raise LinkError("void")
    return link, user
