"""L8 (Active Directory through the contract's AD FS) and L7 (federated login) through NTT
docomo d account: each broker against a local upstream over real HTTP, driven as a browser
would with ``requests`` (UPSTREAMS.md "Test doubles").

AD FS is panva's certified ``oidc-provider`` (tests/adfs_double, a Node project whose
``node_modules`` is installed here on first use); d account is tests/daccount_double.py.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests

from brokers.adfs import AdfsBroker
from brokers.base import REASONS
from brokers.base import BrokeredIdentity
from brokers.base import BrokerError
from brokers.base import UpstreamRequest
from brokers.daccount import DAccountBroker
from idp.login.brokered import amr_for
from tests.daccount_double import DAccountDouble
from tests.npm import npm_ci

ADFS_DIR = Path(__file__).parent / "adfs_double"
ADFS_CLIENT_ID = "9b3c1a6e-worksdrive"
ADFS_SECRET = "adfs-secret-0123456789abcdef0123456789"
ADFS_REDIRECT_URI = "http://127.0.0.1:9/login/callback/ad"
ADFS_RESOURCE = "urn:worksdrive:idp"
MULTIPLEAUTHN = "http://schemas.microsoft.com/claims/multipleauthn"
DACCOUNT_CLIENT_ID = "dacc-worksdrive-0001"
#: Long enough to be an HS256 key (joserfc warns under 112 bits).
DACCOUNT_SECRET = "daccount-secret-0123456789abcdef0123456789"
DACCOUNT_REDIRECT_URI = "http://127.0.0.1:9/login/callback/daccount"
START_TIMEOUT = 20
TIMEOUT = 10


# -- the AD FS double (Node) -------------------------------------------------------------


def install_adfs_double() -> None:
    npm_ci(ADFS_DIR)


@dataclass
class AdfsDouble:
    """A running AD FS stand-in: ``issuer`` is ``http://127.0.0.1:PORT/adfs``."""

    url: str
    issuer: str
    process: subprocess.Popen[str]
    log: IO[str]

    def tamper(self, **changes: Any) -> None:
        """Change the next ID token (``None`` deletes a claim; ``_sign_with="foreign"``)."""
        response = requests.post(f"{self.url}/_control/tamper", json=changes, timeout=TIMEOUT)
        response.raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                stream.close()
        self.log.close()


def start_adfs_double(
    log_dir: Path,
    version: str = "2019",
    redirect_uri: str = ADFS_REDIRECT_URI,
    tls: tuple[Path, Path] | None = None,
) -> AdfsDouble:
    """``tls``: (certificate, key) PEM files to serve https with (an ``https://`` issuer)."""
    install_adfs_double()
    log_path = log_dir / f"adfs-{version}.log"
    log = open(log_path, "w")  # closed by AdfsDouble.stop()
    tls_args = [f"--tls-cert={tls[0]}", f"--tls-key={tls[1]}"] if tls else []
    process = subprocess.Popen(
        [
            "node",
            "server.js",
            f"--client-id={ADFS_CLIENT_ID}",
            f"--client-secret={ADFS_SECRET}",
            f"--redirect-uri={redirect_uri}",
            f"--version={version}",
            *tls_args,
            # a test run killed before its teardown still ends the double
            "--exit-with-stdin",
        ],
        cwd=ADFS_DIR,
        env={**os.environ, "PORT": "0"},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        process.wait()
        for stream in (process.stdin, process.stdout):
            if stream is not None:
                stream.close()
        log.close()
        pytest.fail(f"the AD FS double did not start: {log_path.read_text()}")
    started = json.loads(line)
    scheme = "https" if tls else "http"
    url = f"{scheme}://127.0.0.1:{started['port']}"
    return AdfsDouble(url, started["issuer"], process, log)


@pytest.fixture(scope="session")
def adfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdfsDouble]:
    double = start_adfs_double(tmp_path_factory.mktemp("adfs"))
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture(scope="session")
def adfs_2016(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AdfsDouble]:
    """AD FS 2016: no ``code_challenge_methods_supported`` in its discovery."""
    double = start_adfs_double(tmp_path_factory.mktemp("adfs2016"), version="2016")
    try:
        yield double
    finally:
        double.stop()


