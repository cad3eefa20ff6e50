"""Issue 13 "Operations": private keys never readable by others, and a key rotation while
tokens are in flight, seen by a relying party that verifies through the JWKS, across two
nodes sharing the keys folder (the second one never restarted)."""

from __future__ import annotations

import copy
import json
import threading
import time
from base64 import urlsafe_b64decode
from datetime import timedelta

import pytest
import requests
import time_machine
from werkzeug.serving import make_server

from idp.actor import Actor
from idp.config import ConfigError
from idp.factory import create_app
from idp.maintenance import purge
from idp.maintenance import rotate_signing_key
from idp.oidc.keys import SIGNING_RECHECK_SECONDS
from tests.conftest import PASSWORD
from tests.conftest import build_provider
from tests.helpers import Browser
from tests.helpers import RelyingParty


def _kid(token: str) -> str:
    return str(json.loads(urlsafe_b64decode(token.split(".")[0] + "=="))["kid"])


def _mode(path) -> int:
    return path.stat().st_mode & 0o777


def _settings_of(provider):
    settings = provider.app.extensions["idp.settings"]
    return {
        "issuer": settings.issuer,
        "instance_dir": settings.instance_dir,
        "keys_dir": settings.keys_dir,
        "secret_key": settings.secret_key,
        "encryption_key": settings.encryption_key,
        "database_url": provider.app.config["SQLALCHEMY_DATABASE_URI"],
    }


@pytest.mark.covers("O1")
def test_O1_private_keys_are_written_for_their_owner_only(services, tmp_path):
    keys = tmp_path / "keys"
    keys.mkdir(mode=0o755)
    keys.chmod(0o755)  # a folder made by an older version or by hand
    provider = build_provider("sqlite+sqlstore", tmp_path, services)
    with provider.app.app_context():
        rotate_signing_key(Actor.cli())
    files = sorted(keys.glob("gen-*.json"))
    assert len(files) == 2
    assert _mode(keys) == 0o700
    assert [_mode(f) for f in files] == [0o600, 0o600]
    provider.close()
    fresh = build_provider("sqlite+sqlstore", tmp_path / "b", services)  # no folder yet
    assert _mode(tmp_path / "b" / "keys") == 0o700
    fresh.close()


@pytest.mark.covers("O1")
def test_O1_a_private_key_others_may_read_stops_start_up_until_fixed(services, tmp_path):
    provider = build_provider("sqlite+sqlstore", tmp_path, services)
    provider.close()
    config = _settings_of(provider)
    key_file = next((tmp_path / "keys").glob("gen-*.json"))
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match=rf"chmod 600 {key_file}"):
        create_app(config)
    key_file.chmod(0o600)
    (tmp_path / "keys").chmod(0o777)
    with pytest.raises(ConfigError, match="may be written to by others"):
        create_app(config)
    # A folder others may only enter is tightened, not refused (its listing holds no key).
    (tmp_path / "keys").chmod(0o755)
    create_app(config)
    assert _mode(tmp_path / "keys") == 0o700


