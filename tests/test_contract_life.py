"""The contract's life (SPEC C1–C4, T3): a new contract starts with 2FA on; a trial becomes
basic during the trial or the 15-day window; a basic contract is cancelled by its contractor
(every session and refresh token revoked, sign-ins refused with a page, data purged after
the retention period); the contract information is changed on basic. Each change is audited
with its actor; the clock moves with time_machine (the server threads see it)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import timedelta

import pytest
import time_machine

from idp.actor import Actor
from idp.config import ConfigError
from idp.config import load_settings
from idp.contracts.contract import add_contract
from idp.contracts.contract import get_contract
from idp.contracts.life import ContractChangeRefused
from idp.contracts.life import cancel_contract
from idp.contracts.life import change_plan
from idp.contracts.life import update_contract_information
from idp.errors import ProvisioningError
from idp.maintenance import purge
from idp.models import AuditEvent
from idp.models import TokenFamily
from idp.models import User
from tests import test_cli
from tests.conftest import PASSWORD
from tests.helpers import Browser
from tests.helpers import redirect_params

#: Inside the 15-day plan-change window after the 30-day trial (C1).
IN_WINDOW = timedelta(days=31)
#: Past the window: the contract is closed.
AFTER_WINDOW = timedelta(days=30 + 15, hours=1)
#: IDP_CANCELLED_RETENTION_DAYS's default.
RETENTION = timedelta(days=90)


def people(provider, plan="basic"):
    """A contract with its contractor, an admin and a user: (contract id, {role: (id, email)})."""
    contract_id = provider.new_contract(plan=plan)
    return contract_id, {
        role: provider.new_user(contract_id, role=role) for role in ("contractor", "admin", "user")
    }


def act(provider, function, *args, **kwargs):
    with provider.app.app_context():
        return function(*args, **kwargs)


def refused_reason(provider, function, *args, **kwargs):
    with provider.app.app_context(), pytest.raises(ProvisioningError) as error:
        function(*args, **kwargs)
    return error.value.reason


def forbidden_reason(provider, function, *args, **kwargs):
    with provider.app.app_context(), pytest.raises(ContractChangeRefused) as error:
        function(*args, **kwargs)
    assert error.value.status_code == 403
    return error.value.reason


def audited(provider, event, actor):
    """(outcome, reason, details) of ``event`` rows naming ``actor``."""
    with provider.app.app_context():
        rows = provider.db().session.query(AuditEvent).filter_by(event=event).all()
        return [
            (r.outcome, r.reason, r.details)
            for r in rows
            if r.details.get("actor") == actor.as_details()
        ]


def frontend_sign_in(provider, rp, email, browser=None):
    browser = browser or Browser(provider.url)
    page = browser.get(rp.authorize_url())
    assert page.status_code == 200, page.text[:300]
    return browser.submit(page, "password-form", email=email, password=PASSWORD)


def account_sign_in(provider, email):
    browser = Browser(provider.url)
    page = browser.get("/account/login")
    return browser.submit(page, "password-form", email=email, password=PASSWORD)


def refused_with(response, reason):
    return response.status_code == 403 and f'data-reason="{reason}"' in response.text


def plan_of(provider, contract_id):
    return act(provider, lambda: get_contract(contract_id).plan)


# T3


@pytest.mark.covers("T3", "L3")
def test_T3_a_new_contract_has_two_factor_on(provider, rp):
    contract = act(provider, add_contract, Actor.cli(), f"T3-{uuid.uuid4().hex[:6]}")
    _user_id, email = provider.new_user(contract.id)
    # Its password user is asked to set up a second factor before reaching the service.
    page = frontend_sign_in(provider, rp, email)
    assert page.status_code == 200 and "/login/2fa/enroll/sms" in page.url, page.url
    # Off is an explicit choice.
    off = act(provider, add_contract, Actor.cli(), "T3 off", two_factor=False)
    _user_id, email = provider.new_user(off.id)
    assert "code" in redirect_params(frontend_sign_in(provider, rp, email))


# C2


@pytest.mark.covers("C2", "U2")
def test_C2_contractor_changes_a_trial_to_basic_during_the_trial(provider, rp):
    contract_id, who = people(provider, plan="trial")
    for role in ("admin", "user"):
        actor = Actor.user(who[role][0], contract_id)
        assert forbidden_reason(provider, change_plan, actor, contract_id, "basic") == (
            "not_contractor"
        )
        assert [(o, r) for o, r, _d in audited(provider, "plan_change", actor)] == [
            ("refused", "not_contractor")
        ]
    assert plan_of(provider, contract_id) == "trial"
    boss = Actor.user(who["contractor"][0], contract_id)
    act(provider, change_plan, boss, contract_id, "basic")
    assert plan_of(provider, contract_id) == "basic"
    [(outcome, _reason, details)] = audited(provider, "plan_change", boss)
    assert outcome == "ok" and details["plan"] == {"old": "trial", "new": "basic"}
    # basic is final: no other change exists (a basic contract is cancelled instead, C3).
    assert forbidden_reason(provider, change_plan, boss, contract_id, "basic") == (
        "no_such_plan_change"
    )
    assert refused_reason(provider, change_plan, boss, contract_id, "gold") == "invalid"


@pytest.mark.covers("C1", "C2")
def test_C2_in_the_window_after_the_trial_basic_opens_the_frontend_again(provider, rp):
    contract_id, who = people(provider, plan="trial")
    member_email = who["user"][1]
    with time_machine.travel(IN_WINDOW, tick=True):
        assert refused_with(frontend_sign_in(provider, rp, member_email), "trial_ended")
        act(provider, change_plan, Actor.user(who["contractor"][0]), contract_id, "basic")
        for _user_id, email in who.values():
            assert "code" in redirect_params(frontend_sign_in(provider, rp, email))


@pytest.mark.covers("C1", "C2")
def test_C2_refused_once_the_window_has_passed(provider):
    contract_id, who = people(provider, plan="trial")
    boss = Actor.user(who["contractor"][0])
    with time_machine.travel(AFTER_WINDOW, tick=True):
        assert forbidden_reason(provider, change_plan, boss, contract_id, "basic") == (
            "contract_closed"
        )
    assert plan_of(provider, contract_id) == "trial"


# C3


@pytest.mark.covers("C3", "X7")
def test_C3_cancellation_revokes_every_token_and_session_and_refuses_sign_in(provider, rp):
    contract_id, who = people(provider)
    member_id, member_email = who["user"]
    browser = Browser(provider.url)
    tokens = rp.login_tokens(browser, member_email, PASSWORD)
    _bystander_id, bystander_email = provider.new_user()
    bystander = rp.login_tokens(Browser(provider.url), bystander_email, PASSWORD)

    # Only the contractor cancels, and only their own contract.
    for role in ("admin", "user"):
        actor = Actor.user(who[role][0], contract_id)
        assert forbidden_reason(provider, cancel_contract, actor, contract_id) == "not_contractor"
    _other, other = people(provider)
    stranger = Actor.user(other["contractor"][0])
    assert forbidden_reason(provider, cancel_contract, stranger, contract_id) == "other_contract"
    live = rp.refresh(tokens["refresh_token"])
    assert live["_status"] == 200

    boss = Actor.user(who["contractor"][0], contract_id)
    act(provider, cancel_contract, boss, contract_id)

    # The relying party's refresh token is dead and the family is revoked for the contract.
    refreshed = rp.refresh(live["refresh_token"])
    assert refreshed["_status"] == 400 and refreshed["error"] == "invalid_grant"
    with provider.app.app_context():
        families = provider.db().session.query(TokenFamily).filter_by(user_id=member_id).all()
        assert families and {f.revoked_reason for f in families} == {"contract_cancelled"}
    # The browser's session is over, a new sign-in gets the page saying the contract ended
    # (the service's login and the account menu's alike).
    silent = browser.session.get(rp.authorize_url(prompt="none"), allow_redirects=False)
    assert redirect_params(silent)["error"] == "login_required"
    for _user_id, email in who.values():
        refused = frontend_sign_in(provider, rp, email)
        assert refused_with(refused, "contract_inactive"), refused.text[:300]
        assert "ご契約は解約により終了したため" in refused.text
        assert refused_with(account_sign_in(provider, email), "contract_inactive")
    # Another contract's user is not touched.
    assert rp.refresh(bystander["refresh_token"])["_status"] == 200
    [(outcome, _reason, details)] = audited(provider, "contract_cancel", boss)
    assert outcome == "ok" and details["users"] == 3
    assert len(audited(provider, "sign_out_everywhere", boss)) == 3
    # Cancelled is final.
    assert forbidden_reason(provider, cancel_contract, boss, contract_id) == "contract_inactive"


@pytest.mark.covers("C3", "C1")
def test_C3_a_trial_cannot_be_cancelled(provider, rp):
    contract_id, who = people(provider, plan="trial")
    boss = Actor.user(who["contractor"][0], contract_id)
    assert forbidden_reason(provider, cancel_contract, boss, contract_id) == (
        "trial_cannot_be_cancelled"
    )
    assert [(o, r) for o, r, _d in audited(provider, "contract_cancel", boss)] == [
        ("refused", "trial_cannot_be_cancelled")
    ]
    assert "code" in redirect_params(frontend_sign_in(provider, rp, who["user"][1]))


@pytest.mark.covers("C3")
def test_C3_the_retention_period_is_a_setting(monkeypatch):
    monkeypatch.setenv("IDP_DEV", "yes")
    assert load_settings().cancelled_retention_days == RETENTION.days
    monkeypatch.setenv("IDP_CANCELLED_RETENTION_DAYS", "30")
    assert load_settings().cancelled_retention_days == 30
    monkeypatch.setenv("IDP_CANCELLED_RETENTION_DAYS", "-1")
    with pytest.raises(ConfigError, match="IDP_CANCELLED_RETENTION_DAYS"):
        load_settings()


def _users_of(provider, contract_id):
    with provider.app.app_context():
        return provider.db().session.query(User).filter_by(contract_id=contract_id).count()


@pytest.mark.covers("C3")
def test_C3_purge_deletes_a_cancelled_contracts_data_after_the_retention_period(provider, rp):
    contract_id, who = people(provider)
    member_id, member_email = who["user"]
    rp.login_tokens(Browser(provider.url), member_email, PASSWORD)
    act(provider, update_contract_information, Actor.cli(), contract_id, company_name="Gone KK")
    _active_id, active = people(provider)
    act(provider, cancel_contract, Actor.cli(), contract_id)
    system = Actor.system("retention-test")

    with time_machine.travel(RETENTION - timedelta(days=1), tick=True):
        act(provider, purge, system)
    assert _users_of(provider, contract_id) == 3

    with time_machine.travel(RETENTION + timedelta(hours=1), tick=True):
        report = act(provider, purge, system)
    assert report.cancelled_contracts >= 1 and report.cancelled_users >= 3
    assert _users_of(provider, contract_id) == 0
    with provider.app.app_context():
        session = provider.db().session
        assert session.query(TokenFamily).filter_by(user_id=member_id).count() == 0
        contract = get_contract(contract_id)  # the row stays, without its information
        assert contract.status == "cancelled" and contract.company_name == ""
        kept = session.query(AuditEvent).filter_by(contract_id=contract_id).count()
        assert kept > 0  # the audit events stay
    # An active contract keeps its people.
    assert _users_of(provider, _active_id) == 3
    assert "code" in redirect_params(frontend_sign_in(provider, rp, active["user"][1]))


# C4


@pytest.mark.covers("C4", "U2")
def test_C4_the_contractor_of_a_basic_contract_changes_the_information(provider):
    contract_id, who = people(provider)
    boss = Actor.user(who["contractor"][0], contract_id)
    act(
        provider,
        update_contract_information,
        boss,
        contract_id,
        company_name=" 株式会社ワークス ",
        department="情報システム部",
        contact_person="山田 太郎",
        address="東京都千代田区1-1",
        phone="0312345678",
        billing_email="Billing@Example.JP",
    )
    with provider.app.app_context():
        contract = get_contract(contract_id)
        assert contract.company_name == "株式会社ワークス"
        assert contract.phone == "03-1234-5678"
        assert contract.billing_email == "Billing@example.jp"
    [(outcome, _reason, details)] = audited(provider, "contract_information", boss)
    assert outcome == "ok"
    assert details["changed"] == sorted(
        ["company_name", "department", "contact_person", "address", "phone", "billing_email"]
    )
    # Field names only: no value of the information reaches the audit log.
    assert "山田" not in json.dumps(details, ensure_ascii=False)
    assert "0312345678" not in json.dumps(details) and "Billing" not in json.dumps(details)


@pytest.mark.covers("C4")
@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"billing_email": "not-an-address"}, "invalid_billing_email"),
        ({"billing_email": "a@b@example.jp"}, "invalid_billing_email"),
        ({"phone": "12"}, "invalid_phone"),
        ({"phone": "call me"}, "invalid_phone"),
        ({"company_name": "x" * 201}, "invalid_company_name"),
        ({"address": "line\x00break"}, "invalid_address"),
        ({"password": "hunter2"}, "unknown_field"),
    ],
)
def test_C4_bad_values_are_refused_and_nothing_is_stored(provider, fields, reason):
    contract_id, who = people(provider)
    boss = Actor.user(who["contractor"][0], contract_id)
    assert (
        refused_reason(
            provider, update_contract_information, boss, contract_id, department="X", **fields
        )
        == reason
    )
    assert act(provider, lambda: get_contract(contract_id).department) == ""
    assert [(o, r) for o, r, _d in audited(provider, "contract_information", boss)] == [
        ("refused", reason)
    ]


@pytest.mark.covers("C4", "U2")
def test_C4_only_the_contractor_of_a_basic_contract(provider):
    contract_id, who = people(provider)
    for role in ("admin", "user"):
        actor = Actor.user(who[role][0], contract_id)
        assert (
            forbidden_reason(provider, update_contract_information, actor, contract_id, phone="")
            == "not_permitted"
        )
    trial_id, trial = people(provider, plan="trial")
    boss = Actor.user(trial["contractor"][0], trial_id)
    assert (
        forbidden_reason(provider, update_contract_information, boss, trial_id, department="X")
        == "not_permitted"
    )
    stranger = Actor.user(trial["contractor"][0])
    assert (
        forbidden_reason(provider, update_contract_information, stranger, contract_id, phone="")
        == "other_contract"
    )


# The command line


#: The command line on an instance folder of its own (test_cli.py's fixture).
env = test_cli.env


def idp(args, env):
    return test_cli.run(args, env, check=False)


def cli_audit(tmp_path, event):
    with sqlite3.connect(tmp_path / "instance" / "idp.sqlite3") as db:
        rows = db.execute(
            "SELECT outcome, reason, contract_id, details FROM audit_events WHERE event = ?",
            (event,),
        ).fetchall()
    return [(o, r, c, json.loads(d)) for o, r, c, d in rows]


@pytest.mark.covers("T3", "C2", "C3", "C4", "X3")
def test_cli_contract_life_commands_use_the_domain_and_are_audited_with_the_cli_actor(
    env, tmp_path
):
    assert idp(["init"], env).returncode == 0
    trial = idp(["contracts", "add", "--plan", "trial", "Trial KK"], env).stdout.strip()
    [(_o, _r, _c, added)] = cli_audit(tmp_path, "contract_add")
    assert added["two_factor"] is True  # T3: on without --two-factor

    refused = idp(["contracts", "cancel", trial], env)
    assert refused.returncode == 1 and "cannot be cancelled" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert idp(["contracts", "set", trial, "--plan", "basic"], env).stdout == "plan basic\n"
    shown = idp(["contracts", "info", trial, "--company", "Trial KK", "--phone", "0312345678"], env)
    assert "company_name: Trial KK" in shown.stdout and "phone: 03-1234-5678" in shown.stdout
    bad = idp(["contracts", "info", trial, "--billing-email", "nope"], env)
    assert bad.returncode == 1 and "billing_email" in bad.stderr and "Traceback" not in bad.stderr
    assert idp(["contracts", "cancel", trial], env).stdout == "cancelled\n"

    for event, outcomes in (
        ("contract_cancel", [("refused", "trial_cannot_be_cancelled"), ("ok", None)]),
        ("plan_change", [("ok", None)]),
        ("contract_information", [("ok", None), ("refused", "invalid_billing_email")]),
    ):
        rows = cli_audit(tmp_path, event)
        assert [(o, r) for o, r, _c, _d in rows] == outcomes, event
        assert {d["actor"]["kind"] for _o, _r, _c, d in rows} == {"cli"}
        assert {c for o, _r, c, _d in rows if o == "ok"} == {trial}
    purged = idp(["purge"], env).stdout
    assert "cancelled_contracts=0" in purged  # within the retention period
