"""L8, D1: Active Directory through the contract's AD FS, found by its connection ID, or a
direct LDAP bind where the contract has no AD FS."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from flask import Blueprint
from flask import Response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from brokers.base import Broker
from brokers.base import BrokerError
from idp import audit
from idp import extensions
from idp.contracts.ad import CONNECTION_ID  # noqa: F401 (re-export for the login views)
from idp.contracts.ad import find_connection
from idp.contracts.ad import new_connection_id  # noqa: F401 (re-export)
from idp.cookies import set_cookie
from idp.i18n import gettext as _
from idp.login.brokered import CALLBACK_BROKERS
from idp.login.brokered import identified
from idp.login.brokered import send_upstream
from idp.login.brokered import upstream_failed
from idp.login.limits import Limit
from idp.login.limits import reserve
from idp.login.limits import too_many
from idp.login.route import route_of_request
from idp.login.steps import step
from idp.login.transaction import Transaction
from idp.models import AdConnection

if TYPE_CHECKING:
    from brokers.ldap import LdapDirectory

bp = Blueprint("active_directory", __name__)

LAST_CONNECTION_COOKIE = "idp_ad"
LDAP_LIMIT_PREFIX = "ldap-failures"


def adfs_broker_for(connection_id: str) -> Broker | None:
    connection = find_connection(connection_id)
    if connection is None or connection.kind != "adfs":
        return None
    from brokers.adfs import AdfsBroker

    settings = connection.settings
    secret = extensions.secretbox().open(connection.secret_sealed)
    return AdfsBroker(
        issuer=settings["issuer"],
        client_id=settings["client_id"],
        client_secret=secret,
        resource=settings.get("resource") or None,
    )


def _callback_broker(kept: dict[str, Any]) -> Broker | None:
    """The AD FS of the connection this sign-in started with (at the upstream callback)."""
    return adfs_broker_for(kept.get("connection_id", ""))


CALLBACK_BROKERS["ad"] = _callback_broker


@bp.route("/login/ad", methods=["GET", "POST"])
@bp.route("/line/login/ad", methods=["GET", "POST"], endpoint="line_ask_connection")
@step("identify")
def ask_connection(tx: Transaction) -> BaseResponse:
    """L8: when the URL does not carry the connection ID, ask for it."""
    if request.method == "GET":
        remembered = request.cookies.get(LAST_CONNECTION_COOKIE, "")
        return Response(
            render_template("login/ad_connection.html", tx=tx, connection_id=remembered[:40])
        )
    connection_id = request.form.get("connection_id", "")[:40]
    if find_connection(connection_id) is None:
        audit.record("login", "refused", "unknown_connection_id")
        return Response(
            render_template(
                "login/ad_connection.html",
                tx=tx,
                connection_id=connection_id,
                error=_("This connection ID is not known. Check it with your administrator."),
            ),
            400,
        )
    endpoint = (
        "active_directory.line_login"
        if request.path.startswith("/line/")
        else "active_directory.login"
    )
    return redirect(
        url_for(endpoint, connection_id=connection_id.strip().lower(), tx=tx.id), code=303
    )


@bp.route("/login/ad/<connection_id>", methods=["GET", "POST"])
@bp.route("/line/login/ad/<connection_id>", methods=["GET", "POST"], endpoint="line_login")
def login(connection_id: str) -> BaseResponse:
    """The AD login URL of the D1 mail: AD FS, or the directory's own sign-in form (LDAP)."""
    if not request.values.get("tx"):
        # Opened from the mail, not from the service: remember the ID for the login page.
        response = Response(render_template("login/ad_start.html", connection_id=connection_id))
        if find_connection(connection_id) is not None:
            set_cookie(response, LAST_CONNECTION_COOKIE, connection_id, max_age=400 * 86400)
        return response
    return _login_step(connection_id=connection_id)


@step("identify")
def _login_step(tx: Transaction, connection_id: str) -> BaseResponse:
    tx.route = route_of_request()
    tx.save()
    connection = find_connection(connection_id)
    if connection is None:
        return redirect(url_for("active_directory.ask_connection", tx=tx.id), code=303)
    if connection.kind == "adfs":
        broker = adfs_broker_for(connection.connection_id)
        assert broker is not None
        response = send_upstream(
            tx,
            broker,
            {"connection_id": connection.connection_id, "contract_id": connection.contract_id},
        )
    else:
        response = _ldap_login(tx, connection)
    set_cookie(response, LAST_CONNECTION_COOKIE, connection.connection_id, max_age=400 * 86400)
    return response


