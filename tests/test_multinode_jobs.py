"""A CSV invitation job (G3) outlives the node that ran it (issue 13 "Several nodes": a node
that stops mid-flow loses nothing). Two ``idp serve`` nodes on one PostgreSQL and one Redis
(tests/nodes.py), with a lease of 2 s (IDP_INVITE_JOB_LEASE): node A takes a job and dies
(SIGKILL); B's own sweep finds the job without a holder once A's lease has run out and
finishes it. Every address is invited once, and the job's counts add up. (A node that only
stalled and wakes after a takeover stops by itself: tests/test_bulk_invite.py.)"""

from __future__ import annotations

import csv
import io
import time
import uuid
from typing import Any

import pytest
import requests
from sqlalchemy import func
from sqlalchemy import select

from idp.models import InvitationJob
from idp.models import QueuedMail
from idp.models import User
from tests.nodes import Cluster
from tests.test_admin_api import PREFIX
from tests.test_admin_api import token_for

pytestmark = [pytest.mark.xdist_group("nodes")]

ROWS = 100
SUBJECT = "利用者登録"
#: Seconds the test waits for what the nodes do on their own (a lease of 2 s, a sweep every
#: 2 s, ROWS invitations): a deadline, not a pause.
DEADLINE = 120


def _until(what: str, done: Any) -> Any:
    deadline = time.monotonic() + DEADLINE
    while (result := done()) is None or result is False:
        assert time.monotonic() < deadline, f"not within {DEADLINE} s: {what}"
        time.sleep(0.1)
    return result


def _job(cluster: Cluster, job_id: str) -> tuple[str, int, int, int]:
    with cluster.provider.app.app_context():
        session = cluster.provider.db().session
        job = session.get(InvitationJob, job_id)
        session.rollback()  # the next read sees the nodes' commits
        return job.status, job.total, job.done, job.failed


def _users(cluster: Cluster, emails: list[str]) -> int:
    with cluster.provider.app.app_context():
        session = cluster.provider.db().session
        count = session.scalar(select(func.count()).select_from(User).where(User.email.in_(emails)))
        session.rollback()
        return int(count or 0)


def _queued(cluster: Cluster, emails: list[str]) -> int:
    """The invitation mails still on the shared queue (a row goes once the SMTP server took
    its mail)."""
    with cluster.provider.app.app_context():
        session = cluster.provider.db().session
        count = session.scalar(
            select(func.count()).select_from(QueuedMail).where(QueuedMail.recipient.in_(emails))
        )
        session.rollback()
        return int(count or 0)


@pytest.mark.covers("G3", "O1")
def test_G3_O1_a_job_whose_node_died_is_finished_by_the_other_node_inviting_each_once(
    cluster, mailbox
):
    A, B = cluster.nodes
    contract_id = cluster.provider.new_contract()
    token = token_for(cluster.provider, contract_id)
    tag = uuid.uuid4().hex[:8]
    emails = [f"job-{tag}-{n}@example.jp" for n in range(ROWS)]
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["email", "name", "role"])
    writer.writerows([email, f"利用者 {n}", "user"] for n, email in enumerate(emails))
    requests.get(B.url + "/healthz", timeout=10)  # B serves: its sweep runs
    answer = requests.post(
        f"{A.url}{PREFIX}/invitations/bulk",
        data=out.getvalue().encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"},
        timeout=30,
    )
    assert answer.status_code == 202, answer.text
    A.kill()  # A dies with the job it took (SIGKILL: master and worker, nothing flushed)
    try:
        job_id = answer.json()["id"]
        status, total, done, _failed = _job(cluster, job_id)
        assert total == ROWS
        assert (status, done) != ("finished", ROWS), "A finished before it died: raise ROWS"
        _until("B finishes the job", lambda: _job(cluster, job_id)[0] == "finished" or None)
        assert _job(cluster, job_id) == ("finished", ROWS, ROWS, 0)
        assert _users(cluster, emails) == ROWS  # one account per address
        _until("every invitation mail sent", lambda: _queued(cluster, emails) == 0 or None)
        # One invitation per address. (A mail that A handed to the SMTP server just before
        # it died is sent again from the queue, the same message: at least once, by design.)
        mails: dict[str, set[str]] = {}
        for message in mailbox.messages:
            if SUBJECT in str(message["Subject"]) and str(message["To"]) in emails:
                mails.setdefault(str(message["To"]), set()).add(str(message["Message-ID"]))
        assert sorted(mails) == sorted(emails)
        assert all(len(ids) == 1 for ids in mails.values())
    finally:
        cluster.restart(A)
