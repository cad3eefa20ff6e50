"""C1 end to end: after a trial ends nobody reaches the storage frontend, but the contractor
still reaches the account menu for 15 days (to change the plan, C2); then the contract is
closed. The clock moves with time_machine; the server threads see it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from idp.models import Contract
from tests.conftest import PASSWORD
from tests.helpers import Browser

#: Inside the 15-day window after the 30-day trial.
IN_WINDOW = timedelta(days=31)
#: Past the window: the contract is closed.
AFTER_WINDOW = timedelta(days=30 + 15, hours=1)


def account_sign_in(provider, email):
    """The account menu's own login page (U1), submitted like a browser."""
    browser = Browser(provider.url)
    page = browser.get("/account/login")
    assert 'id="password-form"' in page.text
    return browser, browser.submit(page, "password-form", email=email, password=PASSWORD)


def frontend_sign_in(browser, rp, email):
    page = browser.get(rp.authorize_url())
    assert page.status_code == 200, page.text[:300]
    return browser.submit(page, "password-form", email=email, password=PASSWORD)


def refused_with(response, reason):
    return response.status_code == 403 and f'data-reason="{reason}"' in response.text


@pytest.fixture()
def trial(provider):
    contract_id = provider.new_contract(plan="trial")
    _boss, boss_email = provider.new_user(contract_id, role="contractor")
    _admin, admin_email = provider.new_user(contract_id, role="admin")
    return contract_id, boss_email, admin_email


@pytest.mark.covers("C1", "U1")
def test_C1_contractor_reaches_the_account_menu_for_15_days_after_the_trial(provider, rp, trial):
    _contract_id, boss_email, admin_email = trial
    # During the trial the frontend works.
    assert "code" in rp.sign_in(Browser(provider.url), boss_email, PASSWORD)

    with time_machine.travel(IN_WINDOW, tick=True):
        # Nobody reaches the frontend, and the page says why.
        for email in (boss_email, admin_email):
            refused = frontend_sign_in(Browser(provider.url), rp, email)
            assert refused_with(refused, "trial_ended"), refused.text[:300]
            assert "トライアル期間は終了しました" in refused.text
        # The contractor reaches the account menu ...
        boss, menu = account_sign_in(provider, boss_email)
        assert menu.url == f"{provider.url}/account" and boss_email in menu.text
        # ... whose session does not open the frontend ...
        silent = boss.session.get(rp.authorize_url(prompt="none"), allow_redirects=False)
        assert "error=login_required" in silent.headers["Location"]
        assert refused_with(frontend_sign_in(boss, rp, boss_email), "trial_ended")
        # ... and nobody else reaches the account menu.
        _other, refused = account_sign_in(provider, admin_email)
        assert refused_with(refused, "trial_ended")

    with time_machine.travel(AFTER_WINDOW, tick=True):
        for email in (boss_email, admin_email):
            _browser, refused = account_sign_in(provider, email)
            assert refused_with(refused, "contract_closed"), refused.text[:300]
            assert "ご契約は終了しました" in refused.text
            refused = frontend_sign_in(Browser(provider.url), rp, email)
            assert refused_with(refused, "contract_closed")


@pytest.mark.covers("C1", "C2")
def test_C2_basic_plan_opens_the_frontend_again_at_once(provider, rp, trial):
    contract_id, boss_email, admin_email = trial
    with time_machine.travel(IN_WINDOW, tick=True):
        assert refused_with(frontend_sign_in(Browser(provider.url), rp, admin_email), "trial_ended")
        # The plan change's page comes with the account menu; its effect is one column.
        with provider.app.app_context():
            db = provider.db()
            db.session.get(Contract, contract_id).plan = "basic"
            db.session.commit()
        for email in (boss_email, admin_email):
            assert "code" in rp.sign_in(Browser(provider.url), email, PASSWORD)
