"""G1–G5, G8, M2, X3: the admin console at /admin, driven like a browser (forms with CSRF).

Who gets in (G1: the contractor and admins after the account menu's sign-in with every policy
of the contract; everyone else a 403 page; destructive operations after a fresh sign-in), the
users list (search, filters, sort, keyset paging, the capped count) and detail, invitations,
each per-user operation, the M2 email-change screen, line numbers and the route, and another
contract's ids answering 404 on every page and operation (G8)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from html import unescape

import pytest
import time_machine

from idp.actor import Actor
from idp.contracts.ad import add_ad_connection
from idp.contracts.lines import add_line
from idp.models import Contract
from idp.models import LineNumber
from idp.models import User
from idp.models import utcnow
from idp.users.invitations import invite_user
from idp.users.listing import COUNT_CAP
from idp.users.lockout import lock_by_admin
from tests.conftest import PASSWORD
from tests.field_errors import assert_field_error
from tests.field_errors import assert_no_field_error
from tests.field_errors import text_of
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.test_user_listing import people


def console_sign_in(provider, email, path="/admin", browser=None):
    """Open a console page: the account menu's sign-in comes first, then the page."""
    browser = browser or Browser(provider.url)
    page = browser.get(path)
    assert 'id="password-form"' in page.text, page.text[:300]
    return browser, browser.submit(page, "password-form", email=email, password=PASSWORD)


def contract_with(provider, role="admin", **contract):
    """A contract with its contractor, and a signed-in console person of ``role``."""
    contract.setdefault("two_factor", False)
    contract_id = provider.new_contract(**contract)
    boss_id, boss_email = provider.new_user(contract_id, role="contractor", name="契約 太郎")
    if role == "contractor":
        return contract_id, boss_id, boss_email
    person_id, email = provider.new_user(contract_id, role=role, name="管理 次郎")
    return contract_id, person_id, email


def signed_in_admin(provider, role="admin", **contract):
    contract_id, person_id, email = contract_with(provider, role, **contract)
    browser, page = console_sign_in(provider, email)
    assert page.status_code == 200 and 'id="users-heading"' in page.text, page.text[:300]
    return browser, contract_id, person_id


def user_row(provider, user_id):
    with provider.app.app_context():
        session = provider.db().session
        session.expire_all()
        return session.get(User, user_id)


def rows_of(page) -> list[str]:
    return re.findall(r'class="user-row" data-user="([0-9a-f]+)"', page.text)


def contractor_of(provider, contract_id) -> str:
    with provider.app.app_context():
        users = provider.db().session.query(User).filter_by(contract_id=contract_id)
        return users.filter_by(role="contractor").one().id


def post(browser, path, **data):
    """A POST as a tampering browser would send it: its own CSRF token, any values."""
    csrf = forms_in(browser.get("/admin/invitations").text)[0].fields["csrf_token"]
    return browser.session.post(
        browser.provider_url + path, data={"csrf_token": csrf, **data}, allow_redirects=False
    )


# --- G1: who gets in ---------------------------------------------------------------------------


@pytest.mark.covers("G1", "U1")
@pytest.mark.parametrize("role", ["contractor", "admin", "user"])
def test_G1_the_contractor_and_admins_get_in_a_user_gets_403(provider, role):
    _contract_id, _person_id, email = contract_with(provider, role)
    browser, page = console_sign_in(provider, email)
    menu = browser.get("/account")
    if role == "user":
        assert page.status_code == 403 and 'data-reason="not_admin"' in page.text
        assert "管理コンソールは、契約者と管理者権限を持つ利用者のためのものです" in page.text
        assert 'id="to-admin-console"' not in menu.text
        for path in ("/admin/users", "/admin/invitations", "/admin/lines", "/admin/route"):
            refused = browser.session.get(provider.url + path, allow_redirects=False)
            assert refused.status_code == 403, path
        return
    assert page.status_code == 200 and page.url == f"{provider.url}/admin/users"
    assert "管理コンソール" in page.text and email in page.text
    # U1: the account menu links the console for those who may use it.
    assert 'id="to-admin-console" href="/admin/users"' in menu.text


