"""The login's policies step and step guard (idp/login/gate.py, idp/login/steps.py): every
view of a login step is behind ``@step``, and the gate keeps a locked account out of a
password sign-in while sessions from before the lock go on (K1, O2)."""

from __future__ import annotations

import pytest

from idp.login.gate import check_policies
from idp.models import User
from idp.models import utcnow
from idp.vocabulary import Target

#: Login views that are not a step of a transaction, with the reason.
UNGUARDED = {
    "login.account_menu": "the account menu page itself, no transaction",
    "login.account_login": "opens a transaction",
    "brokered.callback": "finds its transaction by the upstream state; checks is_due itself",
    "active_directory.login": "the mailed AD link; with ?tx= it hands over to a guarded step",
    "active_directory.line_login": "the same on the line URL",
}
LOGIN_BLUEPRINTS = ("login", "twofactor", "brokered", "active_directory")


@pytest.mark.covers("O2", "L4", "L6")
def test_every_login_step_view_is_behind_the_step_guard(provider):
    endpoints = [
        endpoint
        for endpoint in provider.app.view_functions
        if endpoint.split(".")[0] in LOGIN_BLUEPRINTS
    ]
    assert len(endpoints) > 15
    unguarded = sorted(
        endpoint
        for endpoint in endpoints
        if not hasattr(provider.app.view_functions[endpoint], "login_step")
        and endpoint not in UNGUARDED
    )
    assert unguarded == []
    steps = {provider.app.view_functions[e].login_step for e in endpoints if e not in UNGUARDED}
    assert steps == {"identify", "line_notice", "second_factor", "consent", "finish"}
    second_factor = [e for e in endpoints if e.startswith("twofactor.")]
    assert {provider.app.view_functions[e].login_step for e in second_factor} == {"second_factor"}


@pytest.mark.covers("K1", "O2")
def test_K1_gate_refuses_a_password_sign_in_of_a_locked_account_only(provider, user):
    user_id, _email = user
    with provider.app.app_context():
        row = provider.db().session.get(User, user_id)
        assert check_policies(row, Target.FRONTEND, by_password=True).is_allowed
        row.locked_at = utcnow()  # as ten wrong passwords leave it (K1)
        provider.db().session.commit()
        decision = check_policies(row, Target.FRONTEND, by_password=True)
        assert (decision.outcome, decision.reason) == ("deny", "locked")
        # A session or refresh token from before the lock is checked without K1: it goes on.
        assert check_policies(row, Target.FRONTEND).is_allowed