def adfs_broker(double: AdfsDouble, resource: str | None = ADFS_RESOURCE) -> AdfsBroker:
    """As ``idp/login/active_directory.py`` builds it from a contract's connection."""
    return AdfsBroker(
        issuer=double.issuer,
        client_id=ADFS_CLIENT_ID,
        client_secret=ADFS_SECRET,
        resource=resource,
    )


@dataclass
class Visit:
    """A browser's trip through the upstream: the callback it brought back, and the AD FS
    interaction (sign-in page) it met on the way, if any."""

    callback: dict[str, str]
    interaction: dict[str, Any] | None


def adfs_visit(
    browser: requests.Session,
    url: str,
    account: str | None = "alice",
    mfa: bool = False,
    deny: bool = False,
    redirect_uri: str = ADFS_REDIRECT_URI,
) -> Visit:
    """Follow redirects from ``url`` until the redirect to our callback; at the sign-in page
    sign in as ``account`` (with a second factor when ``mfa``) or decline when ``deny``."""
    interaction: dict[str, Any] | None = None
    for _ in range(10):
        response = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
        assert response.status_code in (302, 303), response.text
        location = urljoin(url, response.headers["Location"])
        if location.startswith(redirect_uri + "?"):
            return Visit(dict(parse_qsl(urlsplit(location).query)), interaction)
        if "/adfs/interaction/" in location:
            assert interaction is None, "a second sign-in page"
            page = browser.get(location, timeout=TIMEOUT)
            assert page.status_code == 200, page.text
            interaction = page.json()
            assert account is not None or deny, "the upstream asked for a sign-in"
            form = {"action": "deny"} if deny else {"account": str(account)}
            if mfa:
                form["mfa"] = "1"
            response = browser.post(location, data=form, allow_redirects=False, timeout=TIMEOUT)
            assert response.status_code in (302, 303), response.text
            location = urljoin(location, response.headers["Location"])
        url = location
    raise AssertionError("no redirect to the callback")


def adfs_sign_in(
    broker: AdfsBroker,
    request: UpstreamRequest | None = None,
    browser: requests.Session | None = None,
    **visit: Any,
) -> tuple[BrokeredIdentity, Visit]:
    url, kept = broker.start(request or UpstreamRequest(ADFS_REDIRECT_URI))
    trip = adfs_visit(browser or requests.Session(), url, **visit)
    return broker.finish(trip.callback, kept), trip


def refused(broker: Any, callback: dict[str, str], kept: dict[str, Any]) -> str:
    with pytest.raises(BrokerError) as caught:
        broker.finish(callback, kept)
    assert caught.value.reason in REASONS
    return caught.value.reason


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


# -- AD FS (L8) ------------------------------------------------------------------------


@pytest.mark.covers("L8")
def test_L8_adfs_identity(adfs: AdfsDouble) -> None:
    identity, trip = adfs_sign_in(adfs_broker(adfs))
    assert identity.provider == "ad"
    assert identity.issuer == adfs.issuer
    # pairwise sub, salted per farm: neither the account name nor the upn
    assert identity.subject not in ("alice", "alice@corp.example")
    assert identity.email == "alice@corp.example"
    assert identity.email_verified is False
    assert identity.display_name == "CORP\\alice"
    assert identity.upstream_amr == ("pwd",)
    assert amr_for(identity) == ["fed"]
    assert trip.interaction is not None
    sent = trip.interaction["params"]
    assert sent["scope"] == "openid profile email allatclaims"
    assert sent["code_challenge_method"] == "S256"
    again, _ = adfs_sign_in(adfs_broker(adfs))
    assert again.subject == identity.subject
    other, _ = adfs_sign_in(adfs_broker(adfs), account="bob")
    assert other.subject != identity.subject