@pytest.mark.covers("G1")
def test_G1_a_page_asked_before_signing_in_comes_after_it(provider):
    contract_id, _admin_id, email = contract_with(provider)
    user_id, _user_email = provider.new_user(contract_id)
    _browser, page = console_sign_in(provider, email, f"/admin/users/{user_id}")
    assert page.url == f"{provider.url}/admin/users/{user_id}"
    assert 'id="user-facts"' in page.text
    # Only console and menu paths are followed after the sign-in (no open redirect).
    browser = Browser(provider.url)
    page = browser.get("/account/login", params={"next": "/admin//evil.example"})
    done = browser.submit(page, "password-form", email=email, password=PASSWORD)
    assert done.url == f"{provider.url}/account"


@pytest.mark.covers("G1", "L3")
def test_G1_the_sign_in_applies_the_contracts_two_step_verification(provider):
    _contract_id, _admin_id, email = contract_with(provider, two_factor=True)
    _browser, page = console_sign_in(provider, email)
    assert "/login/2fa/enroll/sms" in page.url and 'id="phone-form"' in page.text


@pytest.mark.covers("G1", "A1", "A3")
def test_G1_line_only_closes_the_console_to_an_internet_session_even_the_contractors(provider):
    contract_id, _boss_id, email = contract_with(provider, "contractor")
    with provider.app.app_context():
        add_line(Actor.cli(), contract_id, "CAF0000000001")
    browser, page = console_sign_in(provider, email)
    assert page.status_code == 200
    with provider.app.app_context():
        provider.db().session.get(Contract, contract_id).access_route = "line-only"
        provider.db().session.commit()
    refused = browser.get("/admin/users")
    assert refused.status_code == 403 and 'data-reason="route_line_only"' in refused.text
    # A3: the account menu still opens for the contractor, to put the route back.
    assert browser.get("/account/access-route").status_code == 200
    # And an admin's internet sign-in is refused by the sign-in itself.
    _admin_id, admin_email = provider.new_user(contract_id, role="admin")
    _other, page = console_sign_in(provider, admin_email)
    assert page.status_code == 403 and 'data-reason="route_line_only"' in page.text


@pytest.mark.covers("G1", "C1")
def test_G1_after_the_trial_the_contractor_has_the_menu_but_not_the_console(provider):
    contract_id, _boss_id, email = contract_with(provider, "contractor", plan="trial")
    with provider.app.app_context():
        started = provider.db().session.get(Contract, contract_id).trial_started_at
    started = started if started.tzinfo else started.replace(tzinfo=UTC)
    with time_machine.travel(started + timedelta(days=31), tick=False):
        browser, page = console_sign_in(provider, email)
        assert page.status_code == 403 and 'data-reason="trial_ended"' in page.text
        menu = browser.get("/account")
        assert menu.status_code == 200 and 'id="to-admin-console"' not in menu.text


@pytest.mark.covers("G1", "G4")
@pytest.mark.parametrize("operation", ["sign-out", "delete", "reset-two-factor", "disable", "role"])
def test_G1_destructive_operations_ask_for_a_fresh_sign_in(provider, operation):
    contract_id, _admin_id, email = contract_with(provider)
    user_id, _user_email = provider.new_user(contract_id)
    path = f"/admin/users/{user_id}/{operation}"
    start = datetime.now(UTC).replace(microsecond=0)  # auth_time counts whole seconds
    with time_machine.travel(start, tick=False):
        browser, _page = console_sign_in(provider, email)
    with time_machine.travel(start + timedelta(minutes=5), tick=False):
        confirmation = browser.get(path)
        assert 'id="confirm-form"' in confirmation.text
    with time_machine.travel(start + timedelta(minutes=5, seconds=1), tick=False):
        # The posted form of a stale sign-in changes nothing: the sign-in again ...
        stale = browser.submit(confirmation, "confirm-form")
        assert 'id="password-form"' in stale.text and email in stale.text
        assert user_row(provider, user_id) is not None
        # ... a non-destructive page does not ask ...
        assert 'id="users-heading"' in browser.get("/admin/users").text
        # ... and after it, the confirmation again.
        back = browser.submit(stale, "password-form", email=email, password=PASSWORD)
        assert back.url == f"{provider.url}{path}" and 'id="confirm-form"' in back.text
        browser.submit(back, "confirm-form")
    if operation == "delete":
        assert user_row(provider, user_id) is None


