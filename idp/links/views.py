"""Mailed links (SPEC Links, K1–K3, X4): ``GET /links/<token>`` shows the purpose's confirm
page and changes nothing (mail scanners open links); ``POST`` uses the link."""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import render_template
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from idp.errors import LinkError
from idp.i18n import follow_account_locale
from idp.links.handler import FormErrors
from idp.links.handler import LinkHandler
from idp.links.registry import handler_for
from idp.models import MailLink
from idp.models import User
from idp.users.links import consume_link
from idp.users.links import find_link
from idp.users.links import resolve_link

bp = Blueprint("links", __name__)


def _open(token: str) -> tuple[MailLink, User, LinkHandler]:
    link = find_link(token)
    handler = handler_for(link.purpose)
    user = resolve_link(link, handler.purpose)
    follow_account_locale(user.locale)
    return link, user, handler


def _confirm_page(
    handler: LinkHandler, token: str, link: MailLink, user: User, errors: FormErrors
) -> str:
    return render_template(
        handler.confirm_template,
        token=token,
        user=user,
        errors=errors,
        **handler.link_context(link, user),
    )


@bp.get("/links/<token>")
def open_link(token: str) -> Response:
    """Show the link's confirm page; changes nothing."""
    link, user, handler = _open(token)
    return Response(_confirm_page(handler, token, link, user, []))


@bp.post("/links/<token>")
def use_link(token: str) -> BaseResponse:
    """Check the confirm form, consume the link (exactly one of parallel POSTs wins), apply."""
    link, user, handler = _open(token)
    errors = handler.errors(user, request.form)
    if errors:
        return Response(_confirm_page(handler, token, link, user, errors), 400)
    step = handler.review(link, user, request.form)
    if step is not None:
        return step
    if not consume_link(link):
        raise LinkError("used")
    return handler.use(link, user, request.form) or Response(render_template(handler.done_template))
