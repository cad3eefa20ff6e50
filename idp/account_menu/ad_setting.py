"""D1, D2: the contract's Active Directory setting (contractor only, U2; a fresh sign-in, as
every sensitive item). The page shows the current setting (AD FS or a directory reached by
LDAP, its connection ID and login URLs; the secret only as "set") and offers to configure,
change or remove it: form → confirmation → done, through the domain functions the CLI uses
(``idp.contracts.ad``). Configuring mails the contractor the connection ID and login URLs
(D1); the done page shows them too.

One URL; the form's ``step`` says what is asked: ``confirm`` (check the form, show the
confirmation), ``apply`` (configure or change), ``remove_confirm`` and ``remove``. Between the
confirmation and ``apply`` the settings travel in a hidden field sealed with
``IDP_ENCRYPTION_KEY`` (authenticated), so the secret is never written into the page.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response
from flask import render_template
from flask import request
from werkzeug.wrappers import Response as BaseResponse

from idp import extensions
from idp.account_menu.guard import ENDPOINTS
from idp.account_menu.guard import Person
from idp.account_menu.guard import bp
from idp.account_menu.guard import menu_item
from idp.actor import Actor
from idp.contracts.ad import KINDS
from idp.contracts.ad import MAX_CA_PEM
from idp.contracts.ad import MAX_FIELD
from idp.contracts.ad import MAX_SECRET
from idp.contracts.ad import InUseError
from idp.contracts.ad import ad_login_urls
from idp.contracts.ad import ad_user_count
from idp.contracts.ad import add_ad_connection
from idp.contracts.ad import check_settings
from idp.contracts.ad import contract_connection
from idp.contracts.ad import remove_ad_connection
from idp.contracts.ad import update_ad_connection
from idp.errors import ProvisioningError
from idp.i18n import gettext as _
from idp.models import AdConnection
from idp.vocabulary import MenuItem

ENDPOINTS[MenuItem.AD_SETTING] = "account_menu.ad_setting"

#: Each kind's text fields, in the form's order (the secret and StartTLS come apart).
FIELDS = {
    "adfs": ("issuer", "client_id", "resource"),
    "ldap": ("url", "base_dn", "bind_dn", "ca_pem"),
}
#: Fields the form requires (``resource`` is optional, as for ``idp ad add``).
REQUIRED = {
    "adfs": ("issuer", "client_id"),
    "ldap": ("url", "base_dn", "bind_dn", "ca_pem"),
}
Errors = dict[str, list[str]]


def _actor(person: Person) -> Actor:
    return Actor.user(person.user.id, person.user.contract_id)


def kind_labels() -> dict[str, str]:
    return {"adfs": _("AD FS (OpenID Connect)"), "ldap": _("Directory reached by LDAP")}


def _values(kind: str) -> dict[str, Any]:
    """The submitted fields of ``kind``'s form, bounded (the domain refuses what is too
    long with a message)."""
    values: dict[str, Any] = {}
    for name in FIELDS[kind]:
        limit = MAX_CA_PEM if name == "ca_pem" else MAX_FIELD
        value = request.form.get(name, "")[: limit + 1]
        # PEM from a textarea arrives with CRLF line ends (HTML form submission).
        values[name] = value.replace("\r\n", "\n") if name == "ca_pem" else value.strip()
    if kind == "ldap":
        values["start_tls"] = request.form.get("start_tls") == "1"
    return values


def _field_of(reason: str) -> str:
    """The form field a domain refusal is about (its reason code names it)."""
    for prefix in ("missing_", "long_"):
        if reason.startswith(prefix):
            return reason.removeprefix(prefix)
    return {
        "not_https": "issuer",
        "bad_issuer": "issuer",
        "bad_ldap_url": "url",
        "ldap_clear_text": "url",
        "ldaps_start_tls": "start_tls",
        "bad_ca": "ca_pem",
    }.get(reason, "form")


def _message(reason: str) -> str:
    if reason.startswith("missing_"):
        return _("Enter this field.")
    if reason.startswith("long_"):
        return _("This value is too long.")
    messages = {
        "not_https": _("The issuer must start with https://."),
        "bad_issuer": _("Enter the issuer as a URL, for example https://fs.example.co.jp/adfs."),
        "bad_ldap_url": _(
            "Enter the LDAP URL as ldaps://host:636, or ldap://host:389 with StartTLS."
        ),
        "ldap_clear_text": _(
            "An ldap:// URL needs StartTLS: the passwords must not travel in clear text."
        ),
        "ldaps_start_tls": _("An ldaps:// URL is already encrypted: do not tick StartTLS."),
        "bad_ca": _(
            "These CA certificates cannot be read. Paste them in PEM form "
            "(-----BEGIN CERTIFICATE----- …)."
        ),
        "exists": _("The Active Directory setting was configured meanwhile. Check it and retry."),
    }
    return messages.get(reason, _("This setting cannot be used."))


def _errors(kind: str, values: dict[str, Any], secret: str, is_new: bool) -> Errors:
    """Every missing field at once, then the domain's own check (the first rule broken)."""
    errors: Errors = {}
    for name in REQUIRED[kind]:
        if not values.get(name):
            errors[name] = [_message(f"missing_{name}")]
    if is_new and not secret:
        errors["secret"] = [_message("missing_secret")]
    if len(secret) > MAX_SECRET:
        errors["secret"] = [_message("long_secret")]
    if errors:
        return errors
    try:
        check_settings(kind, values)
    except ProvisioningError as error:
        errors[_field_of(error.reason)] = [_message(error.reason)]
    return errors


