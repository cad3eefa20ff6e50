"""idp/sso.py: "sign out everywhere" ends every SSO session of one user, in every browser, and
revokes the refresh tokens of every relying party (U1 account menu's sign-out, O1 sessions);
nobody else is signed out, and the user can sign in again at once."""

from __future__ import annotations

import pytest

from idp.actor import Actor
from idp.models import AuditEvent
from idp.models import User
from idp.sso import sign_out_everywhere
from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.helpers import RelyingParty
from tests.helpers import redirect_params

ACTOR = Actor.system("sign-out-test")


def _silent(browser: Browser, rp: RelyingParty) -> dict[str, str]:
    """``prompt=none``: a code if the browser has a session, ``login_required`` if not."""
    response = browser.session.get(rp.authorize_url(prompt="none"), allow_redirects=False)
    return redirect_params(response)


def _signed_in(provider, rp, email):
    browser = Browser(provider.url)
    return browser, rp.login_tokens(browser, email, PASSWORD)


def _sign_out_everywhere(provider, user_id: str) -> int:
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        return sign_out_everywhere(ACTOR, user)


@pytest.mark.covers("O1", "U1")
def test_sign_out_everywhere_ends_every_session_and_refresh_token_of_the_user(provider, rp, user):
    user_id, email = user
    other_rp = provider.new_client()
    laptop, laptop_tokens = _signed_in(provider, rp, email)
    phone, phone_tokens = _signed_in(provider, other_rp, email)
    _other_id, other_email = provider.new_user()
    bystander, bystander_tokens = _signed_in(provider, rp, other_email)
    assert "code" in _silent(laptop, rp) and "code" in _silent(phone, other_rp)

    # A token family per authorization code: two sign-ins and the two silent codes above.
    assert _sign_out_everywhere(provider, user_id) == 4

    # Both browsers are signed out: a silent request answers login_required.
    for browser, client in ((laptop, rp), (phone, other_rp)):
        assert _silent(browser, client) == {
            "error": "login_required",
            "state": client.state,
            "iss": client.issuer,
        }
    # Every relying party's refresh token is dead, and its access token inactive.
    for client, tokens in ((rp, laptop_tokens), (other_rp, phone_tokens)):
        refreshed = client.refresh(tokens["refresh_token"])
        assert refreshed["_status"] == 400 and refreshed["error"] == "invalid_grant"
        assert client.introspect(tokens["access_token"])["active"] is False
    # Another user of the same relying party is not touched.
    assert "code" in _silent(bystander, rp)
    assert rp.refresh(bystander_tokens["refresh_token"])["_status"] == 200
    # The user signs in again at once, and that new session lives.
    again, _tokens = _signed_in(provider, rp, email)
    assert "code" in _silent(again, rp)
    # The audit event names who did it.
    with provider.app.app_context():
        events = (
            provider.db()
            .session.query(AuditEvent)
            .filter_by(user_id=user_id, event="sign_out_everywhere")
            .all()
        )
        assert [(e.outcome, e.details["actor"]) for e in events] == [("ok", ACTOR.as_details())]


@pytest.mark.covers("O1", "X2")
def test_a_sign_in_again_in_the_same_browser_continues_only_its_users_live_session(
    provider, rp, user
):
    """``prompt=login`` in a browser whose session is the same user's keeps that session's
    ``sid`` (one browser, one session); another user's sign-in there, or the same user's
    once their sessions ended (sign out everywhere, a changed account state), starts a
    session of its own."""
    user_id, email = user
    browser = Browser(provider.url)

    def sid_of_sign_in(email: str) -> str:
        callback = rp.sign_in(browser, email, PASSWORD, prompt="login")
        return rp.id_token_claims(rp.exchange(callback["code"])["id_token"])["sid"]

    sid = sid_of_sign_in(email)
    assert sid_of_sign_in(email) == sid

    _sign_out_everywhere(provider, user_id)
    after_sign_out = sid_of_sign_in(email)
    assert after_sign_out != sid

    with provider.app.app_context():
        session = provider.db().session
        session.get(User, user_id).state_version += 1
        session.commit()
    after_state_change = sid_of_sign_in(email)
    assert after_state_change != after_sign_out

    _other_id, other_email = provider.new_user()
    assert sid_of_sign_in(other_email) != after_state_change