@pytest.mark.covers("L8")
def test_L8_adfs_email_falls_back_to_upn(adfs: AdfsDouble) -> None:
    adfs.tamper(email=None, amr="http://schemas.microsoft.com/claims/multipleauthn")
    identity, _ = adfs_sign_in(adfs_broker(adfs))
    assert identity.email == "alice@corp.example"  # the upn
    assert identity.upstream_amr == (MULTIPLEAUTHN,)  # a single value arrives as a string


@pytest.mark.covers("L8")
def test_L8_adfs_forged_state(adfs: AdfsDouble) -> None:
    broker = adfs_broker(adfs)
    url, kept = broker.start(UpstreamRequest(ADFS_REDIRECT_URI))
    trip = adfs_visit(requests.Session(), url)
    assert refused(broker, {**trip.callback, "state": "forged"}, kept) == "bad_state"
    assert refused(broker, {k: v for k, v in trip.callback.items() if k != "state"}, kept) == (
        "bad_state"
    )


@pytest.mark.covers("L8")
def test_L8_adfs_replayed_callback(adfs: AdfsDouble) -> None:
    broker = adfs_broker(adfs)
    url, kept = broker.start(UpstreamRequest(ADFS_REDIRECT_URI))
    trip = adfs_visit(requests.Session(), url)
    broker.finish(trip.callback, kept)
    assert refused(broker, trip.callback, kept) == "token_error"  # codes are single-use


@pytest.mark.covers("L8")
@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ({"aud": "another-client"}, "invalid_id_token"),
        ({"_sign_with": "foreign"}, "invalid_id_token"),
        ({"nonce": None}, "nonce_mismatch"),
        ({"iss": "http://127.0.0.1:9/adfs/services/trust"}, "wrong_issuer"),
        ({"exp": 1_600_000_000}, "invalid_id_token"),
    ],
    ids=["wrong_aud", "unknown_signing_key", "missing_nonce", "wrong_issuer", "expired"],
)
def test_L8_adfs_id_token_refused(adfs: AdfsDouble, tamper: dict[str, Any], reason: str) -> None:
    broker = adfs_broker(adfs)
    url, kept = broker.start(UpstreamRequest(ADFS_REDIRECT_URI))
    trip = adfs_visit(requests.Session(), url)
    adfs.tamper(**tamper)
    assert refused(broker, trip.callback, kept) == reason


@pytest.mark.covers("L8")
def test_L8_adfs_issuer_exact(adfs: AdfsDouble) -> None:
    """The configured issuer must be the farm's exactly: a trailing slash is another one."""
    broker = AdfsBroker(
        issuer=adfs.issuer + "/", client_id=ADFS_CLIENT_ID, client_secret=ADFS_SECRET
    )
    with pytest.raises(BrokerError) as caught:
        broker.start(UpstreamRequest(ADFS_REDIRECT_URI))
    assert caught.value.reason == "wrong_issuer"


@pytest.mark.covers("L8")
def test_L8_adfs_access_denied(adfs: AdfsDouble) -> None:
    broker = adfs_broker(adfs)
    url, kept = broker.start(UpstreamRequest(ADFS_REDIRECT_URI))
    trip = adfs_visit(requests.Session(), url, account=None, deny=True)
    assert trip.callback["error"] == "access_denied"
    assert refused(broker, trip.callback, kept) == "access_denied"


@pytest.mark.covers("L8")
def test_L8_adfs_sso_second_login_without_prompt(adfs: AdfsDouble) -> None:
    """Stand-in for "a domain-joined PC passes without a prompt": the browser already has an
    AD FS session, so the second sign-in returns a code without the sign-in page."""
    browser = requests.Session()
    first, trip = adfs_sign_in(adfs_broker(adfs), browser=browser)
    assert trip.interaction is not None
    second, trip = adfs_sign_in(adfs_broker(adfs), browser=browser, account=None)
    assert trip.interaction is None
    assert second.subject == first.subject