# --- G2: the list and the detail ---------------------------------------------------------------


@pytest.mark.covers("G2", "X9")
def test_G2_search_with_japanese_names_and_each_filter(provider):
    browser, contract_id, admin_id = signed_in_admin(provider)
    made = people(provider, contract_id, ["田中 太郎", "田中 花子", "山田 一郎", "Tanaka Yui"])
    ids = {name: user_id for user_id, _email, name in made}
    with provider.app.app_context():
        lock_by_admin(Actor.cli(), provider.db().session.get(User, ids["山田 一郎"]))
        invitation = invite_user(Actor.cli(), contract_id, f"inv-{uuid.uuid4().hex[:6]}@x.jp")
        invited_id = invitation.user_id

    def listed(**params):
        page = browser.get("/admin/users", params=params)
        assert page.status_code == 200, page.text[:300]
        return set(rows_of(page))

    assert listed(q="田中") == {ids["田中 太郎"], ids["田中 花子"]}
    assert listed(q="ｔａｎａｋａ") == {ids["Tanaka Yui"]}  # width and case ignored
    assert listed(locked="yes") == {ids["山田 一郎"]}
    assert listed(invited="yes") == {invited_id}
    assert invited_id not in listed(invited="no")
    assert listed(role="admin") == {admin_id}
    assert listed(role="contractor", q="契約")
    assert listed(two_factor="yes") == set()
    assert listed(method="google") == set()
    # The filters show what was chosen; an unknown value is said and ignored, never a 500.
    page = browser.get("/admin/users", params={"q": "田中", "locked": "maybe", "sort": "x"})
    assert page.status_code == 200 and 'value="田中"' in page.text
    assert set(rows_of(page)) == {ids["田中 太郎"], ids["田中 花子"]}


@pytest.mark.covers("G2")
def test_G2_an_unusable_search_condition_is_said_beside_its_field_which_has_the_focus(provider):
    """Issue 14: each condition that could not be used is named beside its own field (its
    aria-describedby), the field is aria-invalid, the first one has the focus; a page link of
    another list is said at the top only."""
    browser, _contract_id, _admin_id = signed_in_admin(provider)
    ignored = "この条件は使えないため、無視しました。"
    page = browser.get("/admin/users", params={"q": "田中", "locked": "maybe", "sort": "x"})
    assert page.status_code == 200
    assert_field_error(page.text, "locked", ignored, first=True)
    assert_field_error(page.text, "sort", ignored, first=False)
    assert "aria-invalid" not in re.search(r"<input id=\"q\"[^>]*>", page.text).group(0)
    stale = browser.get("/admin/users", params={"cursor": "not-a-cursor"})
    assert stale.status_code == 400
    assert "ページのリンクが正しくありません" in text_of(stale.text, "error")
    assert_no_field_error(stale.text)
    english = browser.get("/admin/users", params={"role": "root", "lang": "en"})
    assert_field_error(english.text, "role", "This condition could not be used and was ignored.")


@pytest.mark.covers("G2", "X9")
def test_G2_keyset_pages_with_next_and_first_links_sorted_both_ways(provider):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    people(provider, contract_id, [f"頁 {index:03d}" for index in range(60)])
    for order in ("asc", "desc"):
        first = browser.get("/admin/users", params={"q": "頁", "sort": "name", "order": order})
        assert 'id="first-page"' not in first.text
        assert re.search(r'id="user-count"[^>]*>60 人<', first.text), first.text
        next_url = unescape(re.search(r'id="next-page" href="([^"]+)"', first.text).group(1))
        assert "cursor=" in next_url and "sort=name" in next_url and "q=" in next_url
        second = browser.get(next_url)
        assert 'id="next-page"' not in second.text and 'id="first-page"' in second.text
        shown = re.findall(
            r"<td><span translate=\"no\">(頁 \d{3})</span></td>", first.text + second.text
        )
        expected = [f"頁 {index:03d}" for index in range(60)]
        assert shown == (expected if order == "asc" else expected[::-1])
        assert len(rows_of(first)) == 50 and len(rows_of(second)) == 10
    # A page link that is not this list's: the first page, said in words.
    tampered = browser.get("/admin/users", params={"cursor": "bm90LW91cnM", "q": "頁"})
    assert tampered.status_code == 400 and len(rows_of(tampered)) == 50
    assert "ページのリンクが正しくありません" in tampered.text


