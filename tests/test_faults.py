"""Issue 13, "Faults": Redis unavailable, PostgreSQL restarted, the SMTP server down, an
upstream timing out, with each service really stopped and started again (on the same port).

The provider answers a clear 503 page (or OAuth ``temporarily_unavailable``), signs nobody
in on a check it could not make (K1, L3, O2: fail closed), keeps mails that could not be sent
in a queue that survives a restart, and recovers by itself. The SMS gateway stopped is
tests/test_two_factor.py's ``test_L4_sms_gateway_down_gives_a_clear_message...``."""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import faults_services
from tests.conftest import PASSWORD
from tests.faults_services import NodeProcess
from tests.faults_services import node_config
from tests.faults_services import poll
from tests.helpers import Browser
from tests.helpers import RelyingParty
from tests.helpers import redirect_params
from tests.realservices import free_port
from tests.test_admin_api import token_for

pytestmark = pytest.mark.xdist_group("faults")
#: The module's services and providers (tests/faults_services.py).
fault_services = faults_services.fault_services
provider_on = faults_services.provider_on

RESET_SUBJECT = "パスワードリセット"


@pytest.fixture()
def outage_log() -> Iterator[list[dict[str, Any]]]:
    """The JSON lines ``idp.web`` logs during the test (the app's loggers do not propagate),
    formatted in the request's thread as the app's handler does (with its request id)."""
    from idp.log_lines import JsonFormatter

    records: list[dict[str, Any]] = []
    formatter = JsonFormatter()

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(json.loads(formatter.format(record)))

    handler = Keep()
    logger = logging.getLogger("idp.web")
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def assert_unavailable_page(response: requests.Response, language: str = "ja") -> None:
    """A 503 page in the person's language, with Retry-After and no stack trace."""
    assert response.status_code == 503, response.text[:400]
    assert response.headers["Content-Type"].startswith("text/html")
    assert int(response.headers["Retry-After"]) > 0
    assert 'data-error="unavailable"' in response.text
    assert "Traceback" not in response.text and "sqlalchemy" not in response.text.lower()
    if language == "ja":
        assert "しばらくしてからもう一度お試しください" in response.text
    else:
        assert "Please try again in a moment." in response.text


def no_code(response: requests.Response) -> None:
    """Nothing reached the relying party: no redirect carrying a code."""
    location = response.headers.get("Location", "")
    assert "code=" not in location, location


@pytest.mark.covers("O1", "O2", "K1")
def test_O2_redis_stopped_before_the_password_post_is_a_503_page_and_no_code(
    provider_on, fault_services, outage_log
):
    node = provider_on()
    rp = node.new_client()
    _user_id, email = node.new_user()
    browser = Browser(node.url)
    page = browser.get(rp.authorize_url())
    assert 'id="password-form"' in page.text
    fault_services.redis.stop_service()
    try:
        answer = browser.submit(page, "password-form", email=email, password=PASSWORD)
        assert_unavailable_page(answer)
        no_code(answer)
        # English for a person who chose it.
        browser.session.cookies.set("lang", "en")
        again = browser.submit(page, "password-form", email=email, password=PASSWORD)
        assert_unavailable_page(again, "en")
    finally:
        fault_services.redis.start_service()
    # Logged once per request, with its class, the request id and the page's error id; no
    # stack trace, never a secret.
    lines = [line for line in outage_log if "unavailable" in line["msg"]]
    assert len(lines) == 2, lines
    for line, response in zip(lines, (answer, again), strict=True):
        assert line["msg"].startswith("store unavailable: ") and "exc" not in line
        assert line["request_id"] == response.headers["X-Request-ID"]
        error_id = re.search(r"id=([0-9a-f]{12})", line["msg"]).group(1)
        assert error_id in response.text
        assert PASSWORD not in json.dumps(line) and email not in json.dumps(line)
    # Recovers by itself (no restart of the app): the transaction died with Redis's memory,
    # a new sign-in goes through.
    tokens = rp.login_tokens(Browser(node.url), email, PASSWORD)
    assert rp.id_token_claims(tokens["id_token"])["amr"] == ["pwd"]


