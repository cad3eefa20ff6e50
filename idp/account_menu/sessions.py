"""X2, X7: "sessions and browsers" — the person's signed-in sessions (device, approximate
place, last use; this browser marked) each with "sign out", "sign out everywhere", and the
remembered browsers each with "forget", and "forget all". Everyone signed in may use it: it
is the person's own security, not one of U2's rows.

Every button posts to this page with an ``action``; the domain functions check that the
session or browser is this person's (another's is "not found": a 404 page, nothing changed).
Ending this browser's own session, or every session, signs this browser out: then the menu's
sign-in page."""

from __future__ import annotations

from datetime import datetime
from datetime import timedelta
from datetime import timezone

from flask import Response
from flask import redirect
from flask import render_template
from flask import request
from flask import url_for
from werkzeug.wrappers import Response as BaseResponse

from idp.account_menu.guard import ENDPOINTS
from idp.account_menu.guard import Person
from idp.account_menu.guard import bp
from idp.account_menu.guard import menu_item
from idp.actor import Actor
from idp.errors import NotFoundError
from idp.sessions import describe_device
from idp.sessions import end_one_session
from idp.sessions import list_sessions
from idp.sso import clear_session_cookie
from idp.sso import sign_out_everywhere
from idp.twofactor.remembered import aware
from idp.twofactor.remembered import find_remembered
from idp.twofactor.remembered import list_remembered
from idp.twofactor.remembered import revoke_all
from idp.twofactor.remembered import revoke_remembered
from idp.vocabulary import MenuItem

ENDPOINTS[MenuItem.SESSIONS] = "account_menu.sessions"

#: The service's users are in Japan (no daylight saving time): times are shown in JST.
JST = timezone(timedelta(hours=9), "JST")
#: The audit reason when the person forgets browsers from this page.
FORGOTTEN = "forgotten_by_user"
#: What the page says after an action (``?done=``); anything else says nothing.
DONE = ("session_ended", "browser_forgotten", "browsers_forgotten")


def shown_time(value: datetime) -> str:
    return aware(value).astimezone(JST).strftime("%Y-%m-%d %H:%M JST")


def _page(person: Person, status: int = 200) -> BaseResponse:
    this_browser = find_remembered(person.user.id)
    browsers = [
        {
            "id": record.id,
            "device": describe_device(record.user_agent),
            "created_at": shown_time(record.created_at),
            "last_used_at": shown_time(record.last_used_at),
            "is_this_browser": this_browser is not None and record.id == this_browser.id,
        }
        for record in list_remembered(person.user)
    ]
    sessions = [
        {
            "sid": session.sid,
            "device": session.device,
            "network": session.network,
            "line_auth": session.line_auth,
            "created_at": shown_time(session.created_at),
            "last_used_at": shown_time(session.last_used_at),
            "is_this_browser": session.sid == person.session.sid,
        }
        for session in list_sessions(person.user)
    ]
    done = request.args.get("done")
    return Response(
        render_template(
            "account/sessions.html",
            user=person.user,
            sessions=sessions,
            browsers=browsers,
            done=done if done in DONE else None,
        ),
        status,
    )


def _not_found() -> BaseResponse:
    return Response(render_template("account/not_found.html"), 404)


def _signed_out() -> BaseResponse:
    """This browser's session ended: its cookie goes, and the menu's sign-in page comes."""
    response = redirect(url_for("login.account_login"), code=303)
    clear_session_cookie(response)
    return response


def _done(what: str) -> BaseResponse:
    return redirect(url_for("account_menu.sessions", done=what), code=303)


@bp.route("/account/sessions", methods=["GET", "POST"])
@menu_item(MenuItem.SESSIONS)
def sessions(person: Person) -> BaseResponse:
    if request.method == "GET":
        return _page(person)
    actor = Actor.user(person.user.id, person.user.contract_id)
    action = request.form.get("action", "")
    try:
        if action == "end":
            sid = request.form.get("sid", "")
            end_one_session(actor, person.user, sid)
            return _signed_out() if sid == person.session.sid else _done("session_ended")
        if action == "end_all":
            sign_out_everywhere(actor, person.user)
            return _signed_out()
        if action == "forget":
            revoke_remembered(actor, person.user, request.form.get("browser", ""), FORGOTTEN)
            return _done("browser_forgotten")
        if action == "forget_all":
            revoke_all(actor, person.user, FORGOTTEN)
            return _done("browsers_forgotten")
    except NotFoundError:
        return _not_found()
    return _page(person, 400)  # an unknown action changes nothing