@pytest.mark.covers("L8")
def test_L8_adfs_force_login_prompts_again(adfs: AdfsDouble) -> None:
    browser = requests.Session()
    adfs_sign_in(adfs_broker(adfs), browser=browser)
    broker = adfs_broker(adfs)
    forced = UpstreamRequest(ADFS_REDIRECT_URI, force_login=True, max_age=0)
    url, kept = broker.start(forced)
    assert query_of(url)["prompt"] == "login"
    assert "max_age" not in query_of(url)
    trip = adfs_visit(browser, url)
    assert trip.interaction is not None and trip.interaction["prompt"] == "login"
    assert broker.finish(trip.callback, kept).provider == "ad"


@pytest.mark.covers("L8")
def test_L8_adfs_prompt_values(adfs: AdfsDouble) -> None:
    """AD FS accepts only ``login`` and ``none``: the account chooser sends no prompt."""
    chooser = UpstreamRequest(ADFS_REDIRECT_URI, select_account=True, login_hint="alice@corp")
    url, _ = adfs_broker(adfs).start(chooser)
    assert "prompt" not in query_of(url)
    assert query_of(url)["login_hint"] == "alice@corp"


@pytest.mark.covers("L8")
def test_L8_adfs_prompt_none_without_session(adfs: AdfsDouble) -> None:
    broker = adfs_broker(adfs)
    url, kept = broker.start(UpstreamRequest(ADFS_REDIRECT_URI))
    trip = adfs_visit(requests.Session(), url + "&prompt=none", account=None)
    assert trip.callback["error"] == "login_required"
    assert refused(broker, trip.callback, kept) == "upstream_error"


@pytest.mark.covers("L8")
def test_L8_adfs_resource_sent(adfs: AdfsDouble) -> None:
    _, trip = adfs_sign_in(adfs_broker(adfs))
    assert trip.interaction is not None
    assert trip.interaction["params"]["resource"] == ADFS_RESOURCE
    url, _ = adfs_broker(adfs, resource=None).start(UpstreamRequest(ADFS_REDIRECT_URI))
    assert "resource" not in query_of(url)


@pytest.mark.covers("L8")
def test_L8_adfs_multipleauthn_recorded(adfs: AdfsDouble) -> None:
    identity, _ = adfs_sign_in(adfs_broker(adfs), mfa=True)
    assert MULTIPLEAUTHN in identity.upstream_amr
    assert amr_for(identity) == ["fed", "mfa"]


@pytest.mark.covers("L8")
def test_L8_adfs_pkce_verifier_checked(adfs: AdfsDouble) -> None:
    broker = adfs_broker(adfs)
    url, kept = broker.start(UpstreamRequest(ADFS_REDIRECT_URI))
    trip = adfs_visit(requests.Session(), url)
    other_verifier = {**kept, "code_verifier": "x" * 64}
    assert refused(broker, trip.callback, other_verifier) == "token_error"


@pytest.mark.covers("L8")
def test_L8_adfs_2016_without_pkce(adfs_2016: AdfsDouble) -> None:
    identity, trip = adfs_sign_in(adfs_broker(adfs_2016))
    assert trip.interaction is not None
    assert "code_challenge" not in trip.interaction["params"]
    assert identity.issuer == adfs_2016.issuer


# -- d account (L7) --------------------------------------------------------------------


@pytest.fixture(scope="session")
def daccount_op() -> Iterator[DAccountDouble]:
    double = DAccountDouble(DACCOUNT_CLIENT_ID, DACCOUNT_SECRET, DACCOUNT_REDIRECT_URI)
    try:
        yield double
    finally:
        double.stop()