@pytest.mark.covers("O2", "L3", "L4")
def test_O2_redis_stopped_between_the_password_and_2fa_signs_nobody_in(provider_on, fault_services):
    node = provider_on()
    rp = node.new_client()
    contract = node.new_contract(two_factor=True)
    _user_id, email = node.new_user(contract)
    browser = Browser(node.url)
    page = browser.get(rp.authorize_url())
    second = browser.submit(page, "password-form", email=email, password=PASSWORD)
    assert "/login/2fa/" in second.url, second.url
    tx = re.search(r"tx=([\w-]+)", second.url).group(1)
    fault_services.redis.stop_service()
    try:
        # The 2FA step, a later step asked for directly, and the finish: none signs in.
        for path in (f"/login/2fa/enroll/sms?tx={tx}", f"/login/finish?tx={tx}"):
            answer = browser.get(path)
            assert_unavailable_page(answer)
            no_code(answer)
        answer = browser.submit(second, "phone-form", phone="090-1234-5678")
        assert_unavailable_page(answer)
        no_code(answer)
    finally:
        fault_services.redis.start_service()
    # After the restart the transaction is gone (Redis kept nothing): the finish step does
    # not sign in on a transaction it cannot find.
    after = browser.get(f"/login/finish?tx={tx}")
    assert after.status_code in (400, 404) and 'data-error="login_expired"' in after.text
    no_code(after)


@pytest.mark.covers("O1")
def test_O1_authorize_and_token_during_a_redis_outage_answer_temporarily_unavailable(
    provider_on, fault_services
):
    """RFC 6749 §4.1.2.1: once the client and its redirect URI are validated (from the
    database), the outage goes to the redirect URI as ``temporarily_unavailable``, with
    ``state`` and ``iss`` (RFC 9207); the token endpoint answers 503 in JSON."""
    node = provider_on()
    rp = node.new_client()
    _user_id, email = node.new_user()
    browser = Browser(node.url)
    callback = rp.sign_in(browser, email, PASSWORD)
    fault_services.redis.stop_service()
    try:
        answer = browser.session.get(rp.authorize_url(), allow_redirects=False, timeout=60)
        assert answer.status_code == 302
        params = redirect_params(answer)
        assert answer.headers["Location"].startswith(rp.redirect_uri)
        assert params["error"] == "temporarily_unavailable"
        assert params["state"] == rp.state and params["iss"] == node.url
        tokens = rp.exchange(callback["code"])
        assert tokens["_status"] == 503 and tokens["error"] == "temporarily_unavailable"
        # An unknown client is still told apart by a page, never redirected.
        unknown = browser.session.get(
            rp.authorize_url().replace(rp.client_id, "rp-unknown"), allow_redirects=False
        )
        assert unknown.status_code == 400 and "Location" not in unknown.headers
    finally:
        fault_services.redis.start_service()
    # The code was in Redis and is gone; the RP starts again and succeeds.
    assert rp.exchange(callback["code"])["_status"] == 400
    assert rp.login_tokens(Browser(node.url), email, PASSWORD)["_status"] == 200