def _settings_page(
    person: Person,
    connection: AdConnection | None,
    status: int = 200,
    errors: Errors | None = None,
    submitted: tuple[str, dict[str, Any]] | None = None,
) -> BaseResponse:
    """The current setting and the forms: configure (AD FS or LDAP) when there is none,
    else change (its kind) and remove. ``submitted``: the kind and values to show again."""
    forms: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
    if connection is not None:
        forms[connection.kind] = dict(connection.settings)
    if submitted is not None:
        forms[submitted[0]] = submitted[1]
    urls = ad_login_urls(connection.connection_id) if connection is not None else None
    page = render_template(
        "account/ad_setting.html",
        user=person.user,
        connection=connection,
        urls=urls,
        kinds=[connection.kind] if connection is not None else list(KINDS),
        labels=kind_labels(),
        forms=forms,
        errors=errors or {},
        error_kind=submitted[0] if submitted is not None else None,
    )
    return Response(page, status)


def _seal(
    person: Person,
    connection: AdConnection | None,
    kind: str,
    values: dict[str, Any],
    secret: str,
) -> str:
    pending = {
        "contract": person.contract.id,
        "connection": connection.connection_id if connection is not None else "",
        "kind": kind,
        "settings": values,
        "secret": secret,
    }
    return extensions.secretbox().seal(json.dumps(pending))


def _unseal(person: Person, connection: AdConnection | None) -> dict[str, Any] | None:
    """The confirmed settings, if they were sealed for this contract and this state of its
    setting (none, or this connection); else None."""
    try:
        pending = json.loads(extensions.secretbox().open(request.form.get("pending", "")))
    except ValueError:
        return None
    current = connection.connection_id if connection is not None else ""
    if not isinstance(pending, dict) or pending.get("contract") != person.contract.id:
        return None
    if pending.get("connection") != current or pending.get("kind") not in KINDS:
        return None
    if connection is not None and pending["kind"] != connection.kind:
        return None
    return pending


def _confirm(person: Person, connection: AdConnection | None) -> BaseResponse:
    kind = connection.kind if connection is not None else request.form.get("kind", "")
    if kind not in KINDS:
        return _settings_page(person, connection, 400, {"form": [_("Choose how to connect.")]})
    values = _values(kind)
    secret = request.form.get("secret", "")[: MAX_SECRET + 1]
    errors = _errors(kind, values, secret, connection is None)
    if errors:
        return _settings_page(person, connection, 400, errors, (kind, values))
    page = render_template(
        "account/ad_setting_confirm.html",
        user=person.user,
        connection=connection,
        kind=kind,
        label=kind_labels()[kind],
        values=values,
        fields=FIELDS[kind],
        secret_given=bool(secret),
        pending=_seal(person, connection, kind, values, secret),
    )
    return Response(page)


def _apply(person: Person, connection: AdConnection | None) -> BaseResponse:
    pending = _unseal(person, connection)
    if pending is None:
        message = _("The Active Directory setting was changed meanwhile. Check it and retry.")
        return _settings_page(person, connection, 409, {"form": [message]})
    kind, values, secret = pending["kind"], pending["settings"], pending["secret"]
    try:
        if connection is None:
            connection = add_ad_connection(_actor(person), person.contract.id, kind, values, secret)
            is_new = True
        else:
            connection = update_ad_connection(
                _actor(person), connection.connection_id, values, secret or None
            )
            is_new = False
    except ProvisioningError as error:
        errors = {_field_of(error.reason): [_message(error.reason)]}
        current = contract_connection(person.contract.id)
        return _settings_page(person, current, 400, errors, (kind, values))
    internet_url, line_url = ad_login_urls(connection.connection_id)
    page = render_template(
        "account/ad_setting_done.html",
        user=person.user,
        connection=connection,
        label=kind_labels()[connection.kind],
        internet_url=internet_url,
        line_url=line_url,
        is_new=is_new,
    )
    return Response(page)


def _remove(person: Person, connection: AdConnection | None, apply: bool) -> BaseResponse:
    if connection is None:
        return _settings_page(person, None, 400, {"form": [_("No Active Directory is set.")]})
    users = ad_user_count(person.contract.id)
    if apply:
        try:
            remove_ad_connection(_actor(person), connection.connection_id)
        except InUseError as error:
            users = error.users
        else:
            page = render_template("account/ad_setting_removed.html", user=person.user)
            return Response(page)
    page = render_template(
        "account/ad_setting_remove.html", user=person.user, connection=connection, users=users
    )
    # D2 decision: removing is refused while users sign in with it (they could not sign in).
    return Response(page, 409 if apply else 200)


@bp.route("/account/ad", methods=["GET", "POST"])
@menu_item(MenuItem.AD_SETTING)
def ad_setting(person: Person) -> BaseResponse:
    connection = contract_connection(person.contract.id)
    if request.method == "GET":
        return _settings_page(person, connection)
    step = request.form.get("step", "")
    if step == "confirm":
        return _confirm(person, connection)
    if step == "apply":
        return _apply(person, connection)
    if step in ("remove_confirm", "remove"):
        return _remove(person, connection, step == "remove")
    return _settings_page(person, connection, 400, {"form": [_("Choose how to connect.")]})