@pytest.mark.covers("G2", "X9")
def test_G2_the_count_is_shown_capped(provider):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    people(provider, contract_id, [f"多 {index}" for index in range(COUNT_CAP + 1)])
    page = browser.get("/admin/users")
    assert 'data-capped="yes"' in page.text and "1,000+ 人" in page.text
    english = browser.get("/admin/users", params={"lang": "en"})
    assert "1,000+ users" in english.text


@pytest.mark.covers("G2", "X3")
def test_G2_X3_detail_shows_the_user_and_sign_ins_with_reasons_in_words(provider, rp):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    user_id, email = provider.new_user(contract_id, name="田中 太郎")
    wrong = Browser(provider.url)
    wrong.submit(wrong.get(rp.authorize_url()), "password-form", email=email, password="x")
    rp.login_tokens(Browser(provider.url), email, PASSWORD)
    detail = browser.get(f"/admin/users/{user_id}")
    assert detail.status_code == 200
    assert 'id="email">' + email in detail.text and "田中 太郎" in detail.text
    assert 'data-role="user"' in detail.text and 'data-method="password"' in detail.text
    assert 'data-locked="no"' in detail.text
    # X3: the refusal with its reason code, in words.
    assert 'data-reason="wrong_password"' in detail.text
    assert "パスワードが誤っていました。" in detail.text
    assert 'data-outcome="ok"' in detail.text  # the sign-in after it
    assert 'id="last-sign-in">' in detail.text and "Never" not in detail.text
    english = browser.get(f"/admin/users/{user_id}", params={"lang": "en"})
    assert "The password was wrong." in english.text


# --- G3: invitations ---------------------------------------------------------------------------


@pytest.mark.covers("G3", "L10")
def test_G3_invite_one_user_then_resend_from_the_pending_list(provider, mailbox):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    email = f"new-{uuid.uuid4().hex[:8]}@example.jp"
    page = browser.get("/admin/invitations")
    done = browser.submit(
        page, "invite-form", email=email, name="招待 花子", role="admin", locale="ja"
    )
    assert "/admin/invitations?done=invited&" in done.url, done.url
    mail = mailbox.wait_for(to=email, subject_contains="利用者登録")
    assert "招待 花子" in mailbox.text_of(mail)
    assert email in done.text and 'class="invitation"' in done.text
    invited = re.search(r'class="invitation" data-user="([0-9a-f]+)"', done.text).group(1)
    assert user_row(provider, invited).role == "admin"
    mailbox.clear()
    resent = browser.submit(done, f"resend-{1}")
    assert "?done=resent&" in resent.url
    mailbox.wait_for(to=email, subject_contains="利用者登録")
    # G3: revoked after its confirmation page: the link is void and the person gone.
    link = [u for u in mailbox.links_in(mailbox.wait_for(to=email)) if "/links/" in u][-1]
    confirmation = browser.get(f"/admin/invitations/{invited}/revoke")
    assert email in confirmation.text and 'id="confirm-form"' in confirmation.text
    revoked = browser.submit(confirmation, "confirm-form")
    assert revoked.url.endswith("?done=revoked") and email not in revoked.text
    assert user_row(provider, invited) is None
    assert Browser(provider.url).get(link).status_code == 400
    assert browser.get(f"/admin/invitations/{invited}/revoke").status_code == 404
    # The address can be invited again; then a second invitation is refused in words.
    invite_page = browser.get("/admin/invitations")
    reinvited = browser.submit(invite_page, "invite-form", email=email, role="user", locale="ja")
    assert "?done=invited&" in reinvited.url
    again = browser.submit(
        browser.get("/admin/invitations"), "invite-form", email=email, role="user", locale="ja"
    )
    assert again.status_code == 400 and "このメールアドレスはすでに招待されています" in again.text
    empty = browser.submit(
        browser.get("/admin/invitations"), "invite-form", email="", role="user", locale="ja"
    )
    assert empty.status_code == 400 and "メールアドレスを入力してください。" in empty.text
    boss = browser.submit(
        browser.get("/admin/invitations"),
        "invite-form",
        email="b@example.jp",
        role="contractor",
        locale="ja",
    )
    assert boss.status_code == 400 and "利用者または管理者を選んでください。" in boss.text


