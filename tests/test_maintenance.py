"""``idp purge`` (issue 10): what has expired is deleted, what may still be shown is kept."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
import time_machine

from idp.actor import Actor
from idp.maintenance import purge
from idp.models import AuditEvent
from idp.models import EphemeralEntry
from idp.models import InvitationJob
from idp.models import InvitationJobRow
from idp.models import MailLink
from idp.models import RefreshToken
from idp.models import RememberedBrowser
from idp.models import TokenFamily
from idp.models import utcnow
from tests.conftest import PASSWORD
from tests.helpers import Browser

NEW_PASSWORD = "Fresh-Start-2026"
USED = "このリンクはすでに使用されています。"


def _purge(provider):
    with provider.app.app_context():
        return purge(Actor.system("test-purge"))


def _links_of(provider, user_id):
    with provider.app.app_context():
        return provider.db().session.query(MailLink).filter_by(user_id=user_id).count()


def _reset_link(provider, mailbox, email):
    browser = Browser(provider.url)
    browser.submit(browser.get("/password/forgot"), email=email)
    mail = mailbox.wait_for(to=email, subject_contains="パスワードリセット")
    return [u for u in mailbox.links_in(mail) if "/links/" in u][0]


@pytest.mark.covers("X4", "K3")
def test_purge_keeps_a_used_link_until_its_14_days_then_deletes_it(provider, user, mailbox):
    user_id, email = user
    link = _reset_link(provider, mailbox, email)
    browser = Browser(provider.url)
    done = browser.submit(
        browser.get(link), password=NEW_PASSWORD, password_confirmation=NEW_PASSWORD
    )
    assert done.status_code == 200
    with time_machine.travel(timedelta(days=13, hours=23), tick=True):
        _purge(provider)
        again = browser.get(link)
    assert again.status_code == 400 and USED in again.text
    assert _links_of(provider, user_id) == 1
    with time_machine.travel(timedelta(days=14, seconds=5), tick=True):
        report = _purge(provider)
    assert report.links >= 1
    assert _links_of(provider, user_id) == 0


@pytest.mark.covers("X4")
def test_purge_deletes_an_unused_link_once_expired(provider, user, mailbox):
    user_id, email = user
    _reset_link(provider, mailbox, email)
    _purge(provider)
    assert _links_of(provider, user_id) == 1
    with time_machine.travel(timedelta(days=14, seconds=5), tick=True):
        _purge(provider)
    assert _links_of(provider, user_id) == 0


@pytest.mark.covers("X2", "L3")
def test_purge_deletes_remembered_browsers_unused_for_30_days(provider, user):
    user_id, _email = user
    kept, gone = uuid.uuid4().hex, uuid.uuid4().hex
    with provider.app.app_context():
        session = provider.db().session
        for token_hash, days in ((kept, 29), (gone, 31)):
            last_used = utcnow() - timedelta(days=days)
            session.add(
                RememberedBrowser(
                    user_id=user_id,
                    token_hash=token_hash,
                    created_at=last_used,
                    last_used_at=last_used,
                )
            )
        session.commit()
    _purge(provider)
    with provider.app.app_context():
        rows = provider.db().session.query(RememberedBrowser).filter_by(user_id=user_id).all()
        assert [r.token_hash for r in rows] == [kept]


def test_purge_deletes_expired_ephemeral_rows_and_is_audited(provider):
    store = provider.app.extensions["idp.store"]
    key = f"purge-test:{uuid.uuid4().hex}"
    store.set(key, "x", 60)
    with time_machine.travel(timedelta(minutes=2), tick=True):
        report = _purge(provider)
    with provider.app.app_context():
        session = provider.db().session
        left = session.query(EphemeralEntry).filter_by(key=key).count()
        events = session.query(AuditEvent).filter_by(event="purge").all()
    if provider.backend.endswith("sqlstore"):
        assert report.ephemeral >= 1 and left == 0
    else:
        assert report.ephemeral == 0  # Redis expires keys itself (on its own clock)
    assert any(e.details.get("actor", {}).get("id") == "test-purge" for e in events)


def _family_rows(provider, user_id):
    with provider.app.app_context():
        session = provider.db().session
        families = session.query(TokenFamily).filter_by(user_id=user_id).all()
        ids = [f.id for f in families]
        tokens = session.query(RefreshToken).filter(RefreshToken.family_id.in_(ids)).count()
        return len(ids), tokens


@pytest.mark.covers("O1", "X7")
def test_O1_purge_deletes_expired_refresh_tokens_then_their_unused_family(provider, rp, user):
    user_id, email = user
    tokens = rp.login_tokens(Browser(provider.url), email, PASSWORD)
    rotated = rp.refresh(tokens["refresh_token"])
    assert rotated["_status"] == 200
    assert _family_rows(provider, user_id) == (1, 2)  # the used token is kept (reuse detection)
    settings = provider.app.extensions["idp.settings"]
    lifetime = timedelta(seconds=settings.refresh_token_ttl)
    with time_machine.travel(lifetime - timedelta(hours=1), tick=True):
        report = _purge(provider)
    assert _family_rows(provider, user_id) == (1, 2)
    after_expiry = lifetime + timedelta(seconds=settings.access_token_ttl + 60)
    with time_machine.travel(after_expiry, tick=True):
        report = _purge(provider)
        refused = rp.refresh(rotated["refresh_token"])
    assert report.refresh_tokens >= 2 and report.token_families >= 1
    assert _family_rows(provider, user_id) == (0, 0)
    assert refused["_status"] == 400 and refused["error"] == "invalid_grant"


@pytest.mark.covers("X2", "L3")
def test_X2_purge_deletes_revoked_remembered_browsers(provider, user):
    user_id, _email = user
    kept, revoked = uuid.uuid4().hex, uuid.uuid4().hex
    with provider.app.app_context():
        session = provider.db().session
        for token_hash, revoked_at in ((kept, None), (revoked, utcnow())):
            session.add(
                RememberedBrowser(user_id=user_id, token_hash=token_hash, revoked_at=revoked_at)
            )
        session.commit()
    _purge(provider)
    with provider.app.app_context():
        rows = provider.db().session.query(RememberedBrowser).filter_by(user_id=user_id).all()
        assert [r.token_hash for r in rows] == [kept]


@pytest.mark.covers("G3")
def test_G3_purge_deletes_invitation_uploads_finished_30_days_ago(provider):
    contract_id = provider.new_contract()
    with provider.app.app_context():
        session = provider.db().session
        jobs = {}
        for name, days in (("recent", 29), ("old", 31), ("running", None)):
            job = InvitationJob(
                contract_id=contract_id,
                actor="cli:test",
                status="finished" if days else "running",
                created_at=utcnow() - timedelta(days=days or 40),
                finished_at=utcnow() - timedelta(days=days) if days else None,
            )
            session.add(job)
            session.flush()
            session.add(
                InvitationJobRow(job_id=job.id, line=2, email="x@example.jp", status="invited")
            )
            jobs[name] = job.id
        session.commit()
    report = _purge(provider)
    assert report.invitation_jobs >= 1
    with provider.app.app_context():
        session = provider.db().session
        left = {j.id for j in session.query(InvitationJob).filter_by(contract_id=contract_id)}
        rows = (
            session.query(InvitationJobRow).filter(InvitationJobRow.job_id == jobs["old"]).count()
        )
    assert left == {jobs["recent"], jobs["running"]} and rows == 0
