"""The ``idp`` command line as an operator uses it (issue: Command line)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from idp.config import ConfigError
from idp.config import load_settings

IDP = [sys.executable, "-m", "idp.cli"]


def run(args, env, check=True):
    result = subprocess.run([*IDP, *args], env=env, capture_output=True, text=True, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture()
def env(tmp_path):
    return {
        **os.environ,
        "IDP_INSTANCE_DIR": str(tmp_path / "instance"),
        "IDP_KEYS_DIR": str(tmp_path / "keys"),
        "IDP_SECRET_KEY": "cli-test-secret",
        "IDP_ENCRYPTION_KEY": "x2rqoV0T3sD5cQ0nJ6W9lJ2xQe0y2v9cN3m0tWqZ8kE=",
        "IDP_ISSUER": "http://127.0.0.1:9",
        "IDP_ARGON2_MEMORY_KIB": "1024",
        "IDP_ARGON2_TIME_COST": "1",
    }


def test_cli_init_contracts_users_clients_keys(env, tmp_path):
    assert "signing keys created" in run(["init"], env).stdout
    assert "signing keys created" not in run(["init"], env).stdout
    contract = run(
        [
            "contracts",
            "add",
            "Acme",
            "--plan",
            "trial",
            "--two-factor",
            "on",
            "--access-route",
            "line-only",
        ],
        env,
    ).stdout.strip()
    assert len(contract) == 32
    assert (
        run(["contracts", "set", contract, "--two-factor", "off"], env).stdout.strip()
        == "two-factor off"
    )
    missing = run(["contracts", "set", "nope", "--two-factor", "on"], env, check=False)
    assert missing.returncode != 0 and "no contract" in missing.stderr
    user = run(
        [
            "users",
            "add",
            "--contract",
            contract,
            "--email",
            "Boss@Acme.example",
            "--password",
            "Acme-Boss-2026",
            "--role",
            "contractor",
        ],
        env,
    ).stdout.strip()
    assert len(user) == 32
    weak = run(
        [
            "users",
            "add",
            "--contract",
            contract,
            "--email",
            "weak@acme.example",
            "--password",
            "password",
        ],
        env,
        check=False,
    )
    assert weak.returncode != 0 and "P2" in weak.stderr
    dup = run(
        [
            "users",
            "add",
            "--contract",
            contract,
            "--email",
            "boss@acme.example",
            "--password",
            "Acme-Boss-2026",
        ],
        env,
        check=False,
    )
    assert dup.returncode != 0 and "already registered" in dup.stderr

    out = run(
        [
            "clients",
            "add",
            "--name",
            "Front",
            "--redirect-uri",
            "https://f.example/cb",
            "--redirect-uri",
            "https://f.example/cb2",
            "--post-logout-redirect-uri",
            "https://f.example/",
        ],
        env,
    ).stdout
    assert "client_id=" in out and "client_secret=" in out
    public = run(
        [
            "clients",
            "add",
            "--name",
            "App",
            "--redirect-uri",
            "http://127.0.0.1/cb",
            "--public",
            "--client-id",
            "app",
        ],
        env,
    ).stdout
    assert "client_id=app" in public and "client_secret" not in public

    keys_before = {p.name for p in (tmp_path / "keys").iterdir()}
    assert "signing with rs-" in run(["keys", "rotate"], env).stdout
    keys_after = {p.name for p in (tmp_path / "keys").iterdir()}
    assert keys_before < keys_after
    for path in (tmp_path / "keys").iterdir():
        assert path.stat().st_mode & 0o077 == 0, "private keys must be owner-only"
        assert "retired_at" in json.loads(path.read_text())


def test_missing_secret_stops_startup(env):
    env = {k: v for k, v in env.items() if k != "IDP_SECRET_KEY"}
    env.pop("IDP_DEV", None)
    result = run(["init"], env, check=False)
    assert result.returncode != 0 and "IDP_SECRET_KEY" in result.stderr


def test_settings_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("IDP_ISSUER", "https://id.example")
    monkeypatch.setenv("IDP_SECRET_KEY", "s")
    monkeypatch.setenv("IDP_ENCRYPTION_KEY", "x2rqoV0T3sD5cQ0nJ6W9lJ2xQe0y2v9cN3m0tWqZ8kE=")
    monkeypatch.setenv("IDP_ACCESS_TOKEN_TTL", "120")
    monkeypatch.setenv("IDP_DEV", "yes")
    settings = load_settings()
    assert settings.issuer == "https://id.example" and settings.access_token_ttl == 120
    assert settings.dev is True and settings.cookies_secure is True
    monkeypatch.setenv("IDP_ACCESS_TOKEN_TTL", "soon")
    with pytest.raises(ConfigError):
        load_settings()
    monkeypatch.setenv("IDP_ACCESS_TOKEN_TTL", "120")
    monkeypatch.setenv("IDP_ISSUER", "https://id.example/")
    with pytest.raises(ConfigError):
        load_settings()
    assert (
        Path(load_settings({"issuer": "http://x"}).effective_database_url[10:]).name
        == "idp.sqlite3"
    )


def test_D1_L8_M3_ad_connection_by_cli_mails_the_contractor(env, tmp_path):
    import email
    import re
    from email import policy

    run(["init"], env)
    contract = run(["contracts", "add", "AD Corp"], env).stdout.strip()
    run(
        [
            "users",
            "add",
            "--contract",
            contract,
            "--email",
            "owner@adcorp.example",
            "--password",
            "Owner-Pass-2026",
            "--role",
            "contractor",
        ],
        env,
    )
    m3 = run(
        [
            "users",
            "add",
            "--contract",
            contract,
            "--email",
            "boss2@adcorp.example",
            "--role",
            "contractor",
            "--method",
            "ad",
        ],
        env,
        check=False,
    )
    assert m3.returncode != 0 and "M3" in m3.stderr
    first = run(
        [
            "ad",
            "add",
            "--contract",
            contract,
            "--issuer",
            "https://fs.adcorp.example/adfs",
            "--client-id",
            "wd",
            "--client-secret",
            "s3cret-s3cret",
        ],
        env,
    ).stdout.strip()
    assert re.fullmatch(r"adfs-[a-z0-9]{18}", first)
    again = run(
        [
            "ad",
            "add",
            "--contract",
            contract,
            "--issuer",
            "https://fs.adcorp.example/adfs",
            "--client-id",
            "wd",
            "--client-secret",
            "x",
        ],
        env,
        check=False,
    )
    assert again.returncode != 0
    plain = run(
        [
            "ad",
            "add",
            "--contract",
            run(["contracts", "add", "B"], env).stdout.strip(),
            "--issuer",
            "http://fs.example/adfs",
            "--client-id",
            "a",
            "--client-secret",
            "b",
        ],
        env,
        check=False,
    )
    assert plain.returncode != 0 and "https" in plain.stderr

    outbox = sorted((tmp_path / "instance" / "outbox").glob("*.eml"))
    assert len(outbox) == 1
    mail = email.message_from_bytes(outbox[0].read_bytes(), policy=policy.default)
    assert mail["Subject"] == "【WORKSDRIVE】Active Directoryアカウントのログイン用URL・接続ID通知"
    assert mail["To"] == "owner@adcorp.example"
    text = mail.get_body(("plain",)).get_content()
    assert first in text
    assert f"http://127.0.0.1:9/login/ad/{first}" in text
    assert f"http://127.0.0.1:9/line/login/ad/{first}" in text

    ad_user = run(
        [
            "users",
            "add",
            "--contract",
            contract,
            "--email",
            "taro@adcorp.example",
            "--method",
            "ad",
        ],
        env,
    ).stdout.strip()
    linked = run(
        [
            "users",
            "link",
            "--user",
            ad_user,
            "--provider",
            "ad",
            "--issuer",
            "https://fs.adcorp.example/adfs",
            "--subject",
            "abc",
        ],
        env,
    )
    assert linked.stdout.strip()
    wrong = run(
        [
            "users",
            "link",
            "--user",
            ad_user,
            "--provider",
            "google",
            "--issuer",
            "https://accounts.google.com",
            "--subject",
            "1",
        ],
        env,
        check=False,
    )
    assert wrong.returncode != 0 and "login method" in wrong.stderr
    # The contract's AD user could not sign in without the connection: refused unless --force.
    in_use = run(["ad", "remove", first], env, check=False)
    assert in_use.returncode != 0 and "1 user(s)" in in_use.stderr
    assert first in run(["ad", "list"], env).stdout
    assert run(["ad", "remove", first, "--force"], env).stdout.strip() == f"removed {first}"
    assert first not in run(["ad", "list"], env).stdout


def _audit_rows(tmp_path):
    import sqlite3

    with sqlite3.connect(tmp_path / "instance" / "idp.sqlite3") as db:
        rows = db.execute("SELECT event, outcome, reason, contract_id, details FROM audit_events")
        return [(e, o, r, c, json.loads(d)) for e, o, r, c, d in rows]


@pytest.mark.covers("X3")
def test_X3_cli_changes_are_audited_with_the_cli_actor_and_purge_runs(env, tmp_path):
    run(["init"], env)
    contract = run(["contracts", "add", "Audited"], env).stdout.strip()
    refused = run(["lines", "add", "--contract", contract, "CAF12"], env, check=False)
    assert refused.returncode == 1 and "Error: not a line number" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert run(["purge"], env).stdout.startswith("ephemeral=")
    rows = {(e, o, r): (c, d) for e, o, r, c, d in _audit_rows(tmp_path)}
    contract_id, details = rows[("contract_add", "ok", None)]
    assert contract_id == contract and details["actor"]["kind"] == "cli"
    assert rows[("line_add", "refused", "not_a_line_number")][1]["actor"]["kind"] == "cli"
    assert rows[("purge", "ok", None)][1]["actor"]["kind"] == "cli"


def test_cli_help_loads_neither_flask_nor_sqlalchemy():
    """Issue 13 (``idp --help`` under 0.3 s): the command line's own modules import click and
    the vocabulary only; the app, Flask and SQLAlchemy load inside the command that needs
    them. Counted by module, not timed."""
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from idp.cli import main\n"
        "result = CliRunner().invoke(main, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted({'flask', 'sqlalchemy', 'authlib', 'redis'} & set(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_G7_cli_registers_a_service_client_of_one_contract(env):
    """Issue 12's command: ``idp clients add --name NAME --contract ID --grant
    client_credentials --scope "admin:read admin:write"`` prints client_id and secret."""
    run(["init"], env)
    contract = run(["contracts", "add", "Acme"], env).stdout.strip()
    args = ["clients", "add", "--name", "Directory sync", "--grant", "client_credentials"]
    printed = run([*args, "--contract", contract, "--scope", "admin:read admin:write"], env).stdout
    lines = dict(line.split("=", 1) for line in printed.split())
    assert set(lines) == {"client_id", "client_secret"} and len(lines["client_secret"]) >= 32
    without_contract = run(args, env, check=False)
    assert without_contract.returncode != 0 and "active contract" in without_contract.stderr
    relying_party_without_uri = run(["clients", "add", "--name", "RP"], env, check=False)
    assert relying_party_without_uri.returncode != 0
    assert "redirect URI" in relying_party_without_uri.stderr


@pytest.mark.covers("G7")
def test_G7_cli_issues_and_revokes_scim_tokens_of_one_contract(env, tmp_path):
    """Issue 12's commands: ``idp scim token --contract ID`` prints a new token (once) and
    ``idp scim revoke --contract ID [--token-id ID]`` revokes them."""
    run(["init"], env)
    contract = run(["contracts", "add", "Acme"], env).stdout.strip()
    first = dict(
        line.split("=", 1)
        for line in run(["scim", "token", "--contract", contract], env).stdout.split()
    )
    second = dict(
        line.split("=", 1)
        for line in run(["scim", "token", "--contract", contract], env).stdout.split()
    )
    assert set(first) == {"token_id", "token"} and first["token"] != second["token"]
    assert first["token"].startswith("wdscim_") and len(first["token"]) >= 7 + 43  # 256 bits
    one = run(["scim", "revoke", "--contract", contract, "--token-id", first["token_id"]], env)
    assert one.stdout.strip() == "revoked=1"
    again = run(
        ["scim", "revoke", "--contract", contract, "--token-id", first["token_id"]],
        env,
        check=False,
    )
    assert again.returncode != 0 and "no live SCIM token" in again.stderr
    assert run(["scim", "revoke", "--contract", contract], env).stdout.strip() == "revoked=1"
    unknown = run(["scim", "token", "--contract", "no-such-contract"], env, check=False)
    assert unknown.returncode != 0 and "no contract" in unknown.stderr
    rows = _audit_rows(tmp_path)
    assert [(r[0], r[1]) for r in rows if r[0].startswith("scim_")] == [
        ("scim_token_issue", "ok"),
        ("scim_token_issue", "ok"),
        ("scim_token_revoke", "ok"),
        ("scim_token_revoke", "refused"),
        ("scim_token_revoke", "ok"),
        ("scim_token_issue", "refused"),
    ]
    assert first["token"] not in json.dumps(rows)  # only its id is ever written


def test_domain_commands_load_no_web_surface(env):
    """Issue 13 (a simple command under 1 s): a command that only calls the domain builds the
    app without its pages and endpoints, so it never imports them (SCIM's models alone cost
    ~0.4 s). Counted by module, not timed; `idp serve` and `idp demo` keep every view."""
    script = (
        "import sys\n"
        "from flask import current_app\n"
        "from idp.cli.app import make_app, with_app\n"
        "surfaces = ('idp.scim', 'idp.login.views', 'idp.admin.console', 'idp.account_menu')\n"
        "@with_app\n"
        "def command():\n"
        "    loaded = sorted(s for s in surfaces if s in sys.modules)\n"
        "    print(loaded, len(current_app.view_functions))\n"
        "command()\n"
        "full = make_app()\n"
        "print('login.identify' in full.view_functions)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    light, full = done.stdout.strip().splitlines()
    assert light == "[] 1"  # Flask's own static route only
    assert full == "True"