# --- G4: per-user operations and M2 --------------------------------------------------------------


@pytest.mark.covers("G4", "K1")
def test_G4_unlock(provider, rp):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    user_id, email = provider.new_user(contract_id)
    with provider.app.app_context():
        lock_by_admin(Actor.cli(), provider.db().session.get(User, user_id))
    detail = browser.get(f"/admin/users/{user_id}")
    assert 'data-locked="yes"' in detail.text
    done = browser.submit(detail, "unlock-form")
    assert 'data-done="unlocked"' in done.text and 'data-locked="no"' in done.text
    assert rp.login_tokens(Browser(provider.url), email, PASSWORD)["access_token"]


@pytest.mark.covers("G4", "X2")
def test_G4_sign_out_everywhere_revokes_the_users_tokens(provider, rp):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    user_id, email = provider.new_user(contract_id)
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    confirmation = browser.get(f"/admin/users/{user_id}/sign-out")
    assert email in confirmation.text and 'id="self-warning"' not in confirmation.text
    done = browser.submit(confirmation, "confirm-form")
    assert 'data-done="signed_out"' in done.text
    assert rp.refresh(tokens["refresh_token"])["error"] == "invalid_grant"


@pytest.mark.covers("G4", "X7")
def test_G4_delete_revokes_every_token_and_the_user_is_gone(provider, rp):
    browser, contract_id, admin_id = signed_in_admin(provider)
    user_id, email = provider.new_user(contract_id)
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    done = browser.submit(browser.get(f"/admin/users/{user_id}/delete"), "confirm-form")
    assert 'data-done="deleted"' in done.text and user_id not in rows_of(done)
    assert user_row(provider, user_id) is None
    assert rp.refresh(tokens["refresh_token"])["error"] == "invalid_grant"
    assert browser.get(f"/admin/users/{user_id}").status_code == 404
    # Nobody deletes themselves, and the contractor is never deleted (policies/admin.py).
    own = browser.get(f"/admin/users/{admin_id}/delete")
    assert own.status_code == 403 and 'id="confirm-form"' not in own.text
    assert 'data-reason="self"' in own.text
    refused = post(browser, f"/admin/users/{admin_id}/delete")
    assert refused.status_code == 403 and user_row(provider, admin_id) is not None
    boss_id = contractor_of(provider, contract_id)
    refused = post(browser, f"/admin/users/{boss_id}/delete")
    assert refused.status_code == 403 and 'data-reason="contractor_account"' in refused.text
    assert "契約者のアカウントは無効化・削除できません" in refused.text
    assert user_row(provider, boss_id) is not None


@pytest.mark.covers("G4", "T2", "X2")
def test_G4_T2_reset_two_factor(provider):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    user_id, _email = provider.new_user(contract_id)
    with provider.app.app_context():
        user = provider.db().session.get(User, user_id)
        user.two_factor_enrolled_at = utcnow()
        provider.db().session.commit()
    detail = browser.get(f"/admin/users/{user_id}")
    assert 'id="reset-two-factor"' in detail.text
    confirmation = browser.get(f"/admin/users/{user_id}/reset-two-factor")
    done = browser.submit(confirmation, "confirm-form")
    assert 'data-done="two_factor_reset"' in done.text
    assert user_row(provider, user_id).two_factor_enrolled_at is None
    assert 'id="reset-two-factor"' not in done.text  # nothing left to reset


