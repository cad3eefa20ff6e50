"""L3, L4, L5, L6, T2, X2: two-step verification through HTTP as a browser and an RP see it."""

from __future__ import annotations

import re
import secrets
import threading
import time
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
import time_machine

from idp.actor import Actor
from idp.contracts.contract import set_two_factor
from idp.models import User
from idp.sms import list_outbox
from idp.twofactor.phone import normalise_phone
from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.helpers import redirect_params


def new_phone() -> tuple[str, str]:
    """A unique Japanese mobile number (as typed, and in E.164): the send limits are per
    number, so tests must not share one."""
    digits = f"{1 + secrets.randbelow(9)}{secrets.randbelow(10**7):07d}"
    assert normalise_phone(f"090{digits}") == f"+8190{digits}"
    return f"090-{digits[:4]}-{digits[4:]}", f"+8190{digits}"


def two_factor_user(provider, **values):
    contract = provider.new_contract(two_factor=True)
    return provider.new_user(contract, **values)


def after_password(browser, rp, email, password=PASSWORD, **params):
    page = browser.get(rp.authorize_url(**params))
    return browser.submit(page, "password-form", email=email, password=password)


def last_sms_code(provider, to):
    for message in list_outbox(Path(provider.app.extensions["idp.settings"].instance_dir)):
        if message["to"] == to:
            return re.search(r"\b(\d{6})\b", message["text"]).group(1)
    raise AssertionError(f"no SMS to {to}")


def send_sms(browser, page):
    return browser.submit(page, "send-form", action="send")


def enroll_by_sms(provider, browser, page, remember=False):
    """L4: phone → code → (remember) → recovery code → I saved it → back to the RP."""
    phone, to = new_phone()
    assert 'id="phone-form"' in page.text, page.text[:400]
    page = browser.submit(page, "phone-form", phone=phone)
    assert 'id="code-form"' in page.text, page.text[:400]
    extra = {"remember": "yes"} if remember else {}
    page = browser.submit(page, "code-form", code=last_sms_code(provider, to), **extra)
    code = re.search(r'id="recovery-code">([^<]+)<', page.text).group(1)
    return browser.submit(page, "saved-form", saved="yes"), code


def test_L3_contract_without_2fa_never_asks(provider, rp, user):
    _user_id, email = user
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    assert rp.id_token_claims(tokens["id_token"])["amr"] == ["pwd"]


def test_L4_sms_enrollment_first_then_recovery_code_then_service(provider, rp):
    user_id, email = two_factor_user(provider)
    browser = Browser(provider.url)
    page = after_password(browser, rp, email)
    assert "/login/2fa/enroll/sms" in page.url
    assert 'id="sms-help"' in page.text and 'id="use-app"' in page.text
    bad = browser.submit(page, "phone-form", phone="12")
    assert bad.status_code == 400 and 'id="error"' in bad.text
    phone, e164 = new_phone()
    page = browser.submit(page, "phone-form", phone=phone)
    assert "•" in page.text and e164[-4:] in page.text
    right = last_sms_code(provider, e164)
    wrong = browser.submit(page, "code-form", code="000000" if right != "000000" else "111111")
    assert wrong.status_code == 400 and 'id="error"' in wrong.text
    shown = browser.submit(page, "code-form", code=right)
    recovery = re.search(r'id="recovery-code">([^<]+)<', shown.text).group(1)
    assert re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){3}", recovery)
    unticked = browser.submit(shown, "saved-form")
    assert unticked.status_code == 400 and recovery in unticked.text
    done = browser.submit(shown, "saved-form", saved="yes")
    callback = redirect_params(done)
    tokens = rp.exchange(callback["code"])
    claims = rp.id_token_claims(tokens["id_token"])
    assert claims["amr"] == ["pwd", "sms", "mfa"]
    assert claims["acr"] == "urn:worksdrive:acr:2fa"
    with provider.app.app_context():
        assert provider.db().session.get(User, user_id).two_factor_enrolled_at is not None


