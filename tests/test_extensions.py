"""The app's services are reached through idp/extensions.py only (issue 10): its typed
accessors replace ``current_app.extensions["idp.…"]`` lookups, which gave ``Any`` and let a
misspelt key through to the first request that used it."""

from __future__ import annotations

import ast
from pathlib import Path

from cryptography.fernet import Fernet

from idp import extensions
from idp.factory import create_app

ROOT = Path(__file__).resolve().parent.parent


def lookups_by_key(path: Path) -> list[int]:
    """Lines where ``<something>.extensions[...]`` is read or written."""
    return [
        node.lineno
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Subscript)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr == "extensions"
    ]


def test_only_idp_extensions_touches_app_extensions() -> None:
    found = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "idp").rglob("*.py"))
        if path != ROOT / "idp" / "extensions.py" and (lines := lookups_by_key(path))
    }
    assert found == {}


def test_the_finder_finds_a_lookup(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text('x = current_app.extensions["idp.store"]\napp.extensions["k"] = 1\n')
    assert lookups_by_key(module) == [1, 2]


def test_create_app_registers_every_service(tmp_path: Path) -> None:
    app = create_app(
        {
            "instance_dir": str(tmp_path / "instance"),
            "keys_dir": str(tmp_path / "keys"),
            "secret_key": "x" * 32,
            "encryption_key": Fernet.generate_key().decode(),
        }
    )
    services = [s for s in vars(extensions).values() if isinstance(s, extensions.Service)]
    assert len({s.key for s in services}) == len(services) >= 10
    missing = [s.key for s in services if s.key not in app.extensions]
    assert missing == []
    with app.app_context():
        assert extensions.settings() is extensions.settings.of(app)
        assert extensions.settings().instance_dir == str(tmp_path / "instance")