@pytest.fixture()
def daccount(daccount_op: DAccountDouble) -> DAccountDouble:
    daccount_op.reset()
    return daccount_op


def daccount_broker(double: DAccountDouble, **settings: str) -> DAccountBroker:
    """From the ``IDP_BROKER_DACCOUNT_*`` settings, as the registry builds it."""
    config = {
        "client_id": DACCOUNT_CLIENT_ID,
        "client_secret": DACCOUNT_SECRET,
        "issuer": double.issuer,
        "extra_authorize_params": "authif=1",
        **settings,
    }
    return DAccountBroker.from_config(config, "IDP_BROKER_DACCOUNT_")


def daccount_visit(url: str, user: str = "taro", deny: bool = False) -> dict[str, str]:
    """The login page (GET), then the person signs in (or declines) on it (POST)."""
    browser = requests.Session()
    page = browser.get(url, allow_redirects=False, timeout=TIMEOUT)
    assert page.status_code == 200, page.text
    form = {"action": "deny"} if deny else {"user": user}
    response = browser.post(url, data=form, allow_redirects=False, timeout=TIMEOUT)
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(DACCOUNT_REDIRECT_URI + "?")
    return query_of(location)


def daccount_start(broker: DAccountBroker) -> tuple[dict[str, str], dict[str, Any]]:
    url, kept = broker.start(UpstreamRequest(DACCOUNT_REDIRECT_URI))
    return daccount_visit(url), kept


@pytest.mark.covers("L7")
def test_L7_daccount_identity(daccount: DAccountDouble) -> None:
    broker = daccount_broker(daccount)
    url, kept = broker.start(UpstreamRequest(DACCOUNT_REDIRECT_URI, login_hint="a@example.jp"))
    identity = broker.finish(daccount_visit(url), kept)
    assert identity == BrokeredIdentity(
        provider="daccount",
        issuer=daccount.issuer,
        subject=daccount.subject_for("taro"),
        email=None,
        email_verified=False,
        upstream_amr=(),
        upstream_acr=None,
    )
    assert identity.issuer.endswith("/")
    assert amr_for(identity) == ["fed"]
    sent = daccount.authorize_requests[-1]
    assert sent["scope"] == "openid"
    assert sent["authif"] == "1"  # an extra parameter, ignored by the upstream
    assert "code_challenge" not in sent and "login_hint" not in sent and "prompt" not in sent


@pytest.mark.covers("L7")
def test_L7_daccount_forged_state(daccount: DAccountDouble) -> None:
    broker = daccount_broker(daccount)
    callback, kept = daccount_start(broker)
    assert refused(broker, {**callback, "state": kept["state"][:-1]}, kept) == "bad_state"


@pytest.mark.covers("L7")
def test_L7_daccount_replayed_callback(daccount: DAccountDouble) -> None:
    broker = daccount_broker(daccount)
    callback, kept = daccount_start(broker)
    broker.finish(callback, kept)
    assert refused(broker, callback, kept) == "token_error"  # codes are single-use


@pytest.mark.covers("L7")
@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ({"aud": "another-rp"}, "invalid_id_token"),
        ({"_sign_with": "foreign"}, "invalid_id_token"),
        ({"nonce": None}, "nonce_mismatch"),
    ],
    ids=["wrong_aud", "unknown_signing_key", "missing_nonce"],
)
def test_L7_daccount_id_token_refused(
    daccount: DAccountDouble, tamper: dict[str, Any], reason: str
) -> None:
    broker = daccount_broker(daccount)
    callback, kept = daccount_start(broker)
    daccount.tamper = tamper
    assert refused(broker, callback, kept) == reason


@pytest.mark.covers("L7")
def test_L7_daccount_access_denied(daccount: DAccountDouble) -> None:
    broker = daccount_broker(daccount)
    url, kept = broker.start(UpstreamRequest(DACCOUNT_REDIRECT_URI))
    callback = daccount_visit(url, deny=True)
    assert callback["error"] == "access_denied"
    assert refused(broker, callback, kept) == "access_denied"


