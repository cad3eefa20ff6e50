"""X1: the WebAuthn registration and authentication ceremonies, against a software authenticator.

No app and no database: ``idp.twofactor.passkeys`` is pure, and ``tests.softauthn`` plays
the browser and the authenticator, honest or not. The ``browser`` tests at the end run
``static/js/webauthn.js`` in Chromium against a CDP virtual authenticator, with and without
the browser's own JSON helpers, and verify what the page posts.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import asdict
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from webauthn.helpers import base64url_to_bytes
from webauthn.helpers import bytes_to_base64url
from werkzeug.serving import make_server
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

from idp.twofactor.passkeys import CHALLENGE_BYTES
from idp.twofactor.passkeys import TIMEOUT_MS
from idp.twofactor.passkeys import PasskeyError
from idp.twofactor.passkeys import StoredCredential
from idp.twofactor.passkeys import finish_authentication
from idp.twofactor.passkeys import finish_registration
from idp.twofactor.passkeys import is_sign_count_valid
from idp.twofactor.passkeys import start_authentication
from idp.twofactor.passkeys import start_registration
from tests.softauthn import InvalidStateError
from tests.softauthn import NotAllowedError
from tests.softauthn import SoftAuthenticator

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse
    from _typeshed.wsgi import WSGIEnvironment

pytestmark = pytest.mark.covers("X1")

ORIGIN = "https://idp.example"
RP_ID = "idp.example"
NOW = 1_760_000_000.0


def begin_registration(
    existing: list[StoredCredential] | None = None,
) -> tuple[str, dict[str, Any]]:
    return start_registration(
        rp_id=RP_ID,
        rp_name="WORKSDRIVE",
        user_id="u-4f2a9c",
        user_name="ada@example.com",
        user_display_name="Ada Lovelace",
        existing=existing or [],
    )


def complete_registration(state: dict[str, Any], response: dict[str, Any]) -> StoredCredential:
    return finish_registration(
        state=state,
        credential_json=json.dumps(response),
        expected_origin=ORIGIN,
        rp_id=RP_ID,
        name="Blue key",
        now=NOW,
    )


def register(authenticator: SoftAuthenticator, **misbehaviour: Any) -> StoredCredential:
    options, state = begin_registration()
    return complete_registration(state, authenticator.create(options, **misbehaviour))


def complete_authentication(
    state: dict[str, Any], response: dict[str, Any], credentials: list[StoredCredential]
) -> tuple[str, int]:
    return finish_authentication(
        state=state,
        credential_json=json.dumps(response),
        credentials=credentials,
        expected_origin=ORIGIN,
        rp_id=RP_ID,
    )


def authenticate(
    authenticator: SoftAuthenticator, credentials: list[StoredCredential], **misbehaviour: Any
) -> tuple[str, int]:
    options, state = start_authentication(rp_id=RP_ID, credentials=credentials)
    return complete_authentication(state, authenticator.get(options, **misbehaviour), credentials)


def test_X1_register_and_authenticate() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    credential = register(authenticator)

    assert credential.sign_count == 1
    assert credential.transports == ["usb"]
    assert credential.aaguid == "50c0f7a5-e1b1-4f0c-9a4e-7c1b2d3e4f50"
    assert (credential.backed_up, credential.created_at, credential.name) == (
        False,
        NOW,
        "Blue key",
    )
    assert authenticate(authenticator, [credential]) == (credential.credential_id, 2)
    credential = replace(credential, sign_count=2)
    assert authenticate(authenticator, [credential]) == (credential.credential_id, 3)


def test_X1_stored_credential_survives_json() -> None:
    """The caller keeps ``asdict`` as JSON and rebuilds the credential from it."""
    authenticator = SoftAuthenticator(ORIGIN, backup_eligible=True, backed_up=True)
    credential = register(authenticator)
    restored = StoredCredential(**json.loads(json.dumps(asdict(credential))))

    assert restored == credential
    assert restored.backed_up is True
    assert authenticate(authenticator, [restored]) == (credential.credential_id, 2)


def test_X1_registration_options() -> None:
    options_json, state = begin_registration()
    options = json.loads(options_json)

    assert len(base64url_to_bytes(options["challenge"])) == CHALLENGE_BYTES
    assert options["challenge"] == state["challenge"]
    assert options["rp"] == {"id": RP_ID, "name": "WORKSDRIVE"}
    assert options["user"] == {
        "id": bytes_to_base64url(b"u-4f2a9c"),
        "name": "ada@example.com",
        "displayName": "Ada Lovelace",
    }
    assert [param["alg"] for param in options["pubKeyCredParams"]] == [-7, -8, -257]
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["requireResidentKey"] is False
    assert options["attestation"] == "none"
    assert options["timeout"] == TIMEOUT_MS
    assert options["excludeCredentials"] == []
    assert json.loads(json.dumps(state)) == state


def test_X1_authentication_options() -> None:
    credential = register(SoftAuthenticator(ORIGIN, transports=("usb", "nfc", "future-link")))
    options_json, state = start_authentication(rp_id=RP_ID, credentials=[credential])
    options = json.loads(options_json)

    assert len(base64url_to_bytes(options["challenge"])) == CHALLENGE_BYTES
    assert options["rpId"] == RP_ID
    assert options["userVerification"] == "preferred"
    assert options["timeout"] == TIMEOUT_MS
    # A transport this package does not know is left out of the hint, not an error.
    assert options["allowCredentials"] == [
        {"id": credential.credential_id, "type": "public-key", "transports": ["usb", "nfc"]}
    ]
    assert json.loads(json.dumps(state)) == state


def test_X1_challenges_are_fresh() -> None:
    challenges = {begin_registration()[1]["challenge"] for _ in range(20)}
    challenges |= {start_authentication(rp_id=RP_ID, credentials=[])[1]["challenge"]}
    assert len(challenges) == 21


def test_X1_exclusion_list_contains_existing_credentials() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    first = register(authenticator)
    second = register(SoftAuthenticator(ORIGIN, transports=("internal", "hybrid")))

    options_json, state = begin_registration([first, second])
    options = json.loads(options_json)
    assert options["excludeCredentials"] == [
        {"id": first.credential_id, "type": "public-key", "transports": ["usb"]},
        {"id": second.credential_id, "type": "public-key", "transports": ["internal", "hybrid"]},
    ]
    with pytest.raises(InvalidStateError):
        authenticator.create(options_json)
    # A client that ignores excludeCredentials and hands back a registered id is refused.
    reused = authenticator.create(
        options_json, credential_id=base64url_to_bytes(first.credential_id)
    )
    with pytest.raises(PasskeyError) as refused:
        complete_registration(state, reused)
    assert refused.value.reason == "already_registered"
    # Another authenticator may still be added.
    assert register(SoftAuthenticator(ORIGIN)).credential_id not in {
        first.credential_id,
        second.credential_id,
    }


@pytest.mark.parametrize(
    ("misbehaviour", "reason"),
    [
        ({"origin": "https://idp.example.evil"}, "origin_mismatch"),
        ({"origin": "http://idp.example"}, "origin_mismatch"),
        ({"rp_id": "evil.example"}, "rp_id_mismatch"),
        ({"challenge": bytes_to_base64url(b"\0" * CHALLENGE_BYTES)}, "challenge_mismatch"),
        ({"user_present": False}, "user_not_present"),
    ],
)
def test_X1_registration_refused(misbehaviour: dict[str, Any], reason: str) -> None:
    with pytest.raises(PasskeyError) as refused:
        register(SoftAuthenticator(ORIGIN), **misbehaviour)
    assert refused.value.reason == reason


@pytest.mark.parametrize(
    ("misbehaviour", "reason"),
    [
        ({"origin": "https://idp.example.evil"}, "origin_mismatch"),
        ({"rp_id": "evil.example"}, "rp_id_mismatch"),
        ({"challenge": bytes_to_base64url(b"\0" * CHALLENGE_BYTES)}, "challenge_mismatch"),
        ({"user_present": False}, "user_not_present"),
        ({"forge": True}, "bad_signature"),
        ({"sign_count": 5}, "cloned_authenticator"),  # replay: the count has not moved
        ({"sign_count": 4}, "cloned_authenticator"),  # a clone lagging behind
        ({"sign_count": 0}, "cloned_authenticator"),  # a count reset to 0
        ({"sign_count": 4, "forge": True}, "bad_signature"),  # an unsigned count proves nothing
    ],
)
def test_X1_authentication_refused(misbehaviour: dict[str, Any], reason: str) -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    credential = replace(register(authenticator), sign_count=5)
    authenticator.credentials[base64url_to_bytes(credential.credential_id)].sign_count = 5

    with pytest.raises(PasskeyError) as refused:
        authenticate(authenticator, [credential], **misbehaviour)
    assert refused.value.reason == reason


def test_X1_user_verification_is_preferred_not_required() -> None:
    authenticator = SoftAuthenticator(ORIGIN, user_verifying=False)
    credential = register(authenticator)
    assert authenticate(authenticator, [credential])[1] == 2


def test_X1_framed_page_refused() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    credential = register(authenticator)
    authenticator.cross_origin = True

    with pytest.raises(PasskeyError) as refused:
        authenticate(authenticator, [credential])
    assert refused.value.reason == "origin_mismatch"
    with pytest.raises(PasskeyError) as refused:
        register(authenticator)
    assert refused.value.reason == "origin_mismatch"


def test_X1_unknown_credential() -> None:
    ours = SoftAuthenticator(ORIGIN)
    theirs = SoftAuthenticator(ORIGIN)
    credential = register(ours)
    other = register(theirs)

    # Offered but no longer stored: removed between start and finish.
    options, state = start_authentication(rp_id=RP_ID, credentials=[credential, other])
    with pytest.raises(PasskeyError) as refused:
        complete_authentication(state, theirs.get(options), [credential])
    assert refused.value.reason == "unknown_credential"
    # Stored but not offered in allowCredentials: answered by someone else's authenticator.
    options, state = start_authentication(rp_id=RP_ID, credentials=[credential])
    response = theirs.get(json.loads(options) | {"allowCredentials": []})
    with pytest.raises(PasskeyError) as refused:
        complete_authentication(state, response, [credential, other])
    assert refused.value.reason == "unknown_credential"
    # And the authenticator itself holds nothing allowed.
    with pytest.raises(NotAllowedError):
        theirs.get(options)


def test_X1_replayed_assertion_refused() -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    credential = register(authenticator)
    options, state = start_authentication(rp_id=RP_ID, credentials=[credential])
    response = authenticator.get(options)
    credential_id, count = complete_authentication(state, response, [credential])
    credential = replace(credential, sign_count=count)

    # Against a new challenge: the old response signed the old one.
    _, new_state = start_authentication(rp_id=RP_ID, credentials=[credential])
    with pytest.raises(PasskeyError) as refused:
        complete_authentication(new_state, response, [credential])
    assert refused.value.reason == "challenge_mismatch"
    # Against the old state, had the caller failed to delete it: the count has not moved.
    with pytest.raises(PasskeyError) as refused:
        complete_authentication(state, response, [credential])
    assert refused.value.reason == "cloned_authenticator"


def test_X1_counters_of_zero_accepted() -> None:
    """Many passkeys never count (§6.1.1): 0 then 0 is fine, and so is a first count."""
    authenticator = SoftAuthenticator(ORIGIN, counts=False, backup_eligible=True, backed_up=True)
    credential = register(authenticator)
    assert credential.sign_count == 0

    assert authenticate(authenticator, [credential]) == (credential.credential_id, 0)
    assert authenticate(authenticator, [credential]) == (credential.credential_id, 0)
    assert authenticate(authenticator, [credential], sign_count=7)[1] == 7


@pytest.mark.parametrize(
    ("stored", "new", "is_valid"),
    [
        (0, 0, True),
        (0, 1, True),
        (1, 2, True),
        (41, 1000, True),
        (1, 1, False),
        (2, 1, False),
        (5, 0, False),
    ],
)
def test_X1_sign_count_rule(stored: int, new: int, is_valid: bool) -> None:
    assert is_sign_count_valid(stored, new) is is_valid


MALFORMED = [
    "",
    "not json",
    "null",
    "[]",
    '"credential"',
    "{}",
    '{"id": "AA", "rawId": "AA", "type": "public-key", "response": {}}',
    '{"id": "AA", "rawId": "AA", "type": "password", "response": {}}',
    "[" * 100_000,
]


@pytest.mark.parametrize("credential_json", MALFORMED)
def test_X1_malformed_json_refused(credential_json: str) -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    credential = register(authenticator)
    _, registration_state = begin_registration()
    _, authentication_state = start_authentication(rp_id=RP_ID, credentials=[credential])

    with pytest.raises(PasskeyError) as refused:
        finish_registration(
            state=registration_state,
            credential_json=credential_json,
            expected_origin=ORIGIN,
            rp_id=RP_ID,
            name="x",
            now=NOW,
        )
    assert refused.value.reason == "invalid_response"
    with pytest.raises(PasskeyError) as refused:
        finish_authentication(
            state=authentication_state,
            credential_json=credential_json,
            credentials=[credential],
            expected_origin=ORIGIN,
            rp_id=RP_ID,
        )
    assert refused.value.reason == "invalid_response"


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("clientDataJSON", bytes_to_base64url(b"{not json"), "invalid_response"),
        ("clientDataJSON", "!!not base64url!!", "invalid_response"),
        ("authenticatorData", bytes_to_base64url(b"short"), "invalid_response"),
        ("authenticatorData", "A", "invalid_response"),
        ("signature", "", "bad_signature"),
        ("signature", "AAAA", "bad_signature"),
    ],
)
def test_X1_malformed_assertion_refused(field: str, value: str, reason: str) -> None:
    authenticator = SoftAuthenticator(ORIGIN)
    credential = register(authenticator)
    options, state = start_authentication(rp_id=RP_ID, credentials=[credential])
    response = authenticator.get(options)
    response["response"][field] = value

    with pytest.raises(PasskeyError) as refused:
        complete_authentication(state, response, [credential])
    assert refused.value.reason == reason


def test_X1_wrong_ceremony_refused() -> None:
    """A create response is no answer to get, and one ceremony's state is not the other's."""
    authenticator = SoftAuthenticator(ORIGIN)
    credential = register(authenticator)
    registration_options, registration_state = begin_registration()
    options, state = start_authentication(rp_id=RP_ID, credentials=[credential])

    with pytest.raises(PasskeyError) as refused:
        complete_registration(registration_state, authenticator.get(options))
    assert refused.value.reason == "invalid_response"
    created = SoftAuthenticator(ORIGIN).create(registration_options)
    with pytest.raises(PasskeyError) as refused:
        complete_authentication(state, created, [credential])
    assert refused.value.reason == "invalid_response"
    with pytest.raises(PasskeyError) as refused:
        complete_authentication(registration_state, authenticator.get(options), [credential])
    assert refused.value.reason == "invalid_state"
    with pytest.raises(PasskeyError) as refused:
        complete_registration(state, SoftAuthenticator(ORIGIN).create(registration_options))
    assert refused.value.reason == "invalid_state"


@pytest.mark.parametrize(
    "state",
    [
        None,
        {},
        {"ceremony": "authentication"},
        {"ceremony": "authentication", "challenge": "AAAA", "allowed_credential_ids": []},
        {"ceremony": "authentication", "challenge": "=", "allowed_credential_ids": []},
        {"ceremony": "authentication", "challenge": "A" * 43, "allowed_credential_ids": "AA"},
        {"ceremony": "authentication", "challenge": "A" * 43, "allowed_credential_ids": [1]},
    ],
)
def test_X1_invalid_state_refused(state: Any) -> None:
    with pytest.raises(PasskeyError) as refused:
        finish_authentication(
            state=state,
            credential_json="{}",
            credentials=[],
            expected_origin=ORIGIN,
            rp_id=RP_ID,
        )
    assert refused.value.reason == "invalid_state"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(
    field=st.sampled_from(
        ["id", "rawId", "type", "clientDataJSON", "authenticatorData", "signature", "userHandle"]
    ),
    value=JSON_VALUES | st.binary().map(bytes_to_base64url),
)
def test_X1_only_passkey_errors_escape(field: str, value: Any) -> None:
    """Any one field of a good assertion replaced by anything: refused, as a PasskeyError."""
    authenticator = SoftAuthenticator(ORIGIN)
    credential = register(authenticator)
    options, state = start_authentication(rp_id=RP_ID, credentials=[credential])
    response = authenticator.get(options)
    fields = response if field in response else response["response"]
    if fields[field] == value:
        return
    fields[field] = value

    try:
        complete_authentication(state, response, [credential])
    except PasskeyError:
        return
    # Only the user handle is not signed, and §7.2 needs no check of it given allowCredentials.
    assert field == "userHandle"


# static/js/webauthn.js in Chromium, with a CDP virtual authenticator standing in for the key.

SCRIPT = Path(__file__).resolve().parents[1] / "static" / "js" / "webauthn.js"
PAGE_CSP = "default-src 'none'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>X1</title>
<script src="/static/js/webauthn.js" defer></script></head>
<body>
<form id="webauthn-form" method="post" action="/finish" data-mode="{mode}" data-options="{options}">
  <input type="hidden" name="credential">
  <button type="submit" id="webauthn-start">Use your security key</button>
</form>
<p id="webauthn-error" hidden role="alert" data-invalid-state="Already registered here."></p>
</body></html>"""
#: Deleted to run the manual fallbacks of webauthn.js, as in browsers before 2025.
WITHOUT_JSON_HELPERS = """
delete PublicKeyCredential.parseCreationOptionsFromJSON;
delete PublicKeyCredential.parseRequestOptionsFromJSON;
delete PublicKeyCredential.prototype.toJSON;
"""