@pytest.mark.covers("G4")
def test_G4_the_contractor_grants_and_revokes_the_admin_privilege(provider):
    browser, contract_id, _boss_id = signed_in_admin(provider, role="contractor")
    user_id, email = provider.new_user(contract_id)
    detail = browser.get(f"/admin/users/{user_id}")
    granted = browser.submit(browser.get(f"/admin/users/{user_id}/role?admin=yes"), "confirm-form")
    assert 'data-done="role_changed"' in granted.text and 'data-role="admin"' in granted.text
    assert 'id="grant-admin"' in detail.text and 'id="revoke-admin"' in granted.text
    # The new admin gets in.
    _other, page = console_sign_in(provider, email)
    assert page.status_code == 200 and 'id="users-heading"' in page.text
    revoked = browser.submit(browser.get(f"/admin/users/{user_id}/role?admin=no"), "confirm-form")
    assert 'data-role="user"' in revoked.text
    # From their next page on, the console is closed to them (the role is read each time).
    assert _other.get("/admin/users").status_code == 403
    again = post(browser, f"/admin/users/{user_id}/role", admin="no")
    assert again.status_code == 409 and 'data-reason="already_user"' in again.text


@pytest.mark.covers("G4", "G8")
def test_G4_privilege_escalation_attempts_are_refused(provider):
    """Nobody raises their own privilege; the contractor's role never changes; an admin does
    not demote, disable or delete another admin (the contractor's), whatever is posted."""
    browser, contract_id, admin_id = signed_in_admin(provider)
    boss_id = contractor_of(provider, contract_id)
    peer_id, _peer = provider.new_user(contract_id, role="admin")
    user_id, user_email = provider.new_user(contract_id)
    for path, data, reason in (
        (f"/admin/users/{boss_id}/role", {"admin": "no"}, "contractor_role"),
        (f"/admin/users/{boss_id}/role", {"admin": "yes"}, "contractor_role"),
        (f"/admin/users/{boss_id}/disable", {}, "contractor_account"),
        (f"/admin/users/{boss_id}/reset-two-factor", {}, "target_contractor"),
        (f"/admin/users/{peer_id}/role", {"admin": "no"}, "peer_admin"),
        (f"/admin/users/{peer_id}/disable", {}, "peer_admin"),
        (f"/admin/users/{peer_id}/delete", {}, "peer_admin"),
        (f"/admin/users/{admin_id}/disable", {}, "self"),
        (f"/admin/users/{admin_id}/role", {"admin": "yes"}, "self_raise"),
    ):
        refused = post(browser, path, **data)
        assert refused.status_code == 403, (path, refused.status_code)
        assert f'data-reason="{reason}"' in refused.text, (path, refused.text[-300:])
    assert [user_row(provider, i).role for i in (boss_id, peer_id)] == ["contractor", "admin"]
    assert user_row(provider, peer_id).disabled_at is None
    # A plain user raises their own privilege: they never reach the console at all.
    other, page = console_sign_in(provider, user_email)
    assert page.status_code == 403
    csrf = forms_in(other.get("/account/password").text)[0].fields["csrf_token"]
    attempt = other.session.post(
        f"{provider.url}/admin/users/{user_id}/role",
        data={"csrf_token": csrf, "admin": "yes"},
        allow_redirects=False,
    )
    assert attempt.status_code == 403 and user_row(provider, user_id).role == "user"
    # The buttons follow the same rule: none to raise oneself or touch the contractor's role.
    own = browser.get(f"/admin/users/{admin_id}")
    assert 'id="grant-admin"' not in own.text and 'id="disable"' not in own.text
    boss = browser.get(f"/admin/users/{boss_id}")
    assert 'id="revoke-admin"' not in boss.text and 'id="delete"' not in boss.text


@pytest.mark.covers("G4", "X7")
def test_G4_disable_refuses_sign_in_and_enable_restores_it(provider, rp):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    user_id, email = provider.new_user(contract_id)
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    done = browser.submit(browser.get(f"/admin/users/{user_id}/disable"), "confirm-form")
    assert 'data-done="disabled"' in done.text and 'data-disabled="yes"' in done.text
    assert rp.refresh(tokens["refresh_token"])["error"] == "invalid_grant"
    refused = Browser(provider.url)
    page = refused.submit(
        refused.get(rp.authorize_url()), "password-form", email=email, password=PASSWORD
    )
    assert page.status_code == 403 and 'data-reason="disabled"' in page.text
    listed = browser.get("/admin/users", params={"disabled": "yes"})
    assert rows_of(listed) == [user_id]
    enabled = browser.submit(done, "enable-form")
    assert 'data-done="enabled"' in enabled.text and 'data-disabled="no"' in enabled.text
    assert rp.login_tokens(Browser(provider.url), email, PASSWORD)["access_token"]


