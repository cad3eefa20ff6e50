"""Operations: the Alembic migrations produce exactly the models' schema; every page text
has its Japanese translation (SPEC: Japanese first); signing keys are pruned after use."""

from __future__ import annotations

import json
import subprocess
import sys

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from babel.messages.pofile import read_po

from idp.i18n import TRANSLATIONS
from idp.models import db
from idp.oidc.keys import KeyStore


def test_migrations_match_the_models(provider):
    with provider.app.app_context():
        with db.engine.connect() as connection:
            context = MigrationContext.configure(connection)
            diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_every_message_has_a_japanese_translation(tmp_path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "lazy_gettext",
            "-o",
            str(pot),
            ".",
        ],
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        wanted = {m.id for m in read_po(handle) if m.id}
    with (TRANSLATIONS / "ja/LC_MESSAGES/messages.po").open("rb") as handle:
        translated = {m.id for m in read_po(handle) if m.id and m.string}
    assert wanted - translated == set()


def test_keys_stay_published_through_retention_then_go(tmp_path):
    store = KeyStore(tmp_path, retention_seconds=100)
    store.rotate(now=1000.0)
    first = {k["kid"] for k in store.public_jwks()["keys"]}
    store.rotate(now=1050.0)
    assert first <= {k["kid"] for k in store.public_jwks()["keys"]}
    store.rotate(now=1100.0)
    assert first <= {k["kid"] for k in store.public_jwks()["keys"]}
    # The first generation retired at 1050; past 1050 + 100 it is pruned at the next rotation.
    store.rotate(now=1200.0)
    kids = {k["kid"] for k in store.public_jwks()["keys"]}
    assert not first & kids
    assert len([p for p in tmp_path.glob("gen-*.json")]) == 3
    for path in tmp_path.glob("gen-*.json"):
        assert json.loads(path.read_text())["keys"][0]["kty"] == "RSA"