class CeremonyPages:
    """Serves one WebAuthn page at a time and keeps what its form posts."""

    def __init__(self) -> None:
        self.mode = ""
        self.options = ""
        self.posted: list[str] = []

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        if request.path == "/static/js/webauthn.js":
            return Response(SCRIPT.read_bytes(), mimetype="text/javascript")
        if request.path == "/finish" and request.method == "POST":
            self.posted.append(request.form["credential"])
            return Response("posted", mimetype="text/plain")
        page = PAGE.format(mode=self.mode, options=html.escape(self.options, quote=True))
        return Response(page, mimetype="text/html", headers={"Content-Security-Policy": PAGE_CSP})


@pytest.fixture(scope="module")
def ceremony_site() -> Iterator[tuple[str, CeremonyPages]]:
    pages = CeremonyPages()
    server = make_server("127.0.0.1", 0, pages, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_port}", pages
    server.shutdown()
    thread.join(5)
    server.server_close()


@pytest.fixture(params=["native", "fallback"])
def webauthn_page(request: pytest.FixtureRequest, chromium: Any) -> Iterator[Any]:
    """A page whose browser has a virtual CTAP2 key with UV and resident keys (CDP WebAuthn)."""
    context = chromium.new_context()
    context.set_default_timeout(10_000)
    if request.param == "fallback":
        context.add_init_script(WITHOUT_JSON_HELPERS)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    yield page
    context.close()