@pytest.mark.covers("M2", "G4", "M6", "M7")
def test_M2_same_email_mails_a_method_link_a_new_one_an_email_change_link(provider, mailbox):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    user_id, email = provider.new_user(contract_id)
    screen = browser.get(f"/admin/users/{user_id}/email")
    assert f'value="{email}"' in screen.text
    done = browser.submit(screen, "email-change-form")
    assert 'data-done="link_sent"' in done.text
    mailbox.wait_for(to=email, subject_contains="ログイン方法の設定変更")
    new = f"moved-{uuid.uuid4().hex[:8]}@example.jp"
    done = browser.submit(
        browser.get(f"/admin/users/{user_id}/email"), "email-change-form", email=new
    )
    assert 'data-done="email_link_sent"' in done.text
    mailbox.wait_for(to=new, subject_contains="メールアドレス変更登録")
    assert user_row(provider, user_id).email == email  # nothing changes before the link
    bad = browser.submit(
        browser.get(f"/admin/users/{user_id}/email"), "email-change-form", email="x"
    )
    assert bad.status_code == 400 and "正しいメールアドレスを入力してください" in bad.text
    # Issue 14: beside the field, which is invalid and has the focus; the value is kept.
    assert_field_error(bad.text, "email", "正しいメールアドレスを入力してください")
    assert 'value="x"' in bad.text


# --- G5: lines, route, AD read-only ------------------------------------------------------------


@pytest.mark.covers("G5", "A2")
def test_G5_A2_lines_added_several_at_once_validated_and_removed(provider):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    page = browser.get("/admin/lines")
    assert 'id="no-lines"' in page.text
    bad = browser.submit(page, "add-lines-form", numbers="CAF-0123-4567-89\nCOP1234\nCAF0123456789")
    assert bad.status_code == 400
    assert "COP1234 は回線番号ではありません" in bad.text and "2回入力されています" in bad.text
    # Issue 14: every bad entry beside the field, which is invalid and has the focus.
    assert_field_error(bad.text, "numbers", "COP1234 は回線番号ではありません")
    assert_field_error(bad.text, "numbers", "2回入力されています")
    with provider.app.app_context():
        assert (
            provider.db().session.query(LineNumber).filter_by(contract_id=contract_id).count() == 0
        )
    done = browser.submit(page, "add-lines-form", numbers="caf 0123 4567 89, COP-1234-5678")
    assert 'data-done="added"' in done.text
    assert re.findall(r'data-line="(\w+)"', done.text) == ["CAF0123456789", "COP12345678"]
    again = browser.submit(done, "add-lines-form", numbers="CAF0123456789")
    assert again.status_code == 400 and "CAF0123456789 はすでに登録されています。" in again.text
    removed = browser.submit(done, "remove-1")
    assert re.findall(r'data-line="(\w+)"', removed.text) == ["COP12345678"]


@pytest.mark.covers("G5", "A1", "A4")
def test_G5_the_route_with_the_line_only_warning(provider):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    page = browser.get("/admin/route")
    confirmation = browser.submit(page, "route-form", route="line-only")
    assert 'id="line-only-warning"' in confirmation.text
    assert (
        'id="no-lines-warning"' in confirmation.text and 'id="console-warning"' in confirmation.text
    )
    wrong = browser.submit(page, "route-form", route="everything")
    assert wrong.status_code == 400 and "アクセス経路を選択してください" in wrong.text
    # Issue 14: said on the radio group, whose first radio button has the focus.
    assert_field_error(wrong.text, "route", "アクセス経路を選択してください")
    applied = browser.submit(confirmation, "route-confirm-form")
    with provider.app.app_context():
        assert provider.db().session.get(Contract, contract_id).access_route == "line-only"
    # This internet session no longer opens the console (G1).
    assert applied.status_code == 403 and 'data-reason="route_line_only"' in applied.text


