"""Security rules that once passed the suite while removed (issue 9): each test here fails
when its rule is taken out (the report of that branch lists each check).

- L4, L5, L6, X1: no factor can be added to an account by a sign-in that has not passed
  its second factor yet (a stolen password must not enroll the thief's phone or key).
- L9, L3: a line registered to one contract neither admits a user of another contract nor
  skips their second factor.
- X3: ``/metrics`` answers only allowed networks or the bearer token.
- L7: an upstream that is not configured is a "not available" page, not a server error.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from idp.models import SecondFactor
from idp.models import User
from idp.sms import list_outbox
from idp.twofactor.passkeys import start_registration
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.softauthn import SoftAuthenticator
from tests.test_two_factor import after_password
from tests.test_two_factor import enroll_by_sms
from tests.test_two_factor import new_phone

# --------------------------------------------------------------------------------------------
# 1. Factor-adding routes refuse a sign-in whose second factor is not done
# --------------------------------------------------------------------------------------------

#: Every route that stores a factor or finishes an enrollment (second_factor.py,
#: passkey_views.py). The app enrollment and the SMS enrollment add the first factor; the
#: recovery-code confirmation completes an enrollment; the passkey route adds a further one.
FACTOR_ROUTES = (
    "/login/2fa/enroll/sms",
    "/login/2fa/enroll/app",
    "/login/2fa/recovery-code",
    "/login/2fa/passkey/add",
)
#: Before the first factor of an enrollment is verified, these must refuse too (the two
#: enrollment routes are how that first factor is added, so they are open then).
ENROLLING_ROUTES = ("/login/2fa/recovery-code", "/login/2fa/passkey/add")


def _tx(url: str) -> str:
    return re.search(r"tx=([\w-]+)", url).group(1)  # type: ignore[union-attr]


def _factors(provider: Any, user_id: str) -> tuple[list[tuple[str, str]], Any]:
    with provider.app.app_context():
        db = provider.db()
        rows = db.session.query(SecondFactor).filter_by(user_id=user_id).all()
        enrolled_at = db.session.get(User, user_id).two_factor_enrolled_at
        return sorted((r.kind, r.id) for r in rows), enrolled_at


def _sms_to(provider: Any, e164: str) -> list[dict[str, Any]]:
    outbox = Path(provider.app.extensions["idp.settings"].instance_dir)
    return [m for m in list_outbox(outbox) if m["to"] == e164]


def _attack_fields(provider: Any, route: str, tx: str, user_id: str, email: str) -> dict[str, str]:
    """What a thief with the password would post to add their own factor, as if the form
    had been shown: their phone, a code, "saved", a real passkey answering real options."""
    if route != "/login/2fa/passkey/add":
        return {"phone": THIEF_PHONE[0], "code": "123456", "saved": "yes"}
    # The registration state the GET would have kept had it not been refused, so that the
    # POST's own guard is what refuses (not a missing ceremony).
    host = urlsplit(provider.url).hostname
    options, state = start_registration(
        rp_id=str(host),
        rp_name="WORKSDRIVE",
        user_id=user_id,
        user_name=email,
        user_display_name=email,
        existing=[],
    )
    provider.app.extensions["idp.store"].set_json(f"webauthn:{tx}", state, 300)
    credential = SoftAuthenticator(provider.url).create(options)
    return {"credential": json.dumps(credential), "name": "thief's key"}


THIEF_PHONE = new_phone()


def _assert_sent_back(browser: Browser, response: Any, due: str, route: str) -> None:
    """Refused = a redirect into the second-factor step that lands on the page that is due,
    never the route's own page, a page past the second factor or the relying party."""
    assert response.status_code == 303, (route, response.status_code, response.text[:300])
    location = response.headers["Location"]
    assert urlsplit(location).path in ("/login/2fa", due), (route, location)
    assert browser.get(location).url.startswith(f"{browser.provider_url}{due}?")


@pytest.mark.covers("L4", "L5", "L6", "X1", "O2")
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route", FACTOR_ROUTES)
def test_L6_X1_enrolled_user_cannot_add_a_factor_before_the_second_factor(
    provider, rp, route, method
):
    """An enrolled user's password alone (the challenge is due) adds no factor anywhere."""
    contract = provider.new_contract(two_factor=True)
    user_id, email = provider.new_user(contract)
    browser = Browser(provider.url)
    enroll_by_sms(provider, browser, after_password(browser, rp, email))
    before = _factors(provider, user_id)

    thief = Browser(provider.url)
    challenge = after_password(thief, rp, email)
    assert "/login/2fa/sms" in challenge.url
    tx = _tx(challenge.url)
    url = f"{provider.url}{route}?tx={tx}"
    if method == "GET":
        response = thief.session.get(url, allow_redirects=False, timeout=10)
    else:
        token = forms_in(challenge.text)[0].fields["csrf_token"]
        data = {
            "csrf_token": token,
            "tx": tx,
            **_attack_fields(provider, route, tx, user_id, email),
        }
        response = thief.session.post(url, data=data, allow_redirects=False, timeout=10)
    _assert_sent_back(thief, response, "/login/2fa/sms", route)
    assert _factors(provider, user_id) == before
    assert _sms_to(provider, THIEF_PHONE[1]) == []


@pytest.mark.covers("L4", "L6", "X1", "O2")
@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route", ENROLLING_ROUTES)
@pytest.mark.parametrize("stage", ["phone_asked", "code_sent"])
def test_L4_X1_enrollment_adds_nothing_before_its_first_factor_is_verified(
    provider, rp, stage, route, method
):
    """During the first enrollment, the recovery code and a passkey come only after the
    SMS or app code was verified in this sign-in."""
    contract = provider.new_contract(two_factor=True)
    user_id, email = provider.new_user(contract)
    browser = Browser(provider.url)
    page = after_password(browser, rp, email)
    assert "/login/2fa/enroll/sms" in page.url
    if stage == "code_sent":
        page = browser.submit(page, "phone-form", phone=new_phone()[0])
        assert "/login/2fa/sms" in page.url
    tx = _tx(page.url)
    url = f"{provider.url}{route}?tx={tx}"
    if method == "GET":
        response = browser.session.get(url, allow_redirects=False, timeout=10)
    else:
        token = forms_in(page.text)[0].fields["csrf_token"]
        data = {
            "csrf_token": token,
            "tx": tx,
            **_attack_fields(provider, route, tx, user_id, email),
        }
        response = browser.session.post(url, data=data, allow_redirects=False, timeout=10)
    # Back to the enrollment (the SMS code form stays usable from its page).
    _assert_sent_back(browser, response, "/login/2fa/enroll/sms", route)
    assert _factors(provider, user_id) == ([], None)