def run_page(page: Any, site: tuple[str, CeremonyPages], mode: str, options: str) -> str | None:
    """Open the page, press the button, and return what the form posted (None: nothing)."""
    base_url, pages = site
    pages.mode, pages.options, pages.posted = mode, options, []
    page.goto(f"{base_url}/page")
    page.click("#webauthn-start")
    page.wait_for_function(
        "document.body.innerText === 'posted' || !document.getElementById('webauthn-error').hidden"
    )
    return pages.posted[0] if pages.posted else None


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_X1_browser_register_and_authenticate(
    request: pytest.FixtureRequest, webauthn_page: Any, ceremony_site: tuple[str, CeremonyPages]
) -> None:
    origin = ceremony_site[0]
    webauthn_page.goto(f"{origin}/page")
    helpers = webauthn_page.evaluate(
        "[typeof PublicKeyCredential.parseCreationOptionsFromJSON,"
        " typeof PublicKeyCredential.parseRequestOptionsFromJSON,"
        " typeof PublicKeyCredential.prototype.toJSON]"
    )
    is_native = request.node.callspec.params["webauthn_page"] == "native"
    assert helpers == ["function" if is_native else "undefined"] * 3

    options, state = start_registration(
        rp_id="localhost",
        rp_name="WORKSDRIVE",
        user_id="u-4f2a9c",
        user_name="ada@example.com",
        user_display_name="Ada Lovelace",
        existing=[],
    )
    posted = run_page(webauthn_page, ceremony_site, "register", options)
    assert posted is not None
    credential = finish_registration(
        state=state,
        credential_json=posted,
        expected_origin=origin,
        rp_id="localhost",
        name="Virtual key",
        now=NOW,
    )
    assert credential.transports == ["usb"]

    options, state = start_authentication(rp_id="localhost", credentials=[credential])
    posted = run_page(webauthn_page, ceremony_site, "authenticate", options)
    assert posted is not None
    credential_id, count = finish_authentication(
        state=state,
        credential_json=posted,
        credentials=[credential],
        expected_origin=origin,
        rp_id="localhost",
    )
    assert credential_id == credential.credential_id
    assert is_sign_count_valid(credential.sign_count, count)

    # Registering the same key again: the browser refuses, the page says so and stays.
    options, _ = start_registration(
        rp_id="localhost",
        rp_name="WORKSDRIVE",
        user_id="u-4f2a9c",
        user_name="ada@example.com",
        user_display_name="Ada Lovelace",
        existing=[credential],
    )
    assert run_page(webauthn_page, ceremony_site, "register", options) is None
    assert webauthn_page.inner_text("#webauthn-error") == "Already registered here."
    assert webauthn_page.is_enabled("#webauthn-start")


@pytest.mark.browser
@pytest.mark.xdist_group("browser")
def test_X1_browser_shows_error_and_allows_retry(
    webauthn_page: Any, ceremony_site: tuple[str, CeremonyPages]
) -> None:
    """A key that holds none of the allowed credentials: NotAllowedError, shown, retryable."""
    stranger = register(SoftAuthenticator(ORIGIN))  # not on the virtual key
    options, _ = start_authentication(rp_id="localhost", credentials=[stranger])

    assert run_page(webauthn_page, ceremony_site, "authenticate", options) is None
    assert "not used" in webauthn_page.inner_text("#webauthn-error")
    assert webauthn_page.is_enabled("#webauthn-start")
    assert webauthn_page.input_value('input[name="credential"]') == ""