def ldap_limit() -> Limit:
    """Wrong passwords per directory login per hour (``IDP_LDAP_FAILURES_PER_HOUR``), below the
    directory's lockout threshold so that we never drive a customer's AD lockout
    (UPSTREAMS.md)."""
    maximum = extensions.settings().ldap_failures_per_hour
    return Limit(LDAP_LIMIT_PREFIX, maximum, 3600)


def ldap_subject(connection: AdConnection, login_name: str) -> str:
    """One counter per directory account, however its login is typed: ``user@domain``,
    ``DOMAIN\\user`` and ``user`` (any case) share it, as the directory finds one entry."""
    account = login_name.casefold().rpartition("\\")[2].partition("@")[0]
    return f"{connection.connection_id}:{account}"


def _ldap_login(tx: Transaction, connection: AdConnection) -> BaseResponse:
    if request.method == "GET":
        return Response(render_template("login/ad_ldap.html", tx=tx, connection=connection))
    login_name = request.form.get("login", "").strip()[:256]
    password = request.form.get("password", "")[:1024]
    limit = ldap_limit()
    # Reserved before the bind, so that parallel wrong passwords cannot reach the directory
    # more often than the limit; only a wrong password keeps its reservation.
    attempt = reserve(limit, ldap_subject(connection, login_name))
    if not attempt.allowed:
        audit.record("login", "refused", "ldap_too_many_failures")
        return too_many(
            attempt.key,
            "ldap_too_many_failures",
            tx=tx,
            back_url=url_for("login.identify", tx=tx.id),
        )
    try:
        identity = ldap_directory_for(connection).authenticate(login_name, password)
    except BrokerError as error:
        if error.reason != "invalid_credentials":
            attempt.hand_back()
        if error.reason in ("unreachable", "timeout", "directory_error"):
            return upstream_failed(tx, "ad", error)
        return _ldap_refused(tx, connection, error.reason, login_name)
    attempt.hand_back()
    return identified(tx, identity, contract_id=connection.contract_id)


def ldap_directory_for(connection: AdConnection) -> LdapDirectory:
    """The contract's directory (an LDAP connection), with its sealed bind password opened.
    The identities' issuer is the one pinned when the URL was changed (D1), if any."""
    from brokers.ldap import LdapDirectory

    settings = connection.settings
    return LdapDirectory(
        url=settings["url"],
        base_dn=settings["base_dn"],
        bind_dn=settings["bind_dn"],
        bind_password=extensions.secretbox().open(connection.secret_sealed),
        start_tls=bool(settings.get("start_tls")),
        ca_certs_data=settings.get("ca_pem") or None,
        issuer=settings.get("directory_issuer") or None,
    )


def ldap_refusal_message(reason: str) -> str:
    """What the person is told for a refused directory sign-in (``BrokerError.reason``)."""
    messages = {
        "password_expired": _(
            "Your password has expired. Change it in your company's system first."
        ),
        "must_change_password": _("You must change your password in your company's system first."),
        "account_disabled": _(
            "Your account is disabled in your company's directory. Contact your administrator."
        ),
        "account_locked": _(
            "Your account is locked in your company's directory. "
            "Contact your administrator or wait for it to unlock."
        ),
        "account_expired": _(
            "Your account has expired in your company's directory. Contact your administrator."
        ),
    }
    # The issue asks for clear messages for disabled, locked and expired accounts and
    # expired passwords; everything else gets the generic answer.
    return messages.get(
        reason, _("The user name or password is not correct, or the account cannot sign in.")
    )


def _ldap_refused(
    tx: Transaction, connection: AdConnection, reason: str, login_name: str
) -> BaseResponse:
    """The page again, with the message about both fields and the user name kept."""
    audit.record("login", "refused", f"ldap_{reason}")
    message = ldap_refusal_message(reason)
    page = render_template(
        "login/ad_ldap.html", tx=tx, connection=connection, error=message, login=login_name
    )
    return Response(page, 401)