def test_L5_authenticator_app_enrollment_and_L6_replay_refused(provider, rp):
    _user_id, email = two_factor_user(provider)
    browser = Browser(provider.url)
    page = after_password(browser, rp, email)
    page = browser.get(forms_in(page.text) and page.url.replace("/enroll/sms", "/enroll/app"))
    assert 'id="qr"' in page.text and 'src="data:image/svg+xml' in page.text
    uri = re.search(r'id="otpauth-uri">([^<]+)<', page.text).group(1).replace("&amp;", "&")
    assert uri.startswith("otpauth://totp/WORKSDRIVE:") and "issuer=WORKSDRIVE" in uri
    secret = re.search(r'id="secret">([^<]+)<', page.text).group(1)
    totp = pyotp.TOTP(secret)
    enrollment_code = totp.now()
    shown = browser.submit(page, "code-form", code=enrollment_code)
    done = browser.submit(shown, "saved-form", saved="yes")
    claims = rp.id_token_claims(rp.exchange(redirect_params(done)["code"])["id_token"])
    assert claims["amr"] == ["pwd", "otp", "mfa"]

    # L6: the next login asks for the app; a code is accepted once only — the enrollment's
    # code too (still within the ±1 step window, whichever step it is now).
    fresh = Browser(provider.url)
    page = after_password(fresh, rp, email)
    assert "/login/2fa/app" in page.url and 'id="lost-device"' in page.text
    reused = fresh.submit(page, "code-form", code=enrollment_code)
    assert reused.status_code == 400 and 'id="error"' in reused.text
    code = totp.at(time.time() + 30)  # the next step, within the ±1 window
    ok = fresh.submit(page, "code-form", code=code)
    assert "code" in redirect_params(ok)
    again = Browser(provider.url)
    page = after_password(again, rp, email)
    replay = again.submit(page, "code-form", code=code)
    assert replay.status_code == 400 and 'id="error"' in replay.text


def test_L6_recovery_code_as_copied_then_replaced(provider, rp):
    _user_id, email = two_factor_user(provider)
    browser = Browser(provider.url)
    _done, recovery = enroll_by_sms(provider, browser, after_password(browser, rp, email))
    lost = Browser(provider.url)
    page = after_password(lost, rp, email)
    page = lost.get(page.url.replace("/login/2fa/sms", "/login/2fa/recovery"))
    copied = " " + recovery.lower().replace("-", " ") + " "
    shown = lost.submit(page, "code-form", code=copied)
    new_code = re.search(r'id="recovery-code">([^<]+)<', shown.text).group(1)
    assert new_code != recovery
    done = lost.submit(shown, "saved-form", saved="yes")
    assert "code" in redirect_params(done)
    # The old code never works again.
    third = Browser(provider.url)
    page = after_password(third, rp, email)
    page = third.get(page.url.replace("/login/2fa/sms", "/login/2fa/recovery"))
    refused = third.submit(page, "code-form", code=recovery)
    assert refused.status_code == 400
    accepted = third.submit(page, "code-form", code=new_code.replace("-", ""))
    assert 'id="recovery-code"' in accepted.text


def test_L4_sixth_wrong_sms_code_is_refused_even_when_right(provider, rp):
    _user_id, email = two_factor_user(provider)
    browser = Browser(provider.url)
    phone, e164 = new_phone()
    page = browser.submit(after_password(browser, rp, email), "phone-form", phone=phone)
    right = last_sms_code(provider, e164)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(5):
        assert browser.submit(page, "code-form", code=wrong).status_code == 400
    sixth = browser.submit(page, "code-form", code=right)
    assert sixth.status_code == 400 and 'id="recovery-code"' not in sixth.text


