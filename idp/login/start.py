"""Start step: validate the client's authorization request (authlib), decide whether the
browser's session can answer it, else open a login transaction (OIDC Core §3.1.2)."""

from __future__ import annotations

import time

from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749 import OAuth2Error
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oidc.core.errors import ConsentRequiredError
from authlib.oidc.core.errors import LoginRequiredError
from flask import g
from flask import request
from flask import url_for
from joserfc import jwt
from joserfc.errors import JoseError
from werkzeug.wrappers import Response as BaseResponse

from idp import extensions
from idp.i18n import pick_locale
from idp.login.gate import check_policies
from idp.login.refusal import error_response
from idp.login.refusal import oauth_server
from idp.login.step_pages import render_consent
from idp.login.step_pages import render_identify
from idp.login.transaction import Transaction
from idp.login.transaction import bind_browser
from idp.login.transaction import browser_for_transaction
from idp.login.transaction import redirect_to_next_step
from idp.sso import Principal
from idp.sso import current_session
from idp.sso import touch_session
from idp.vocabulary import Target
from policies.assurance import is_acr_met
from policies.assurance import requested_acr
from policies.claims_request import ClaimsRequestError
from policies.claims_request import parse_claims_request

PROMPT_VALUES = {"none", "login", "consent", "select_account"}
#: Authorization parameters a transaction keeps (everything else is dropped).
KEPT_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "ui_locales",
    "login_hint",
    "id_token_hint",
    "claims",
    "acr_values",
    "response_mode",
)


class StoredAuthorizationRequest(OAuth2Request):  # type: ignore[misc]
    """An authorization request replayed from a login transaction at its finish step."""

    def __init__(self, params: dict[str, str]) -> None:
        # authlib reads the URI only for its transport check; the parameters are the
        # payload's (no query string built per finish, issue 13).
        super().__init__("GET", f"{extensions.settings().issuer}/authorize")
        self.payload = BasicOAuth2Payload(dict(params))
        self._params = dict(params)

    @property
    def args(self) -> dict[str, str]:
        return self._params

    @property
    def form(self) -> dict[str, str]:
        return {}


def _hint_subject(id_token_hint: str) -> str | None:
    """The ``sub`` of an ID token we issued (expired ones too, OIDC Core §3.1.2.1)."""
    keys = extensions.keys().verification_keys()
    try:
        token = jwt.decode(id_token_hint, keys, algorithms=["RS256", "ES256"])
    except (JoseError, ValueError, TypeError):
        return None
    if token.claims.get("iss") != extensions.settings().issuer:
        return None
    sub = token.claims.get("sub")
    return sub if isinstance(sub, str) else None


def handle_authorize() -> BaseResponse:
    """The authorization endpoint; its store writes go with its database work in one
    transaction (``EphemeralStore.transaction``, issue 13)."""
    with extensions.store().transaction():
        return _handle_authorize()


def _handle_authorize() -> BaseResponse:
    server = oauth_server()
    oauth_request = server.create_oauth2_request(request)
    state = oauth_request.payload.state
    try:
        grant = server.get_authorization_grant(oauth_request)
        grant.validate_no_multiple_request_parameter(oauth_request)
        redirect_uri = grant.validate_authorization_request()
    except OAuth2Error as error:
        return error_response(error, error.redirect_uri, state)
    # From here an outage is answered at the redirect URI (idp/web.py: unavailable).
    g.oauth_redirect = (redirect_uri, state)

    data = oauth_request.payload.data
    client = oauth_request.client
    try:
        if data.get("request"):
            raise OAuth2Error("request objects are not supported", error="request_not_supported")
        if data.get("request_uri"):
            raise OAuth2Error("request_uri is not supported", error="request_uri_not_supported")
        prompts = set((data.get("prompt") or "").split())
        if not prompts <= PROMPT_VALUES or ("none" in prompts and len(prompts) > 1):
            raise InvalidRequestError("Invalid 'prompt' parameter.")
        max_age = data.get("max_age")
        # ASCII digits only: str.isdigit() also takes "١٢" and "²" (int() refuses the latter).
        if max_age is not None and not (
            max_age.isascii() and max_age.isdigit() and len(max_age) <= 10
        ):
            raise InvalidRequestError("Invalid 'max_age' parameter.")
        parse_claims_request(data.get("claims"))
    except ClaimsRequestError as error:
        return error_response(InvalidRequestError(str(error)), redirect_uri, state)
    except OAuth2Error as error:
        return error_response(error, redirect_uri, state)

    needs_consent = not client.is_trusted or "consent" in prompts
    principal = _usable_session(
        prompts,
        max_age,
        data.get("id_token_hint"),
        requested_acr(data.get("acr_values"), data.get("claims")),
    )
    if "none" in prompts:
        if principal is None:
            return error_response(LoginRequiredError(), redirect_uri, state)
        if needs_consent:
            return error_response(ConsentRequiredError(), redirect_uri, state)
    if principal is not None and not needs_consent:
        return server.create_authorization_response(oauth_request, principal, grant)  # type: ignore[no-any-return]

    browser, fresh_browser = browser_for_transaction()
    params = {k: data[k] for k in KEPT_PARAMS if data.get(k) is not None}
    tx = Transaction.open(
        browser,
        params=params,
        client_id=client.client_id,
        # The language switch (``lang``) of this page, else ``ui_locales`` (both set
        # g.switched_locale, idp/i18n.py), else the language last chosen.
        locale=g.get("switched_locale")
        or pick_locale(data.get("ui_locales"))
        or request.cookies.get("lang")
        or "ja",
        login_hint=(data.get("login_hint") or "")[:320],
        needs_consent=needs_consent,
    )
    if principal is not None:
        # Signed in already; only the consent page stands between.
        tx.user_id = principal.user.id
        tx.amr = list(principal.session.get("amr") or [])
        tx.achieve("identify")
        tx.achieve("policies")
        tx.reused_session = principal.session
    tx.save()
    response = _first_step_page(tx)
    if fresh_browser:
        bind_browser(response, browser)
    return response


def _first_step_page(tx: Transaction) -> BaseResponse:
    """The page of the step due, in answer to the authorization request itself (one round
    trip less than a redirect to it, issue 13): the password page, whose form posts to the
    login step, or the consent page of a browser signed in already. A GET only: the language
    switch of a page links to its own URL with the query, which a POSTed request lacks, so
    a POST is redirected to the step's own URL as before."""
    step = tx.next_step()
    if request.method != "GET" or step not in ("identify", "consent"):
        return redirect_to_next_step(tx)
    g.locale = tx.locale  # as the step's own URL shows it (idp/login/steps.py)
    if step == "consent":
        return render_consent(tx)
    return render_identify(tx, action=url_for("login.identify"))


def _usable_session(
    prompts: set[str],
    max_age: str | None,
    id_token_hint: str | None,
    acr_values: tuple[str, ...],
) -> Principal | None:
    """The current session, when it may answer this request without a new sign-in."""
    if prompts & {"login", "select_account"}:
        return None
    found = current_session()
    if found is None:
        return None
    session, user = found
    if max_age is not None and time.time() - session.auth_time > int(max_age):
        return None
    if id_token_hint and _hint_subject(id_token_hint) != user.id:
        return None
    if not is_acr_met(acr_values, session.acr):
        return None  # a one-factor session cannot answer a two-factor request (step up)
    if not check_policies(user, Target.FRONTEND, session.route).is_allowed:
        return None
    touch_session(session)  # X2: "last used" in the session list (throttled)
    return Principal(user, session.claims())
