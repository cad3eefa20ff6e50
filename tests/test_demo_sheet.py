"""Issue 14: ``make demo``'s "try this" sheet — printed by ``idp demo`` once its servers
answer, and served at /dev/demo (``IDP_DEV`` only) from the live state, so that it stays true
after a password is reset in the demo. O1 (the demo frontend as a client), L9 (the line
gateway the demo starts)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from idp.actor import Actor
from idp.demo.accounts import USERS
from idp.demo.run import prepare_demo
from idp.demo.run import reset_demo
from idp.demo.sheet import SHOWS
from idp.demo.sheet import Sheet
from idp.demo.sheet import SheetUser
from idp.demo.sheet import format_sheet
from tests.conftest import Provider
from tests.conftest import served_provider
from tests.demo_run import running_demo

TIMEOUT = 10


@pytest.fixture(scope="module")
def dev_provider(smtp_sink: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """A provider with ``IDP_DEV`` on and the demo prepared in it."""
    with served_provider(tmp_path_factory.mktemp("demo-dev"), smtp_sink, dev=True) as provider:
        prepare_demo(provider.app, "http://127.0.0.1:9", "http://127.0.0.1:10")
        yield provider


@pytest.fixture(scope="module")
def plain_provider(smtp_sink: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    """A provider without ``IDP_DEV``, with a demo prepared in its instance all the same."""
    with served_provider(tmp_path_factory.mktemp("demo-plain"), smtp_sink) as provider:
        prepare_demo(provider.app, "http://127.0.0.1:9", "http://127.0.0.1:10")
        yield provider


def _statuses(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-user="([a-z_]+)" data-status="([a-z]+)"', html))


@pytest.mark.covers("O1")
def test_dev_pages_exist_only_with_IDP_DEV(plain_provider, dev_provider):
    for path in ("/dev/demo", "/dev/outbox"):
        assert requests.get(plain_provider.url + path, timeout=TIMEOUT).status_code == 404
        assert requests.get(dev_provider.url + path, timeout=TIMEOUT).status_code == 200
    assert 'id="dev-links"' not in requests.get(plain_provider.url + "/", timeout=TIMEOUT).text
    home = requests.get(dev_provider.url + "/", timeout=TIMEOUT).text
    assert 'id="dev-demo" href="/dev/demo"' in home


@pytest.mark.covers("O1", "L9")
def test_demo_sheet_lists_the_users_and_follows_a_password_reset(dev_provider):
    from idp.contracts.lines import choose_line_notification
    from idp.models import User
    from idp.models import db
    from idp.users.disable import disable_user
    from idp.users.reset import set_new_password

    page = requests.get(dev_provider.url + "/dev/demo?lang=en", timeout=TIMEOUT)
    assert page.status_code == 200
    for spec in USERS:
        assert spec.email in page.text and f'class="password">{spec.password}<' in page.text
    assert _statuses(page.text) == {spec.key: "demo" for spec in USERS}
    assert "CAF1234567890" in page.text and "http://127.0.0.1:10" in page.text

    # The plain user resets the password in the demo (the issue: the old sheet kept
    # printing the old password as if it still worked).
    with dev_provider.app.app_context():
        user = db.session.query(User).filter_by(email="user@demo.example").one()
        set_new_password(Actor.user(user.id, user.contract_id), user, "Another-Pass-Word-9")
    page = requests.get(dev_provider.url + "/dev/demo?lang=en", timeout=TIMEOUT)
    assert _statuses(page.text)["user"] == "changed"
    assert "Password changed by you: `idp demo --reset` restores" in page.text
    japanese = requests.get(dev_provider.url + "/dev/demo?lang=ja", timeout=TIMEOUT).text
    assert "パスワードはデモの中で変更されました" in japanese

    # An admin disables the 2FA user; the line's first sign-in answered "do not notify".
    with dev_provider.app.app_context():
        other = db.session.query(User).filter_by(email="twostep@demo.example").one()
        disable_user(Actor.cli(), other)
        line_contract = db.session.query(User).filter_by(email="line@demo.example").one()
        choose_line_notification(
            Actor.cli(), line_contract.contract_id, "CAF1234567890", "do_not_notify"
        )
    page = requests.get(dev_provider.url + "/dev/demo?lang=en", timeout=TIMEOUT)
    assert _statuses(page.text)["two_factor"] == "disabled"
    assert "do not notify: line authentication is closed for this line" in page.text

    assert reset_demo(dev_provider.app) == [
        "user@demo.example: demo password",
        "twostep@demo.example: enabled",
        "CAF1234567890: notification choice not asked yet",
    ]
    page = requests.get(dev_provider.url + "/dev/demo?lang=en", timeout=TIMEOUT)
    assert _statuses(page.text) == {spec.key: "demo" for spec in USERS}
    assert "not chosen yet: the first line sign-in asks" in page.text


def test_the_printed_sheet_says_a_changed_password_is_not_the_demo_one():
    """The terminal's sheet: each user's demo password, and under a changed one the way back
    (the old sheet printed a password that no longer worked)."""
    users = [SheetUser(s.key, s.email, s.password, "demo", SHOWS[s.key]) for s in USERS]
    users[1] = SheetUser("user", "user@demo.example", "Demo-Pass-Riyou-2", "changed", "")
    text = format_sheet(
        Sheet([("Account menu", "http://127.0.0.1:8000/account")], users, "CAF1", "west", "x")
    )
    lines = text.splitlines()
    at = lines.index("  user@demo.example          Demo-Pass-Riyou-2")
    assert lines[at + 2].strip().startswith("!! Password changed by you: `idp demo --reset`")
    assert sum("!!" in line for line in lines) == 1
    assert max(len(line) for line in lines) <= 78


@pytest.mark.covers("O1", "L9")
def test_idp_demo_prints_the_sheet_once_its_servers_answer(tmp_path):
    with running_demo(tmp_path) as demo:
        issuer, frontend, gateway = demo.urls
        output = demo.output
        for spec in USERS:
            assert re.search(rf"{re.escape(spec.email)} +{re.escape(spec.password)}\n", output)
        for url in (frontend, f"{issuer}/account", f"{issuer}/admin", f"{issuer}/dev/outbox"):
            assert url in output
        assert gateway in output and "CAF1234567890 (west)" in output
        # Printed once the servers answer: each of the three does at once.
        assert requests.get(frontend + "/", timeout=TIMEOUT).status_code == 200
        sheet = requests.get(issuer + "/dev/demo", timeout=TIMEOUT)
        assert sheet.status_code == 200 and "Demo-Pass-Riyou-2" in sheet.text
        # The gateway forwards to the provider as the demo line.
        assert requests.get(gateway + "/", timeout=TIMEOUT).status_code == 200
        # The request log goes to the instance's demo.log, not under the sheet.
        log = (tmp_path / "instance" / "demo.log").read_text()
        assert "GET /dev/demo" in log
        # A second demo on the same ports says why it cannot start, not a traceback.
        second = subprocess.run(
            demo.command, env=demo.env, capture_output=True, text=True, timeout=60
        )
        assert second.returncode != 0 and "Traceback" not in second.stderr
        assert f"Port {demo.ports[0]} is in use by another program" in second.stderr