@pytest.mark.covers("K1", "O2", "G7")
def test_K1_postgres_restarted_fails_closed_then_recovers_without_an_app_restart(
    provider_on, fault_services
):
    """The lockout counter (users.failed_logins) cannot be read: no sign-in, a 503 page; the
    admin API answers an RFC 9457 problem. After PostgreSQL is back on the same port the same
    app signs in (the pool tests a connection that has something to read or was idle long:
    idp/db_liveness.py)."""
    node = provider_on(mail_retry_interval=0)  # no worker thread to meet a dead connection first
    rp = node.new_client()
    _user_id, email = node.new_user()
    assert rp.login_tokens(Browser(node.url), email, PASSWORD)["_status"] == 200
    token = token_for(node, node.new_contract())
    browser = Browser(node.url)
    page = browser.get(rp.authorize_url())
    fault_services.postgres.stop_service()
    try:
        answer = browser.submit(page, "password-form", email=email, password=PASSWORD)
        assert_unavailable_page(answer)
        no_code(answer)
        api = requests.get(
            f"{node.url}/api/admin/v1/users",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert api.status_code == 503, api.text
        assert api.headers["Content-Type"] == "application/problem+json"
        assert api.json()["type"] == "urn:worksdrive:problem:unavailable"
        assert int(api.headers["Retry-After"]) > 0
    finally:
        fault_services.postgres.start_service()
    done = browser.submit(page, "password-form", email=email, password=PASSWORD)
    assert "code" in redirect_params(done)
    assert rp.exchange(redirect_params(done)["code"])["_status"] == 200
    # A restart while the app is idle: its pooled connections are dead, and the first request
    # after it must not fail on one (idp/db_liveness.py replaces them). The audit chain's sealing
    # job, which follows each sign-in, is done first, so that no thread meets them before.
    node.app.extensions["idp.audit_sealer"].wait_idle()
    fault_services.postgres.stop_service()
    fault_services.postgres.start_service()
    assert rp.login_tokens(Browser(node.url), email, PASSWORD)["_status"] == 200


@pytest.mark.covers("K3")
def test_K3_mail_queued_while_smtp_is_down_arrives_once_after_a_restart_of_everything(
    provider_on, fault_services, tmp_path
):
    """SMTP stopped; a reset mail is asked for; the provider process is killed; SMTP and the
    provider start again: the mail, kept in the database's queue, arrives, once."""
    smtp = fault_services.smtp
    # The builder (in this process) writes the database and sends nothing itself.
    builder = provider_on(mail_retry_backoff=1, mail_retry_interval=0)
    _user_id, email = builder.new_user()
    port = free_port()
    config = node_config(builder, issuer=f"http://127.0.0.1:{port}", mail_retry_interval=1)
    node = NodeProcess(config, port, tmp_path / "node.log").start()
    try:
        smtp.stop()
        browser = Browser(node.url)
        page = browser.get("/password/forgot")
        sent = browser.submit(page, email=email)
        assert sent.status_code == 200
        with builder.app.app_context():
            from idp.mail.queue import queue_summary

            poll_queue = lambda: queue_summary().get("reset") == 1  # noqa: E731
            poll(poll_queue, "the reset mail in the queue")
            from idp.models import QueuedMail

            row = builder.db().session.query(QueuedMail).filter_by(purpose="reset").one()
            # A finished failed attempt (its error recorded), not one in progress: a node
            # killed mid-attempt leaves the row leased for two minutes (never sent twice).
            poll(
                lambda: (
                    builder.db().session.get(QueuedMail, row.id, populate_existing=True).last_error
                    is not None
                ),
                "a failed attempt",
            )
            builder.db().session.remove()
        node.kill()
        smtp.clear()
        smtp.start()
        node.start()
        try:
            mail = smtp.wait_for(to=email, subject_contains=RESET_SUBJECT, timeout=30)
        except AssertionError as error:
            raise AssertionError(
                f"{error}\n--- provider log ---\n{node.log_text()[-3000:]}"
            ) from error
        assert [u for u in smtp.links_in(mail) if "/links/" in u]
        # Once: the queue is empty and no second copy comes with the next sweeps.
        with builder.app.app_context():
            poll(lambda: queue_summary() == {}, "an empty queue")
        assert len([m for m in smtp.messages if RESET_SUBJECT in str(m["Subject"])]) == 1
        assert "Traceback" not in node.log_text() and "/links/" not in node.log_text()
    finally:
        node.kill()
        smtp.start()


@pytest.mark.covers("L7")
def test_L7_upstream_not_answering_within_its_timeout_gives_a_page_back_to_the_sign_in(
    fault_services, tmp_path
):
    from tests.conftest import _serve
    from tests.conftest import build_provider
    from tests.facebook_double import FacebookUser
    from tests.facebook_double import run_facebook_double
    from tests.test_brokered_login import VERSION
    from tests.test_brokered_login import facebook_user
    from tests.test_brokered_login import through_facebook

    with run_facebook_double() as facebook:
        app = facebook.add_app()
        brokers = {
            "facebook": {
                "app_id": app.app_id,
                "app_secret": app.secret,
                "graph_version": VERSION,
                "dialog_base": facebook.url,
                "graph_base": facebook.url,
                "timeout": "1",
            }
        }
        node: Any = build_provider(
            "sqlite+sqlstore", tmp_path, fault_services.as_dict(), brokers=brokers
        )
        node.facebook_app = app
        server, _thread = _serve(node.app)
        try:
            person = FacebookUser("Slow", "slow@example.jp")
            facebook_user(node, person)
            facebook.slow = {"token"}
            facebook.delay = 5
            rp = node.new_client()
            page, _callback = through_facebook(node, facebook, person, Browser(node.url), rp)
            assert page.status_code == 504, page.status_code
            assert 'data-reason="timeout"' in page.text and 'id="back"' in page.text
            no_code(page)
            # The way back is the sign-in page of the same transaction.
            href = re.search(r'id="back" href="([^"]+)"', page.text).group(1)
            assert "/login?tx=" in href.replace("&amp;", "&")
        finally:
            facebook.slow = set()
            server.shutdown()
            node.close()


@pytest.mark.covers("K3", "L4")
def test_L4_K3_full_disk_for_the_outboxes_leaves_no_half_file_and_recovers(provider_on, tmp_path):
    """The development outboxes on a full disk (RLIMIT_FSIZE: no file of the process grows
    past 64 bytes): the reset mail stays queued and no half-written .eml appears; the SMS
    send answers the 503 "could not be sent" page, no half file either. When the disk has
    room again (the limit lifted on the running process) the mail is written by the queue's
    worker and the SMS goes out, with nothing restarted."""
    builder = provider_on(smtp_url="", mail_retry_backoff=1, mail_retry_interval=0)
    _user_id, email = builder.new_user()
    contract = builder.new_contract(two_factor=True)
    _user_id, email_2fa = builder.new_user(contract)
    port = free_port()
    config = node_config(
        builder, issuer=f"http://127.0.0.1:{port}", smtp_url="", mail_retry_interval=1
    )
    node = NodeProcess(config, port, tmp_path / "node.log", file_size_limit=64).start()
    instance = Path(config["instance_dir"])
    try:
        browser = Browser(node.url)
        sent = browser.submit(browser.get("/password/forgot"), email=email)
        assert sent.status_code == 200
        with builder.app.app_context():
            from idp.models import QueuedMail

            def failed_once() -> bool:
                row = builder.db().session.query(QueuedMail).filter_by(purpose="reset").first()
                builder.db().session.rollback()
                return row is not None and row.last_error is not None

            poll(failed_once, "a failed write of the reset mail")
        assert sorted(p.name for p in (instance / "outbox").glob("*")) == []
        rp = RelyingParty(node.url, *_client(builder))
        page = Browser(node.url)
        enroll = page.submit(
            page.get(rp.authorize_url()), "password-form", email=email_2fa, password=PASSWORD
        )
        assert 'id="phone-form"' in enroll.text
        full = page.submit(enroll, "phone-form", phone="090-1234-5678")
        assert full.status_code == 503 and 'id="error"' in full.text, full.text[:300]
        assert "SMS" in full.text and 'id="use-app"' in full.text
        assert [p.name for p in (instance / "sms-outbox").glob("*")] == []
        node.lift_file_size_limit()
        poll(lambda: len(list((instance / "outbox").glob("*.eml"))) == 1, "the reset mail")
        assert [p.name for p in (instance / "outbox").glob(".*")] == []
        again = page.submit(enroll, "phone-form", phone="090-1234-5678")
        assert 'id="code-form"' in again.text, again.text[:300]
        assert len(list((instance / "sms-outbox").glob("*.json"))) == 1
    finally:
        node.kill()


def _client(provider: Any) -> tuple[str, str, str]:
    """A confidential client registered in ``provider``'s database (for a node process)."""
    from idp.actor import Actor
    from idp.clients import add_client

    client_id = f"rp-{uuid.uuid4().hex[:8]}"
    with provider.app.app_context():
        _row, secret = add_client(
            Actor.cli(),
            "Test RP",
            ["https://rp.example/callback"],
            ["https://rp.example/bye"],
            client_id=client_id,
            trusted=True,
        )
    return client_id, secret, "https://rp.example/callback"


@pytest.mark.covers("K3")
def test_K3_a_mail_refused_for_good_is_dropped_and_audited(provider_on):
    """A 5xx answer (RFC 5321 §4.2.1: a permanent failure) is not retried: the mail leaves the
    queue with an audit event ``mail_dropped`` (reason ``smtp_refused``), no address or body
    in it."""
    from idp.mail.queue import queue_summary
    from idp.models import AuditEvent
    from tests.faults_services import RefusingSmtp

    refusing = RefusingSmtp()
    try:
        node = provider_on(smtp_url=f"smtp://127.0.0.1:{refusing.port}")
        user_id, email = node.new_user()
        browser = Browser(node.url)
        assert browser.submit(browser.get("/password/forgot"), email=email).status_code == 200
        session = node.db().session

        def dropped() -> list[AuditEvent]:
            with node.app.app_context():
                rows = session.query(AuditEvent).filter_by(event="mail_dropped").all()
                return [r for r in rows if r.user_id == user_id]

        poll(lambda: bool(dropped()), "the mail_dropped event")
        [event] = dropped()
        assert (event.outcome, event.reason) == ("refused", "smtp_refused")
        assert event.details["purpose"] == "reset" and event.details["error"] == "SMTP 550"
        assert email not in str(event.details)
        with node.app.app_context():
            assert queue_summary() == {}
    finally:
        refusing.stop()


@pytest.mark.covers("K3")
def test_K3_two_nodes_claiming_the_queue_at_once_never_take_the_same_mail(
    provider_on, fault_services
):
    """Each claim takes due rows in one statement (``FOR UPDATE SKIP LOCKED``, and the due
    condition checked again after a wait), so that parallel sweeps of several nodes share
    the queue without sending a mail twice."""
    import threading

    from idp.mail.queue import claim_due
    from idp.mail.queue import enqueue

    node = provider_on(mail_retry_interval=0)
    with node.app.app_context():
        mailer = node.app.extensions["idp.mailer"]
        for number in range(60):
            enqueue(mailer.build(f"q{number}@example.jp", "s", "b"), "reset", None)
    barrier = threading.Barrier(4)
    claims: list[list[str]] = []

    def claim() -> None:
        with node.app.app_context():
            barrier.wait()
            claims.append(claim_due(limit=20))
            node.db().session.remove()

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    claimed = [row_id for batch in claims for row_id in batch]
    assert len(claimed) == len(set(claimed)) == 60, [len(batch) for batch in claims]


@pytest.mark.covers("K3")
def test_K3_idp_mail_queue_counts_and_retries_now(provider_on, fault_services):
    """``idp mail queue`` prints counts by purpose (never an address); ``--retry-now`` sends
    what the SMTP server did not take."""
    from click.testing import CliRunner

    from idp.cli import main

    node = provider_on(mail_retry_interval=0, mail_retry_backoff=3600)
    _user_id, email = node.new_user()
    smtp = fault_services.smtp
    smtp.stop()
    try:
        browser = Browser(node.url)
        assert browser.submit(browser.get("/password/forgot"), email=email).status_code == 200
        node.app.extensions["idp.mailer"].wait_idle()
    finally:
        smtp.clear()
        smtp.start()
    env = {f"IDP_{key.upper()}": str(value) for key, value in node_config(node).items()}
    runner = CliRunner()
    listed = runner.invoke(main, ["mail", "queue"], env=env)
    assert listed.exit_code == 0, listed.output
    assert listed.output.split() == ["reset=1"] and email not in listed.output
    retried = runner.invoke(main, ["mail", "queue", "--retry-now"], env=env)
    assert retried.exit_code == 0, retried.output
    assert retried.output.split() == ["reset=1", "sent=1", "pending=0", "dropped=0"]
    smtp.wait_for(to=email, subject_contains=RESET_SUBJECT)