@pytest.mark.covers("L7")
def test_L7_daccount_issuer_trailing_slash_exact(daccount: DAccountDouble) -> None:
    without_slash = daccount_broker(daccount, issuer=daccount.url)
    with pytest.raises(BrokerError) as caught:
        without_slash.start(UpstreamRequest(DACCOUNT_REDIRECT_URI))
    assert caught.value.reason == "wrong_issuer"
    broker = daccount_broker(daccount)
    callback, kept = daccount_start(broker)
    daccount.tamper = {"iss": daccount.url}
    assert refused(broker, callback, kept) == "wrong_issuer"


@pytest.mark.covers("L7")
def test_L7_daccount_kidless_jwks(daccount: DAccountDouble) -> None:
    keys = requests.get(daccount_broker(daccount).load_metadata()["jwks_uri"], timeout=TIMEOUT)
    assert [key.get("kid") for key in keys.json()["keys"]] == [None]
    broker = daccount_broker(daccount)
    callback, kept = daccount_start(broker)
    assert broker.finish(callback, kept).subject == daccount.subject_for("taro")


@pytest.mark.covers("L7")
def test_L7_daccount_hs256_mode(daccount: DAccountDouble) -> None:
    daccount.id_token_alg = "HS256"
    broker = daccount_broker(daccount, id_token_alg="HS256")
    callback, kept = daccount_start(broker)
    assert broker.finish(callback, kept).subject == daccount.subject_for("taro")
    # an RP registered for RS256 refuses an HMAC token, and the other way round
    rs256 = daccount_broker(daccount)
    callback, kept = daccount_start(rs256)
    assert refused(rs256, callback, kept) == "invalid_id_token"
    daccount.id_token_alg = "RS256"
    callback, kept = daccount_start(broker)
    assert refused(broker, callback, kept) == "invalid_id_token"


@pytest.mark.covers("L7")
def test_L7_daccount_client_auth_is_basic(daccount: DAccountDouble) -> None:
    broker = daccount_broker(daccount)
    callback, kept = daccount_start(broker)
    broker.finish(callback, kept)
    assert daccount.token_requests == [{"path": "/token", "auth": "basic"}]
    post = daccount_broker(daccount, token_endpoint_auth_method="client_secret_post")
    callback, kept = daccount_start(post)
    assert refused(post, callback, kept) == "token_error"
    assert daccount.token_requests[-1]["auth"] == "post"


@pytest.mark.covers("L7")
def test_L7_daccount_endpoints_configurable(daccount: DAccountDouble) -> None:
    broker = daccount_broker(
        daccount,
        discovery_url=f"{daccount.url}/.well-known/openid-configuration",
        token_endpoint=f"{daccount.url}/common/token",
        use_pkce="true",
    )
    url, kept = broker.start(UpstreamRequest(DACCOUNT_REDIRECT_URI, force_login=True))
    assert query_of(url)["prompt"] == "login"
    assert query_of(url)["code_challenge_method"] == "S256"
    assert broker.finish(daccount_visit(url), kept).issuer == daccount.issuer
    assert daccount.token_requests == [{"path": "/common/token", "auth": "basic"}]


@pytest.mark.covers("L7")
def test_L7_daccount_settings_checked() -> None:
    with pytest.raises(ValueError, match="ID_TOKEN_ALG"):
        DAccountBroker.from_config(
            {"client_id": "x", "client_secret": "y", "id_token_alg": "none"},
            "IDP_BROKER_DACCOUNT_",
        )
    broker = DAccountBroker.from_config(
        {"client_id": "x", "client_secret": "y"}, "IDP_BROKER_DACCOUNT_"
    )
    assert broker.discovery_url == "https://conf.uw.docomo.ne.jp/.well-known/openid-configuration"
    assert broker.configured_issuer == "https://conf.uw.docomo.ne.jp/"