def test_L4_twenty_parallel_wrong_codes_cannot_pass_the_attempt_limit(provider, rp):
    _user_id, email = two_factor_user(provider)
    browser = Browser(provider.url)
    phone, e164 = new_phone()
    page = browser.submit(after_password(browser, rp, email), "phone-form", phone=phone)
    right = last_sms_code(provider, e164)
    form = forms_in(page.text)
    data = {**next(f for f in form if f.id == "code-form").fields}
    barrier = threading.Barrier(20)
    results = []
    guesses = [f"{i:06d}" for i in range(20) if f"{i:06d}" != right][:19] + [right]

    def guess(code):
        session = Browser(provider.url)
        session.session.cookies.update(browser.session.cookies)
        barrier.wait()
        response = session.post("/login/2fa/sms", {**data, "code": code})
        assert response.status_code != 200 or 'id="recovery-code"' in response.text
        results.append(response.status_code)

    threads = [threading.Thread(target=guess, args=(g,)) for g in guesses]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    # At most 5 attempts are checked; even the right guess among the 20 may only win if it was
    # one of the first five counted.
    assert len(results) == 20
    # 200 is a success (the recovery-code page, after the redirect); all else is refused.
    assert results.count(200) <= 1
    assert set(results) <= {200, 400, 429}, sorted(set(results))
    # Whatever the order, the right code can no longer be used afterwards.
    assert browser.submit(page, "code-form", code=right).status_code in (400, 429)


def test_L4_sms_sends_are_limited_per_hour(provider, rp):
    _user_id, email = two_factor_user(provider)
    browser = Browser(provider.url)
    page = browser.submit(after_password(browser, rp, email), "phone-form", phone=new_phone()[0])
    statuses = [send_sms(browser, page).status_code for _ in range(5)]
    assert statuses[:4] == [200] * 4
    assert statuses[4] == 429  # the 6th send this hour for this user


def test_L3_X2_remembered_browser_skips_2fa_for_its_user_only(provider, rp):
    contract = provider.new_contract(two_factor=True)
    _a, email_a = provider.new_user(contract)
    _b, email_b = provider.new_user(contract)
    browser = Browser(provider.url)
    enroll_by_sms(provider, browser, after_password(browser, rp, email_a), remember=True)
    other = Browser(provider.url)
    enroll_by_sms(provider, other, after_password(other, rp, email_b))

    # Same browser, same user, new sign-in: no second factor; amr says password only.
    done = after_password(browser, rp, email_a, prompt="login")
    claims = rp.id_token_claims(rp.exchange(redirect_params(done)["code"])["id_token"])
    assert claims["amr"] == ["pwd"]

    # The cookie copied to a browser of another user does not skip their 2FA.
    thief = Browser(provider.url)
    thief.session.cookies.set("idp_rb", browser.session.cookies.get("idp_rb"))
    page = after_password(thief, rp, email_b)
    assert "/login/2fa/" in page.url

    # A forged cookie does not either.
    forged = Browser(provider.url)
    forged.session.cookies.set("idp_rb", "W10.forged-signature")
    assert "/login/2fa/" in after_password(forged, rp, email_a).url


def test_L3_remembered_browser_expires_30_days_after_last_use(provider, rp):
    _user_id, email = two_factor_user(provider)
    browser = Browser(provider.url)
    enroll_by_sms(provider, browser, after_password(browser, rp, email), remember=True)
    with time_machine.travel(timedelta(days=29), tick=True):
        assert "code=" in after_password(browser, rp, email, prompt="login").headers.get(
            "Location", ""
        )
    with time_machine.travel(timedelta(days=29 + 29), tick=True):
        # Used on day 29: still remembered on day 58.
        assert "code=" in after_password(browser, rp, email, prompt="login").headers.get(
            "Location", ""
        )
    # Not exactly 31 days after the last step: Flask's session cookie also lives 31 days, and
    # one that expires between the page and its POST would fail CSRF instead.
    with time_machine.travel(timedelta(days=29 + 29 + 35), tick=True):
        page = after_password(browser, rp, email, prompt="login")
        assert "/login/2fa/" in page.url, page.text[-600:]


def test_L3_T1_turning_2fa_on_again_forgets_remembered_browsers(provider, rp):
    contract = provider.new_contract(two_factor=True)
    _user_id, email = provider.new_user(contract)
    browser = Browser(provider.url)
    enroll_by_sms(provider, browser, after_password(browser, rp, email), remember=True)
    with provider.app.app_context():
        set_two_factor(Actor.cli(), contract, False)
    assert "code=" in after_password(browser, rp, email, prompt="login").headers["Location"]
    # 2FA on again, later than the browser was remembered (a clock step, not a sleep).
    with time_machine.travel(timedelta(seconds=5), tick=True):
        with provider.app.app_context():
            set_two_factor(Actor.cli(), contract, True)
        assert "/login/2fa/" in after_password(browser, rp, email, prompt="login").url


