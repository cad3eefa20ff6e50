"""X3, G8: the console's "what if" for one user — the steps a sign-in would need and why, for a
route and a browser state, by the same rules as the live sign-in (compared with live sign-ins in
tests/test_what_if_live.py); another contract's user is 404, a bad form the page again."""

from __future__ import annotations

import re

from idp.actor import Actor
from idp.contracts.contract import set_two_factor
from idp.contracts.lines import add_line
from tests.field_errors import assert_field_error
from tests.test_admin_console import signed_in_admin


def steps(page) -> list[tuple[str, str]]:
    return re.findall(r'data-step="([a-z_]+)" data-reason="([a-z0-9_]*)"', page.text)


def test_X3_what_if_shows_the_steps_and_their_reasons(provider):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    user_id, _email = provider.new_user(contract_id, name="想定 花子")
    detail = browser.get(f"/admin/users/{user_id}")
    assert 'id="what-if"' in detail.text
    empty = browser.get(f"/admin/users/{user_id}/what-if")
    assert empty.status_code == 200 and 'id="what-if-form"' in empty.text
    assert 'id="steps"' not in empty.text
    # 2FA off: the internet, a new browser → identified by password, then signed in.
    off = browser.get(f"/admin/users/{user_id}/what-if?route=internet&browser=new")
    assert off.status_code == 200
    assert steps(off) == [("identify", ""), ("done", "2fa_off")]
    with provider.app.app_context():
        set_two_factor(Actor.cli(), contract_id, True)
    on = browser.get(f"/admin/users/{user_id}/what-if?route=internet&browser=new")
    assert [name for name, _reason in steps(on)] == ["identify", "second_factor", "done"]
    assert 'data-detail="enroll"' in on.text and "2段階認証: 登録" in on.text
    # An unregistered line: refused with the line rule, said in words.
    with provider.app.app_context():
        add_line(Actor.cli(), contract_id, "CAF1234567890")
    line = browser.get(
        f"/admin/users/{user_id}/what-if?route=line&line=CAF0000000000&area=east&browser=new"
    )
    assert ("refused", "line_not_registered") in steps(line), line.text[-1500:]


def test_X3_G8_what_if_refuses_bad_input_and_other_contracts_users(provider):
    """X3, G8, issue 14: each bad field's message is beside it (aria-describedby), the field
    or radio group aria-invalid, the first one focused (a group: its first radio button)."""
    browser, _contract_id, _admin_id = signed_in_admin(provider)
    stranger_id, _ = provider.new_user(provider.new_contract())
    assert browser.get(f"/admin/users/{stranger_id}/what-if").status_code == 404
    _browser, contract_id, _ = signed_in_admin(provider)
    user_id, _ = provider.new_user(contract_id)
    page = _browser.get(f"/admin/users/{user_id}/what-if?route=line&line=&browser=new")
    assert page.status_code == 400
    assert_field_error(page.text, "line", "回線番号を入力してください")
    bad = _browser.get(f"/admin/users/{user_id}/what-if?route=line&line=12345&browser=new")
    assert bad.status_code == 400
    assert_field_error(bad.text, "line", "回線番号ではありません")
    odd = _browser.get(f"/admin/users/{user_id}/what-if?route=moon&area=north&browser=old")
    assert odd.status_code == 400
    assert_field_error(odd.text, "route", "インターネットか回線かを選んでください")
    assert_field_error(odd.text, "area", "東日本か西日本かを選んでください", first=False)
    assert_field_error(odd.text, "browser", "選んでください", first=False)
    assert "autofocus" in re.search(r'<input [^>]*id="route-internet"[^>]*>', odd.text).group(0)