def _serve(app):
    server = make_server("127.0.0.1", app.config["TEST_PORT"], app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _on_node(rp: RelyingParty, issuer: str, node_url: str) -> RelyingParty:
    """The same relying party talking to another node (same issuer, other address)."""
    other = copy.copy(rp)
    other.metadata = {
        key: value.replace(issuer, node_url, 1) if isinstance(value, str) else value
        for key, value in rp.metadata.items()
    }
    return other


@pytest.fixture()
def two_nodes(services, tmp_path):
    """Two nodes of one issuer over one SQLite database and one keys folder."""
    first = build_provider(
        "sqlite+sqlstore", tmp_path / "a", services, keys_dir=str(tmp_path / "keys")
    )
    shared = _settings_of(first)
    second = build_provider("sqlite+sqlstore", tmp_path / "b", services, **shared)
    second_url = f"http://127.0.0.1:{second.app.config['TEST_PORT']}"
    servers = [_serve(first.app), _serve(second.app)]
    yield first, second, second_url
    for server in servers:
        server.shutdown()
    first.close()
    second.close()


@pytest.mark.covers("O1")
def test_O1_rotation_with_tokens_in_flight_across_two_nodes(two_nodes):
    first, _second, second_url = two_nodes
    rp = first.new_client(refresh_tokens=True)
    at_second = _on_node(rp, first.url, second_url)
    _user_id, email = first.new_user()
    # The second node has loaded the keys (it serves the JWKS) before the rotation.
    old_kids = {
        k["kid"] for k in requests.get(at_second.metadata["jwks_uri"], timeout=10).json()["keys"]
    }
    before = rp.login_tokens(Browser(first.url), email, PASSWORD)
    assert _kid(before["id_token"]) in old_kids

    with first.app.app_context():
        new_kid = rotate_signing_key(Actor.cli())  # as `idp keys rotate` on another machine

    # The relying party verifies through the second node's JWKS: the old key is still there.
    published = {
        k["kid"] for k in requests.get(at_second.metadata["jwks_uri"], timeout=10).json()["keys"]
    }
    assert {_kid(before["id_token"]), new_kid} <= published
    at_second.id_token_claims(before["id_token"])
    # A refresh across the rotation, at the node that was not restarted: the refresh token
    # from before still works, and what it signs now uses the new key.
    refreshed = at_second.refresh(before["refresh_token"])
    assert refreshed["_status"] == 200, refreshed
    assert at_second.userinfo(refreshed["access_token"]).status_code == 200
    if "id_token" in refreshed:
        assert _kid(refreshed["id_token"]) == new_kid
        at_second.id_token_claims(refreshed["id_token"])
    after = at_second.login_tokens(Browser(second_url), email, PASSWORD)
    assert _kid(after["id_token"]) == new_kid
    rp.id_token_claims(after["id_token"])


@pytest.mark.covers("O1")
def test_O1_a_node_signs_with_a_key_rotated_elsewhere_once_its_recheck_window_has_passed(
    two_nodes,
):
    """A node looks at the keys folder for signing at most once per SIGNING_RECHECK_SECONDS
    (issue 13), so a rotation by another node reaches its signatures that much later at most;
    what it signed meanwhile verifies, as the rotated-out key stays published. The node's
    clock is moved past the window: nobody waits."""
    first, second, second_url = two_nodes
    rp = first.new_client()
    at_second = _on_node(rp, first.url, second_url)
    _user_id, email = first.new_user()
    before = at_second.login_tokens(Browser(second_url), email, PASSWORD)
    with first.app.app_context():
        new_kid = rotate_signing_key(Actor.cli())
    assert _kid(before["id_token"]) != new_kid
    rp.id_token_claims(before["id_token"])  # through the rotating node's JWKS

    keys = second.app.extensions["idp.keys"]
    keys.clock = lambda: time.monotonic() + SIGNING_RECHECK_SECONDS + 1
    try:
        after = at_second.login_tokens(Browser(second_url), email, PASSWORD)
    finally:
        keys.clock = time.monotonic
    assert _kid(after["id_token"]) == new_kid
    rp.id_token_claims(after["id_token"])


@pytest.mark.covers("O1")
def test_O1_a_retired_key_leaves_the_jwks_once_its_tokens_have_expired(services, tmp_path):
    provider = build_provider("sqlite+sqlstore", tmp_path, services)
    server = _serve(provider.app)
    rp = provider.new_client()
    _user_id, email = provider.new_user()
    before = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    old_kid = _kid(before["id_token"])
    with provider.app.app_context():
        rotate_signing_key(Actor.cli())
    keys = provider.app.extensions["idp.keys"]
    settings = provider.app.extensions["idp.settings"]
    valid_for = timedelta(seconds=max(settings.id_token_ttl, settings.access_token_ttl))
    with time_machine.travel(valid_for, tick=True):
        with provider.app.app_context():
            kept = purge(Actor.system("test-purge"))
        jwks = requests.get(rp.metadata["jwks_uri"], timeout=10).json()
    assert old_kid in {k["kid"] for k in jwks["keys"]}
    assert kept.signing_keys == 0
    with time_machine.travel(timedelta(seconds=keys.retention_seconds + 60), tick=True):
        with provider.app.app_context():
            pruned = purge(Actor.system("test-purge"))
        jwks = requests.get(rp.metadata["jwks_uri"], timeout=10).json()
    assert pruned.signing_keys >= 1
    assert old_kid not in {k["kid"] for k in jwks["keys"]}
    server.shutdown()
    provider.close()