@pytest.mark.covers("G5", "D2")
def test_G5_D2_the_ad_setting_is_shown_read_only(provider):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    assert 'data-configured="no"' in browser.get("/admin/lines").text
    with provider.app.app_context():
        connection = add_ad_connection(
            Actor.cli(),
            contract_id,
            "adfs",
            {"issuer": "https://adfs.example/adfs", "client_id": "wd"},
            "secret",
        )
    page = browser.get("/admin/lines")
    assert connection.connection_id in page.text and 'id="ad-read-only"' in page.text
    assert 'data-kind="adfs"' in page.text and 'id="to-ad-setting"' not in page.text
    assert "secret" not in page.text and 'action="/account/ad"' not in page.text


# --- G8: another contract's ids ------------------------------------------------------------------


def _csrf(browser):
    return forms_in(browser.get("/admin/invitations").text)[0].fields["csrf_token"]


@pytest.mark.covers("G8", "G4", "G3", "G5")
def test_G8_another_contracts_user_or_line_is_not_found_on_every_page_and_operation(
    provider, rp, mailbox
):
    browser, _contract_id, _admin_id = signed_in_admin(provider, role="contractor")
    other_contract, _other_admin, _ = contract_with(provider)
    victim_id, victim_email = provider.new_user(other_contract)
    with provider.app.app_context():
        lock_by_admin(Actor.cli(), provider.db().session.get(User, victim_id))
        invited = invite_user(Actor.cli(), other_contract, f"inv-{uuid.uuid4().hex[:6]}@x.jp")
        add_line(Actor.cli(), other_contract, "CAF9999999999")
    # A fresh sign-in: the destructive operations would ask for one first.
    csrf = _csrf(browser)
    # The invitation's (and the lock's) mails are sent off the request: wait until they are
    # out, so that none of them lands after the clear and passes for one the probes caused.
    provider.app.extensions["idp.mailer"].wait_idle()
    mailbox.clear()
    for path in (
        f"/admin/users/{victim_id}",
        f"/admin/users/{victim_id}/email",
        f"/admin/users/{victim_id}/sign-out",
        f"/admin/users/{victim_id}/delete",
        f"/admin/users/{victim_id}/reset-two-factor",
        f"/admin/users/{victim_id}/role",
        f"/admin/users/{victim_id}/disable",
        f"/admin/invitations/{invited.user_id}/revoke",
    ):
        page = browser.session.get(provider.url + path, allow_redirects=False)
        assert page.status_code == 404 and 'data-reason="not_found"' in page.text, path
        assert victim_email not in page.text
    for path, data in (
        (f"/admin/users/{victim_id}/unlock", {}),
        (f"/admin/users/{victim_id}/sign-out", {}),
        (f"/admin/users/{victim_id}/delete", {}),
        (f"/admin/users/{victim_id}/reset-two-factor", {}),
        (f"/admin/users/{victim_id}/role", {"admin": "yes"}),
        (f"/admin/users/{victim_id}/disable", {}),
        (f"/admin/users/{victim_id}/enable", {}),
        (f"/admin/users/{victim_id}/email", {"email": victim_email}),
        (f"/admin/users/{victim_id}/email", {"email": "elsewhere@example.jp"}),
        (f"/admin/invitations/{invited.user_id}/resend", {}),
        (f"/admin/invitations/{invited.user_id}/revoke", {}),
        ("/admin/lines/remove", {"number": "CAF9999999999"}),
    ):
        answer = browser.session.post(
            provider.url + path, data={"csrf_token": csrf, **data}, allow_redirects=False
        )
        assert answer.status_code == 404 and 'data-reason="not_found"' in answer.text, path
    victim = user_row(provider, victim_id)
    assert victim is not None and victim.locked_at is not None
    assert victim.role == "user" and victim.disabled_at is None
    assert user_row(provider, invited.user_id) is not None
    with provider.app.app_context():
        assert provider.db().session.get(LineNumber, (other_contract, "CAF9999999999"))
    assert not mailbox.messages