def test_T2_K3_password_reset_clears_2fa_and_remembered_browsers(provider, rp, mailbox):
    _user_id, email = two_factor_user(provider)
    browser = Browser(provider.url)
    enroll_by_sms(provider, browser, after_password(browser, rp, email), remember=True)
    forgot = browser.get("/password/forgot")
    browser.submit(forgot, email=email)
    mail = mailbox.wait_for(to=email, subject_contains="パスワードリセット")
    link = [u for u in mailbox.links_in(mail) if "/links/" in u][0]
    browser.submit(
        browser.get(link), password="After-Reset-2026", password_confirmation="After-Reset-2026"
    )
    page = after_password(browser, rp, email, password="After-Reset-2026", prompt="login")
    assert "/login/2fa/enroll/sms" in page.url


def test_O2_second_factor_cannot_be_skipped(provider, rp):
    _user_id, email = two_factor_user(provider)
    browser = Browser(provider.url)
    page = after_password(browser, rp, email)
    tx = re.search(r"tx=([\w-]+)", page.url).group(1)
    for path in (
        "/login/finish",
        "/login/consent",
        "/login/2fa/recovery-code",
        "/login/2fa/passkey/add",
        "/login/2fa/app",
    ):
        response = browser.session.get(
            f"{provider.url}{path}?tx={tx}", allow_redirects=False, timeout=10
        )
        assert response.status_code in (200, 303)
        if response.status_code == 303:
            assert "/login/2fa" in response.headers["Location"], path
        assert "code=" not in response.headers.get("Location", "")


def test_O1_acr_values_asks_for_two_factor_even_when_the_contract_does_not(provider, rp, user):
    _user_id, email = user
    browser = Browser(provider.url)
    page = after_password(browser, rp, email, acr_values="urn:worksdrive:acr:2fa")
    assert "/login/2fa/enroll/sms" in page.url
    done, _code = enroll_by_sms(provider, browser, page)
    claims = rp.id_token_claims(rp.exchange(redirect_params(done)["code"])["id_token"])
    assert claims["acr"] == "urn:worksdrive:acr:2fa"
    # A one-factor session does not answer a later two-factor request silently.
    plain = Browser(provider.url)
    rp.login_tokens(plain, provider.new_user()[1], PASSWORD)
    silent = plain.session.get(
        rp.authorize_url(prompt="none", acr_values="urn:worksdrive:acr:2fa"),
        allow_redirects=False,
        timeout=10,
    )
    assert "error=login_required" in silent.headers["Location"]


