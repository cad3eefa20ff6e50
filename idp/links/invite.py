"""L10: the registration link of the invitation mail.

GET shows the registration page (changes nothing: mail scanners open links) with the methods
the contract allows: the password (P2 policy text, password and confirmation) and every
configured upstream (Google, Facebook, Microsoft, d account), and Active Directory when the
contract has an AD connection: its connection-ID confirmation screen first, then AD FS, or,
for a directory reached by LDAP, a form for the directory user name and password, checked by a
bind as the login does (same per-account limit of wrong passwords; a wrong one shows the form
again and leaves the link unused). The password form leads to a confirmation
screen (method and email, the password not shown; the hash waits on the unused link), whose
POST uses the link and registers; then the completion screen, and the user signs in normally
at the service.

An upstream is bound through the broker flow itself: the button opens a login transaction of
purpose ``invite`` (the upstream is asked to let the person choose the account), and the
callback (``CALLBACK_PURPOSES`` in idp/login/brokered.py) uses the link and binds the
identity instead of signing in. The pages advise signing out upstream first.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask import render_template
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from brokers.base import BrokeredIdentity
from brokers.base import BrokerError
from brokers.registry import UPSTREAMS
from idp import audit
from idp.actor import Actor
from idp.contracts.ad import contract_connection
from idp.errors import LinkError
from idp.errors import ProvisioningError
from idp.i18n import gettext as _
from idp.i18n import select_locale
from idp.links.handler import LinkHandler
from idp.links.handler import link_of_callback
from idp.links.reset import MAX_PASSWORD_FIELD
from idp.links.reset import password_errors
from idp.login.active_directory import adfs_broker_for
from idp.login.active_directory import ldap_directory_for
from idp.login.active_directory import ldap_limit
from idp.login.active_directory import ldap_refusal_message
from idp.login.active_directory import ldap_subject
from idp.login.brokered import CALLBACK_PURPOSES
from idp.login.brokered import configured_broker
from idp.login.brokered import send_upstream
from idp.login.limits import reserve
from idp.login.limits import too_many
from idp.login.transaction import Transaction
from idp.login.transaction import bind_browser
from idp.login.transaction import browser_for_transaction
from idp.models import AdConnection
from idp.models import MailLink
from idp.models import User
from idp.users.invitations import contractor_email
from idp.users.invitations import register_with_password
from idp.users.invitations import register_with_upstream
from idp.users.invitations import stage_password
from idp.users.invitations import staged_password_hash
from idp.users.invitations import upstream_taken
from idp.users.links import consume_link
from idp.vocabulary import LoginMethod
from policies.links import LinkPurpose

#: The registration form's steps (its hidden ``step`` field).
STEP_PASSWORD = "password"
STEP_CONFIRM = "confirm"
STEP_UPSTREAM = "upstream"
STEP_AD = "ad"
STEP_AD_CONFIRM = "ad_confirm"
STEP_AD_LDAP = "ad_ldap"
#: ``tx.data["broker"]["purpose"]`` of a registration through an upstream.
PURPOSE = "invite"


def upstreams() -> list[Any]:
    """The configured upstreams a person can register with (the login page's order)."""
    return [u for u in UPSTREAMS if u.name != "ad" and configured_broker(u.name) is not None]


def _step(form: MultiDict[str, str]) -> str:
    return form.get("step", "")


class InviteHandler(LinkHandler):
    purpose = LinkPurpose.INVITE
    confirm_template = "links/invite.html"
    done_template = "links/invite_done.html"

    def context(self, user: User) -> dict[str, Any]:
        return {
            "methods": [LoginMethod.PASSWORD.value],
            "upstreams": upstreams(),
            "ad_connection": contract_connection(user.contract_id),
            "contractor_email": contractor_email(user.contract_id),
        }

    def errors(self, user: User, form: MultiDict[str, str]) -> dict[str, list[str]]:
        """By field: ``password`` (P2), or ``method`` (the group of the other choices: one
        this page does not offer, e.g. left on the screen after the setting changed)."""
        step = _step(form)
        if step == STEP_PASSWORD:
            problems = password_errors(
                user,
                form.get("password", "")[:MAX_PASSWORD_FIELD],
                form.get("password_confirmation", "")[:MAX_PASSWORD_FIELD],
            )
            return {"password": problems} if problems else {}
        if step == STEP_CONFIRM:
            return {}
        is_offered = False
        if step in (STEP_AD, STEP_AD_CONFIRM):
            is_offered = contract_connection(user.contract_id) is not None
        elif step == STEP_AD_LDAP:
            connection = contract_connection(user.contract_id)
            is_offered = connection is not None and connection.kind == "ldap"
        elif step == STEP_UPSTREAM:
            is_offered = form.get("provider", "") in {u.name for u in upstreams()}
        return {} if is_offered else {"method": [_("Choose how you will sign in.")]}

    def review(self, link: MailLink, user: User, form: MultiDict[str, str]) -> BaseResponse | None:
        if _step(form) == STEP_UPSTREAM:
            return _send_upstream(link, user, form.get("provider", ""))
        if _step(form) == STEP_AD:
            connection = contract_connection(user.contract_id)
            page = render_template("links/invite_ad.html", user=user, connection=connection)
            return Response(page)
        if _step(form) == STEP_AD_CONFIRM:
            return _send_to_ad(link, user)
        if _step(form) == STEP_AD_LDAP:
            return _register_with_directory(link, user, form)
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
                errors={"password": [_("Enter your password first.")]},
                **self.context(user),
            )
            return Response(page, 400)
        return None

    def use(self, link: MailLink, user: User, form: MultiDict[str, str]) -> BaseResponse | None:
        password_hash = staged_password_hash(link)
        assert password_hash is not None  # review() let only a staged password through
        register_with_password(Actor.user(user.id, user.contract_id), user, password_hash)
        return None


