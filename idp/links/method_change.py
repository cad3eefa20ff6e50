"""M2, M6, M3–M5, D2: the link of the method-change mail "【WORKSDRIVEログイン方法の設定変更】".

GET shows the current method and the methods the user's role may choose (changes nothing:
mail scanners open links): a password (P2 rule shown, password and confirmation; not
offered to a ``password`` user, who changes it with P1), every configured upstream, and
Active Directory for a non-contractor whose contract has AD FS (M3), through its
connection-ID screen. A password leads to a confirmation screen (method and email, the
password not shown; its hash waits on the unused link), whose POST uses the link; an
upstream is bound by the broker flow (``CALLBACK_PURPOSES``), which uses the link only when
the identity can be bound. Until then the old method keeps working; after 14 days the link
has expired and nothing changed (M6).

The menu's page (idp/account_menu/login_method.py) shares the choices, labels and refusal
page defined here.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import render_template
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from brokers.base import BrokeredIdentity
from brokers.registry import UPSTREAMS
from idp.actor import Actor
from idp.errors import LinkError
from idp.i18n import gettext as _
from idp.i18n import select_locale
from idp.links.handler import LinkHandler
from idp.links.handler import link_of_callback
from idp.links.invite import upstreams
from idp.links.reset import MAX_PASSWORD_FIELD
from idp.links.reset import password_errors
from idp.login.active_directory import adfs_broker_for
from idp.login.brokered import CALLBACK_PURPOSES
from idp.login.brokered import configured_broker
from idp.login.brokered import send_upstream
from idp.login.transaction import Transaction
from idp.login.transaction import bind_browser
from idp.login.transaction import browser_for_transaction
from idp.models import MailLink
from idp.models import User
from idp.users.invitations import ad_connection_of
from idp.users.invitations import staged_password_hash
from idp.users.links import consume_link
from idp.users.login_method import MethodChangeError
from idp.users.login_method import binding_refusal
from idp.users.login_method import change_to_password
from idp.users.login_method import change_to_upstream
from idp.users.login_method import methods_for
from idp.users.login_method import stage_new_password
from idp.vocabulary import LoginMethod
from policies.links import LinkPurpose

STEP_PASSWORD = "password"
STEP_CONFIRM = "confirm"
STEP_UPSTREAM = "upstream"
STEP_AD = "ad"
STEP_AD_CONFIRM = "ad_confirm"
#: ``tx.data["broker"]["purpose"]`` of a change through an upstream from this link.
PURPOSE = "method_change_link"


def method_labels() -> dict[str, str]:
    """Each login method's name, in the page's language."""
    labels = {LoginMethod.PASSWORD.value: _("Password")}
    labels.update({u.name: _(u.label) for u in UPSTREAMS})
    return labels


def upstream_choices(user: User) -> list[Any]:
    """M3: the configured upstreams (not AD, which has its own screen) the user may choose."""
    allowed = set(methods_for(user))
    return [u for u in upstreams() if u.name in allowed]


def offers_password(user: User) -> bool:
    """A ``password`` user changes the password with P1, not here."""
    return user.login_method != LoginMethod.PASSWORD


def offers_ad(user: User) -> bool:
    """M3: never the contractor; others when the contract has AD FS."""
    return LoginMethod.AD in methods_for(user)


def choices(user: User) -> dict[str, Any]:
    """What the method-choice pages show: the current method and the choices."""
    return {
        "current": user.login_method,
        "labels": method_labels(),
        "offers_password": offers_password(user),
        "upstreams": upstream_choices(user),
        "ad_connection": ad_connection_of(user.contract_id) if offers_ad(user) else None,
    }


def choice_errors(user: User, form: MultiDict[str, str]) -> dict[str, list[str]]:
    """Messages refusing a choice form, by field: ``password``, the P2 rule and the
    confirmation; ``method`` (the group of the other choices), a method the page does not
    offer this user (M3 on the server: the contractor's AD)."""
    step = form.get("step", "")
    if step == STEP_PASSWORD and offers_password(user):
        problems = password_errors(
            user,
            form.get("password", "")[:MAX_PASSWORD_FIELD],
            form.get("password_confirmation", "")[:MAX_PASSWORD_FIELD],
        )
        return {"password": problems} if problems else {}
    if step in (STEP_AD, STEP_AD_CONFIRM) and offers_ad(user):
        return {}
    if step == STEP_UPSTREAM:
        names = {u.name for u in upstream_choices(user)}
        if form.get("provider", "") in names:
            return {}
    if step in (STEP_AD, STEP_AD_CONFIRM) and not offers_ad(user):
        return {"method": [_("This login method cannot be chosen for your account.")]}
    return {"method": [_("Choose how you will sign in.")]}


def refusal_page(
    user: User, identity: BrokeredIdentity, reason: str, retry_url: str | None = None
) -> BaseResponse:
    """L7, M5: the upstream account cannot be bound (409); nothing changed, the old method
    still works. The other account is never named.

    :param retry_url: the page to choose again (the account menu's); None (a mailed link,
        whose token we do not keep): the page leads back to the service."""
    page = render_template(
        "links/method_change_refused.html",
        user=user,
        identity=identity,
        reason=reason,
        labels=method_labels(),
        retry_url=retry_url,
    )
    return Response(page, 409)


def send_browser_upstream(
    user: User, broker: Any, extra: dict[str, Any], locale: str
) -> BaseResponse:
    """Open a login transaction for binding (the upstream is asked to let the person choose
    the account) and send the browser there; nothing changes until its callback."""
    browser, fresh = browser_for_transaction()
    tx = Transaction.open(browser, params={"prompt": "select_account"}, client_id="", locale=locale)
    response = send_upstream(tx, broker, extra)
    if fresh:
        bind_browser(response, browser)
    return response


class MethodChangeHandler(LinkHandler):
    purpose = LinkPurpose.METHOD_CHANGE
    confirm_template = "links/method_change.html"
    done_template = "links/method_change_done.html"

    def context(self, user: User) -> dict[str, Any]:
        return choices(user)

    def errors(self, user: User, form: MultiDict[str, str]) -> dict[str, list[str]]:
        if form.get("step", "") == STEP_CONFIRM:
            return {}
        return choice_errors(user, form)

    def review(self, link: MailLink, user: User, form: MultiDict[str, str]) -> BaseResponse | None:
        step = form.get("step", "")
        if step == STEP_UPSTREAM:
            broker = configured_broker(form.get("provider", ""))
            assert broker is not None  # errors() let only a configured upstream through
            extra = {"purpose": PURPOSE, "link": link.id}
            return send_browser_upstream(user, broker, extra, select_locale())
        if step == STEP_AD:
            connection = ad_connection_of(user.contract_id)
            page = render_template("links/method_change_ad.html", user=user, connection=connection)
            return Response(page)
        if step == STEP_AD_CONFIRM:
            return _send_to_ad(link, user)
        if step == STEP_PASSWORD:
            try:
                stage_new_password(link, user, form.get("password", "")[:MAX_PASSWORD_FIELD])
            except MethodChangeError:
                return self._again(user, {"method": [_("Choose how you will sign in.")]})
            page = render_template(
                "links/method_change_confirm.html", user=user, labels=method_labels()
            )
            return Response(page)
        if staged_password_hash(link) is None:
            # A confirmation without a password chosen first: back to the form.
            return self._again(user, {"password": [_("Enter your password first.")]})
        return None

    def _again(self, user: User, errors: dict[str, list[str]]) -> BaseResponse:
        page = render_template(self.confirm_template, user=user, errors=errors, **choices(user))
        return Response(page, 400)

    def use(self, link: MailLink, user: User, form: MultiDict[str, str]) -> BaseResponse | None:
        password_hash = staged_password_hash(link)
        assert password_hash is not None  # review() let only a staged password through
        change_to_password(Actor.user(user.id, user.contract_id), user, password_hash)
        page = render_template(
            self.done_template,
            user=user,
            method=LoginMethod.PASSWORD.value,
            labels=method_labels(),
        )
        return Response(page)


def _send_to_ad(link: MailLink, user: User) -> BaseResponse:
    """M3, L8: after the connection-ID screen, the contract's AD FS."""
    connection = ad_connection_of(user.contract_id)
    assert connection is not None  # errors() let the step through only with one
    broker = adfs_broker_for(connection.connection_id)
    assert broker is not None
    extra = {
        "purpose": PURPOSE,
        "link": link.id,
        "connection_id": connection.connection_id,
        "contract_id": connection.contract_id,
    }
    return send_browser_upstream(user, broker, extra, select_locale())


def bound_from_link(
    tx: Transaction, identity: BrokeredIdentity, kept: dict[str, Any]
) -> BaseResponse:
    """The upstream's callback for a change by link: the link is checked again (it may have
    been used, expired or voided meanwhile); an identity that cannot be bound leaves the
    link usable; otherwise the link is used and the identity bound."""
    link, user = link_of_callback(tx, kept, LinkPurpose.METHOD_CHANGE)
    args = (identity.provider, identity.issuer, identity.subject)
    refusal = binding_refusal(user, *args)
    if refusal is not None:
        return refusal_page(user, identity, refusal)
    if not consume_link(link):
        raise LinkError("used")
    try:
        change_to_upstream(Actor.user(user.id, user.contract_id), user, *args, email=identity.email)
    except MethodChangeError as error:
        # Bound by someone else between the check and now: nothing changed but the link.
        return refusal_page(user, identity, error.reason)
    page = render_template(
        MethodChangeHandler.done_template,
        user=user,
        method=identity.provider,
        upstream_email=identity.email,
        labels=method_labels(),
    )
    return Response(page)


CALLBACK_PURPOSES[PURPOSE] = bound_from_link