@pytest.mark.parametrize(
    ("failure", "status"),
    # The gateway's failure is no fault of the client's (503); a number the gateway refuses is
    # the person's to fix (400: nothing the client caused is a 5xx).
    [("server_error", 503), ("stopped", 503), ("invalid_number", 400)],
)
def test_L4_sms_gateway_down_gives_a_clear_message_and_the_app_still_works(
    services, tmp_path, failure, status
):
    from werkzeug.serving import make_server

    from tests.conftest import build_provider
    from tests.helpers import RelyingParty
    from tests.sms_standins import TwilioStandIn

    standin = TwilioStandIn()
    sms = {
        "provider": "twilio",
        "twilio_account_sid": standin.account_sid,
        "twilio_auth_token": standin.auth_token,
        "twilio_from": "+15005550006",
        "twilio_base_url": standin.url,
        "timeout": "2",
    }
    node = build_provider("sqlite+sqlstore", tmp_path, services, sms=sms)
    server = make_server("127.0.0.1", node.app.config["TEST_PORT"], node.app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        rp: RelyingParty = node.new_client()
        contract = node.new_contract(two_factor=True)
        _user_id, email = node.new_user(contract)
        browser = Browser(node.url)
        page = after_password(browser, rp, email)
        if failure == "stopped":
            standin.stop()
        else:
            standin.failure = failure
        down = browser.submit(page, "phone-form", phone=new_phone()[0])
        assert down.status_code == status and 'id="error"' in down.text
        assert 'id="use-app"' in down.text
        # The transaction survives: the app enrollment completes the sign-in.
        tx = re.search(r"tx=([\w-]+)", page.url).group(1)
        app_page = browser.get(f"/login/2fa/enroll/app?tx={tx}")
        secret = re.search(r'id="secret">([^<]+)<', app_page.text).group(1)
        shown = browser.submit(app_page, "code-form", code=pyotp.TOTP(secret).now())
        done = browser.submit(shown, "saved-form", saved="yes")
        assert "code" in redirect_params(done)
        if failure != "stopped":
            standin.failure = None
    finally:
        server.shutdown()
        standin.stop()
        node.close()


def _options(page):
    import html

    raw = re.search(r'data-options="([^"]+)"', page.text).group(1)
    return html.unescape(raw)


def test_X1_passkey_added_at_enrollment_then_used_to_sign_in(provider, rp):
    import json

    from tests.softauthn import SoftAuthenticator

    _user_id, email = two_factor_user(provider)
    authenticator = SoftAuthenticator(provider.url)
    browser = Browser(provider.url)
    page = after_password(browser, rp, email)
    phone, e164 = new_phone()
    page = browser.submit(page, "phone-form", phone=phone)
    shown = browser.submit(page, "code-form", code=last_sms_code(provider, e164))
    # The link is offered only on a domain issuer (browsers refuse IP RP IDs; the browser
    # suite runs one on localhost); the software authenticator accepts this one.
    assert 'id="add-passkey"' not in shown.text
    tx = re.search(r"tx=([\w-]+)", shown.url).group(1)
    add = browser.get(f"/login/2fa/passkey/add?tx={tx}")
    assert "/static/js/webauthn.js" in add.text
    created = authenticator.create(_options(add))
    back = browser.submit(add, "webauthn-form", credential=json.dumps(created), name="Blue key")
    assert 'id="recovery-code"' in back.text
    assert "code" in redirect_params(browser.submit(back, "saved-form", saved="yes"))

    fresh = Browser(provider.url)
    page = after_password(fresh, rp, email)
    assert 'id="use-passkey"' in page.text
    challenge = fresh.get(page.url.replace("/login/2fa/sms", "/login/2fa/passkey"))
    asserted = authenticator.get(_options(challenge))
    done = fresh.submit(challenge, "webauthn-form", credential=json.dumps(asserted))
    claims = rp.id_token_claims(rp.exchange(redirect_params(done)["code"])["id_token"])
    assert claims["amr"] == ["pwd", "hwk", "mfa"]

    # A clone (a copy of the key whose counter is behind) is refused.
    again = Browser(provider.url)
    page = again.get(
        after_password(again, rp, email).url.replace("/login/2fa/sms", "/login/2fa/passkey")
    )
    cloned = authenticator.get(_options(page), sign_count=1)
    refused = again.submit(page, "webauthn-form", credential=json.dumps(cloned))
    assert refused.status_code == 400 and 'id="error"' in refused.text
    # A replayed assertion (old challenge) is refused too.
    page = again.get(page.url)
    replay = again.submit(page, "webauthn-form", credential=json.dumps(asserted))
    assert replay.status_code == 400


def test_O1_essential_acr_in_the_claims_parameter_asks_for_two_factor(provider, rp, user):
    _user_id, email = user
    claims = '{"id_token": {"acr": {"essential": true, "values": ["urn:worksdrive:acr:2fa"]}}}'
    browser = Browser(provider.url)
    page = after_password(browser, rp, email, claims=claims)
    assert "/login/2fa/enroll/sms" in page.url
    done, _code = enroll_by_sms(provider, browser, page)
    tokens = rp.exchange(redirect_params(done)["code"])
    assert rp.id_token_claims(tokens["id_token"])["acr"] == "urn:worksdrive:acr:2fa"
