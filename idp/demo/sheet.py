"""The demo's "try this" sheet, read from the live state each time it is shown: the URLs to
open, each demo user with the password that works now (a password changed in the demo says so
rather than printing the old one), and the demo line's West Japan notification choice.

The same sheet is printed by ``idp demo`` once its servers answer, and served (``IDP_DEV``
only) at ``/dev/demo``."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from idp.demo.accounts import DEMO_LINE
from idp.demo.accounts import DEMO_LINE_AREA
from idp.demo.accounts import USERS
from idp.demo.accounts import is_demo_password


def N_(text: str) -> str:
    """Marks a message for the catalog (babel's default ``N_`` keyword); the page
    translates it when shown, the terminal prints it in English."""
    return text


#: What each demo user shows.
SHOWS = {
    "contractor": N_("Contractor: the account menu with every item, and the admin console."),
    "user": N_("Plain user: signs in to the service; the account menu's own items."),
    "two_factor": N_(
        "Contract with two-step verification on: the first sign-in sets up SMS or an "
        "authenticator app (SMS codes are in the outbox)."
    ),
    "line": N_(
        "Line-only contract: refused from the internet; through the line gateway, the West "
        "Japan notice at the first sign-in, then signed in without two-step verification."
    ),
}
#: A user's state, when the demo password is not simply the one to use.
STATUS = {
    "changed": N_("Password changed by you: `idp demo --reset` restores the demo password."),
    "locked": N_(
        "Locked after wrong passwords: the unlock mail is in the outbox, or `idp demo --reset`."
    ),
    "disabled": N_("Disabled in the admin console: `idp demo --reset` enables it."),
    "deleted": N_("Deleted in the demo: restart with `idp demo --reset` to add it again."),
}
NOTICE = {
    None: N_("not chosen yet: the first line sign-in asks"),
    "notify": N_("notify (chosen in the demo)"),
    "do_not_notify": N_(
        "do not notify: line authentication is closed for this line; `idp demo --reset` asks again"
    ),
}


@dataclass(frozen=True)
class SheetUser:
    key: str
    email: str
    password: str
    status: str  # "demo" or a key of STATUS
    shows: str


@dataclass(frozen=True)
class Sheet:
    #: (label, URL) in the order a newcomer opens them.
    urls: list[tuple[str, str]]
    users: list[SheetUser]
    line: str
    line_area: str
    line_notice: str


def _status(user: Any, password: str) -> str:
    if user is None:
        return "deleted"
    if user.disabled_at is not None:
        return "disabled"
    if user.locked_at is not None:
        return "locked"
    return "demo" if is_demo_password(user, password) else "changed"


def read_sheet(state: dict[str, Any], issuer: str) -> Sheet:
    """The sheet as the demo is now (needs an app context)."""
    from idp.contracts.lines import line_choices
    from idp.models import User
    from idp.models import db

    users = []
    for spec in USERS:
        user_id = (state.get("user_ids") or {}).get(spec.key)
        user = db.session.get(User, user_id) if user_id else None
        users.append(
            SheetUser(
                spec.key,
                user.email if user is not None else spec.email,
                spec.password,
                _status(user, spec.password),
                SHOWS[spec.key],
            )
        )
    choices = line_choices(state["contracts"]["line"]) if state.get("contracts") else {}
    urls = [
        (N_("Storage service (sign in here)"), state.get("frontend_url", "")),
        (N_("Account menu"), f"{issuer}/account"),
        (N_("Admin console (contractor)"), f"{issuer}/admin"),
        (N_("Mail and SMS outbox"), f"{issuer}/dev/outbox"),
        (N_("Line gateway (as the demo line)"), state.get("gateway_url", "")),
        (N_("This sheet"), f"{issuer}/dev/demo"),
    ]
    return Sheet(
        [(label, url) for label, url in urls if url],
        users,
        DEMO_LINE,
        DEMO_LINE_AREA,
        NOTICE.get(choices.get(DEMO_LINE), NOTICE[None]),
    )


def format_sheet(sheet: Sheet) -> str:
    """The sheet for the terminal (English; the page at /dev/demo follows the language)."""
    rule = "─" * 78
    lines = [rule, "WORKSDRIVE demo: try this", ""]
    width = max(len(label) for label, _url in sheet.urls)
    lines += [f"  {label:{width}}  {url}" for label, url in sheet.urls]
    lines += ["", "Users (sign in at the storage service):"]
    indent = " " * 6
    for user in sheet.users:
        lines.append(f"  {user.email:26} {user.password}")
        lines.append(textwrap.fill(user.shows, 78, initial_indent=indent, subsequent_indent=indent))
        if user.status != "demo":
            status = "!! " + STATUS[user.status]
            lines.append(textwrap.fill(status, 78, initial_indent=indent, subsequent_indent=indent))
    lines += [
        "",
        f"Line {sheet.line} ({sheet.line_area}): on the service's sign-in page follow",
        "  「回線認証でログイン」 (line authentication): the gateway signs in as this line.",
        f"  West Japan notification: {sheet.line_notice}",
        rule,
    ]
    return "\n".join(lines)