def _send_upstream(link: MailLink, user: User, name: str) -> BaseResponse:
    """Open a login transaction of purpose ``invite`` and send the browser upstream; the link
    stays unused until the callback binds the identity."""
    broker = configured_broker(name)
    assert broker is not None  # errors() let only a configured upstream through
    browser, fresh = browser_for_transaction()
    tx = Transaction.open(
        browser, params={"prompt": "select_account"}, client_id="", locale=select_locale()
    )
    response = send_upstream(tx, broker, {"purpose": PURPOSE, "link": link.id})
    if fresh:
        bind_browser(response, browser)
    return response


def _send_to_ad(link: MailLink, user: User) -> BaseResponse:
    """L10, L8: after the connection-ID confirmation, the contract's AD FS, or the form for
    the directory's user name and password."""
    connection = contract_connection(user.contract_id)
    assert connection is not None  # errors() let the step through only with one
    if connection.kind == "ldap":
        page = render_template("links/invite_ldap.html", user=user, connection=connection)
        return Response(page)
    broker = adfs_broker_for(connection.connection_id)
    assert broker is not None
    browser, fresh = browser_for_transaction()
    tx = Transaction.open(
        browser, params={"prompt": "select_account"}, client_id="", locale=select_locale()
    )
    kept = {
        "purpose": PURPOSE,
        "link": link.id,
        "connection_id": connection.connection_id,
        "contract_id": connection.contract_id,
    }
    response = send_upstream(tx, broker, kept)
    if fresh:
        bind_browser(response, browser)
    return response


def _directory_form(
    user: User, connection: AdConnection, error: str, status: int, login: str | None = None
) -> Response:
    """The directory's form again with ``error``; ``login``: the user name typed, when the
    message is about the two fields (wrong credentials; issue 14: they are described by it,
    the focus where the typing goes on), None when it is about the directory."""
    page = render_template(
        "links/invite_ldap.html", user=user, connection=connection, error=error, login=login
    )
    return Response(page, status)


def _register_with_directory(link: MailLink, user: User, form: MultiDict[str, str]) -> BaseResponse:
    """L10, L8: check the directory user name and password by a bind (as the LDAP sign-in
    does, with its limit of wrong passwords per directory account), then use the link and
    bind the identity. A refusal shows the form again; the link stays unused."""
    connection = contract_connection(user.contract_id)
    assert connection is not None and connection.kind == "ldap"  # errors() checked it
    login_name = form.get("login", "").strip()[:256]
    password = form.get("password", "")[:1024]
    attempt = reserve(ldap_limit(), ldap_subject(connection, login_name))
    if not attempt.allowed:
        audit.record(
            "user_register",
            "refused",
            "ldap_too_many_failures",
            user_id=user.id,
            contract_id=user.contract_id,
        )
        return too_many(attempt.key, "ldap_too_many_failures")
    try:
        identity = ldap_directory_for(connection).authenticate(login_name, password)
    except BrokerError as error:
        if error.reason != "invalid_credentials":
            attempt.hand_back()
        audit.record(
            "user_register",
            "refused",
            f"ldap_{error.reason}",
            user_id=user.id,
            contract_id=user.contract_id,
        )
        if error.reason in ("unreachable", "timeout", "directory_error"):
            message = _("Your company's directory could not be reached. Please try again later.")
            return _directory_form(user, connection, message, 502)
        message = ldap_refusal_message(error.reason)
        return _directory_form(user, connection, message, 401, login_name)
    attempt.hand_back()
    return _bind_identity(link, user, identity)


def _bind_identity(link: MailLink, user: User, identity: BrokeredIdentity) -> BaseResponse:
    """Use the link and bind the identity; an identity already registered leaves the link
    usable and says to sign out upstream first."""
    args = (identity.provider, identity.issuer, identity.subject)
    if upstream_taken(*args):
        page = render_template("links/invite_taken.html", user=user, identity=identity)
        return Response(page, 409)
    if not consume_link(link):
        raise LinkError("used")
    try:
        register_with_upstream(
            Actor.user(user.id, user.contract_id), user, *args, email=identity.email
        )
    except ProvisioningError as error:
        # Bound by someone else between the check and now: nothing changed but the link.
        raise LinkError("used") from error
    page = render_template(InviteHandler.done_template, user=user, upstream_email=identity.email)
    return Response(page)


def registered_upstream(
    tx: Transaction, identity: BrokeredIdentity, kept: dict[str, Any]
) -> BaseResponse:
    """The upstream's callback for a registration: the link (checked again: it may have been
    used or expired meanwhile) is used and the identity bound; an identity already
    registered leaves the link usable and says to sign out upstream first."""
    link, user = link_of_callback(tx, kept, LinkPurpose.INVITE)
    return _bind_identity(link, user, identity)


CALLBACK_PURPOSES[PURPOSE] = registered_upstream
