"""G3, L10, G7, G8: invitations from a CSV upload, run as a job with a result per row.

Through the console (the invitations page's upload form, with CSRF, then the job page and its
error report) and the admin API (``POST /invitations/bulk``, ``GET /invitation-jobs/{id}``):
UTF-8 with and without a BOM and Shift_JIS as Excel writes it; a file in neither refused in
words; bad rows, duplicates and addresses in use (the same words whichever contract uses them);
re-uploading the same file sends no second mail; another contract's job is not found; the
upload answers before any invitation is sent."""

from __future__ import annotations

import csv
import io
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape

import pytest
import requests

from idp.actor import Actor
from idp.models import InvitationJob
from idp.models import User
from idp.users.invitations import invite_user
from tests.clock import moved_clock
from tests.field_errors import assert_field_error
from tests.field_errors import text_of
from tests.helpers import Browser
from tests.helpers import forms_in
from tests.test_admin_api import PREFIX
from tests.test_admin_api import assert_problem
from tests.test_admin_api import token_for
from tests.test_admin_console import signed_in_admin
from tests.test_template_languages import JAPANESE
from tests.test_template_languages import japanese_in

SUBJECT = "利用者登録"
BOM = b"\xef\xbb\xbf"
IN_USE = "このメールアドレスは使用できません。別のアドレスを入力してください。"


def _addr(tag: str) -> str:
    return f"bulk-{tag}-{uuid.uuid4().hex[:8]}@example.jp"


def _csv(rows: list[list[str]], header: tuple[str, ...] = ("email", "name", "role")) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _wait(provider) -> None:
    """The job's rows, then their mails, are sent off the request thread."""
    provider.app.extensions["idp.invite_jobs"].wait_idle()
    provider.app.extensions["idp.mailer"].wait_idle()


def _upload(browser: Browser, data: bytes, filename: str = "users.csv", locale: str = "ja"):
    page = browser.get("/admin/invitations")
    form = next(f for f in forms_in(page.text) if f.id == "upload-form")
    return browser.session.post(
        browser.provider_url + form.action,
        data={"csrf_token": form.fields["csrf_token"], "upload_locale": locale},
        files={"file": (filename, data, "text/csv")},
        allow_redirects=False,
    )


def _job_page(browser: Browser, answer) -> requests.Response:
    assert answer.status_code == 303, answer.text[:500]
    return browser.get(answer.headers["Location"])


def _rows(page) -> dict[int, tuple[str, str, str]]:
    """line → (status, reason, the words shown)."""
    rows = re.findall(
        r'<tr class="job-row" data-line="(\d+)" data-status="(\w+)" data-reason="(\w*)">'
        r"(?:\s*<td>.*?</td>){4}\s*<td>(.*?)</td>",
        page.text,
        re.S,
    )
    return {int(line): (status, reason, unescape(words)) for line, status, reason, words in rows}


def _mails_to(mailbox, *emails: str) -> int:
    wanted = {e.lower() for e in emails}
    return sum(
        1
        for m in mailbox.messages
        if str(m["To"]).lower() in wanted and SUBJECT in str(m["Subject"])
    )


def _post_csv(provider, token, body: bytes, content_type="text/csv; charset=utf-8", **params):
    return requests.post(
        f"{provider.url}{PREFIX}/invitations/bulk",
        data=body,
        params=params,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        timeout=10,
    )


def _get_job(provider, token, job_id):
    return requests.get(
        f"{provider.url}{PREFIX}/invitation-jobs/{job_id}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )


@pytest.mark.covers("G3", "L10", "G8")
def test_G3_upload_invites_the_valid_rows_and_reports_each_bad_one_in_words(provider, mailbox):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    good, admin_good, jp = _addr("ok"), _addr("admin"), _addr("jp")
    _member_id, member = provider.new_user(contract_id)  # registered in this contract
    _stranger_id, stranger = provider.new_user(provider.new_contract())  # another contract's
    text = _csv(
        [
            [good, "一括 花子", "user"],  # line 2
            [admin_good, "一括 管理", "admin"],  # 3
            ["not-an-address", "x", "user"],  # 4
            [_addr("role"), "x", "contractor"],  # 5
            [_addr("long"), "長" * 201, "user"],  # 6
            ["", "名前だけ", "user"],  # 7
            [good.upper(), "二重", "user"],  # 8: the same address as line 2
            [member, "", ""],  # 9
            [stranger, "", ""],  # 10
            [jp, "日本 語", "管理者"],  # 11
            ["", "", ""],  # 12: blank, skipped
            ["=HYPERLINK(1)", "+x", "user"],  # 13: a formula, harmless in the report
        ]
    )
    job = _job_page(browser, _upload(browser, text.encode("utf-8")))
    _wait(provider)
    page = browser.get(job.url)
    assert page.status_code == 200 and 'data-status="finished"' in page.text
    assert "data-refresh-ms" not in page.text  # done: the page stops following the job
    rows = _rows(page)
    assert {line: r[0] for line, r in rows.items()} == {
        2: "invited",
        3: "invited",
        4: "error",
        5: "error",
        6: "error",
        7: "error",
        8: "error",
        9: "error",
        10: "error",
        11: "invited",
        13: "error",
    }
    words = {line: r[2] for line, r in rows.items()}
    assert words[4] == "メールアドレスの形式が正しくありません。"
    assert "利用者 または 管理者" in words[5]
    assert words[6] == "氏名が長すぎます（200文字まで）。"
    assert words[7] == "メールアドレスがありません。"
    assert words[8] == "このメールアドレスはファイルの前の行にもあります。"
    # G8: a user of this contract and a user of another get the same words, naming nobody.
    assert words[9] == words[10] == IN_USE
    assert re.search(r'id="job-total">11<', page.text) and re.search(
        r'id="job-failed">8<', page.text
    )
    for email in (good, admin_good, jp):
        mailbox.wait_for(to=email, subject_contains=SUBJECT)
    with provider.app.app_context():
        users = provider.db().session.query(User).filter(User.email.in_([good, admin_good, jp]))
        assert {(u.email, u.name, u.role) for u in users} == {
            (good, "一括 花子", "user"),
            (admin_good, "一括 管理", "admin"),
            (jp, "日本 語", "admin"),
        }
    # The error report: only the refused rows, their reason in words, UTF-8 with a BOM.
    report_link = re.search(r'id="error-report" href="([^"]+)"', page.text).group(1)
    report = browser.get(unescape(report_link))
    assert report.status_code == 200 and report.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in report.headers["Content-Disposition"]
    assert report.content.startswith(BOM)
    lines = list(csv.reader(io.StringIO(report.content[3:].decode("utf-8"))))
    assert lines[0] == ["行", "email", "name", "role", "理由"]
    assert [int(line[0]) for line in lines[1:]] == [4, 5, 6, 7, 8, 9, 10, 13]
    assert lines[1][1] == "not-an-address" and lines[1][4] == words[4]
    assert lines[6][4] == lines[7][4] == IN_USE
    # A spreadsheet opening the report runs no formula from the upload.
    assert lines[8][1:3] == ["'=HYPERLINK(1)", "'+x"]


@pytest.mark.covers("G3")
@pytest.mark.parametrize(
    "encoding",
    ["utf-8", "utf-8-sig", "cp932"],
    ids=["utf-8", "utf-8 with BOM", "Shift_JIS from Excel"],
)
def test_G3_utf8_with_or_without_bom_and_shift_jis_read_alike(provider, mailbox, encoding):
    contract_id = provider.new_contract()
    provider.new_user(contract_id, role="contractor")
    token = token_for(provider, contract_id)
    first, second = _addr("enc1"), _addr("enc2")
    text = _csv(
        [[first, "山田 太郎", "利用者"], [second, "髙橋 ①子", "admin"]],
        header=("メールアドレス", "氏名", "権限"),
    )
    answer = _post_csv(provider, token, text.encode(encoding))
    assert answer.status_code == 202, answer.text
    job = answer.json()
    assert job["total"] == 2 and job["failed"] == 0 and job["errors"] == []
    assert answer.headers["Location"].endswith(f"/invitation-jobs/{job['id']}")
    _wait(provider)
    done = _get_job(provider, token, job["id"]).json()
    assert (done["status"], done["done"], done["failed"]) == ("finished", 2, 0)
    assert done["finished_at"]
    with provider.app.app_context():
        users = provider.db().session.query(User).filter(User.email.in_([first, second]))
        assert {(u.name, u.role) for u in users} == {("山田 太郎", "user"), ("髙橋 ①子", "admin")}
    mail = mailbox.wait_for(to=second, subject_contains=SUBJECT)
    assert "髙橋 ①子" in mailbox.text_of(mail)


@pytest.mark.covers("G3")
@pytest.mark.parametrize(
    "data",
    [
        _csv([["müller@example.jp", "Jürgen Müller", "user"]]).encode("latin-1"),
        bytes(range(256)) * 4,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    ],
    ids=["Latin-1", "binary", "an image"],
)
def test_G3_a_file_in_neither_utf8_nor_shift_jis_is_refused_in_words(provider, data):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    refused = _upload(browser, data)
    assert refused.status_code == 400
    assert "ファイルを読み取れませんでした。UTF-8またはShift_JISのCSVで保存してください" in (
        refused.text
    )
    token = token_for(provider, contract_id)
    assert_problem(_post_csv(provider, token, data), 400, "encoding")
    with provider.app.app_context():
        jobs = provider.db().session.query(InvitationJob).filter_by(contract_id=contract_id)
        assert jobs.count() == 0  # nothing stored


@pytest.mark.covers("G3")
def test_G3_a_file_without_the_header_row_or_without_a_file_is_refused_in_words(provider):
    browser, _contract_id, _admin_id = signed_in_admin(provider)
    headless = _upload(browser, f"{_addr('h')},名前,user\r\n".encode())
    assert headless.status_code == 400
    assert "1行目は見出し行にしてください" in unescape(headless.text)
    empty = _upload(browser, b"")
    assert empty.status_code == 400 and "CSVファイルを選んでください。" in empty.text
    only_header = _upload(browser, b"email,name,role\r\n")
    assert only_header.status_code == 400 and "招待する行がありません。" in only_header.text


@pytest.mark.covers("G3")
def test_G3_a_bad_header_names_the_english_columns_in_english_and_both_in_japanese(provider):
    """Issue 14 (no Japanese on an English page): the refusal of a file whose first row is not
    the header names email,name,role on the English page, with no Japanese character in it,
    and the Japanese columns too on the Japanese page; beside the file field, focused."""
    browser, _contract_id, _admin_id = signed_in_admin(provider)
    headless = f"{_addr('h')},名前,user\r\n".encode()
    japanese = _upload(browser, headless)
    assert japanese.status_code == 400
    said = text_of(japanese.text, "error-file")
    assert "email,name,role" in said and "メールアドレス,氏名,権限" in said, said
    assert_field_error(japanese.text, "file", said)
    browser.get("/admin/invitations?lang=en")
    english = _upload(browser, headless)
    assert english.status_code == 400
    said = text_of(english.text, "error-file")
    assert said == "The first row must name the columns: email,name,role.", said
    assert_field_error(english.text, "file", said)
    assert not JAPANESE.search(text_of(english.text, "error")), text_of(english.text, "error")
    # The page's only Japanese is marked as such: the columns in the help, the language name.
    unmarked = re.sub(r'<(span|option)[^>]* lang="ja"[^>]*>[^<]*</\1>', "", english.text)
    assert japanese_in(unmarked) == [], japanese_in(unmarked)


@pytest.mark.covers("G3", "L10")
def test_G3_uploading_the_same_file_again_changes_nothing_and_sends_no_second_mail(
    provider, mailbox
):
    browser, _contract_id, _admin_id = signed_in_admin(provider)
    emails = [_addr(f"again{i}") for i in range(3)]
    data = _csv([[e, f"再 {i}", "user"] for i, e in enumerate(emails)]).encode("utf-8-sig")
    _job_page(browser, _upload(browser, data))
    _wait(provider)
    for email in emails:
        mailbox.wait_for(to=email, subject_contains=SUBJECT)
    assert _mails_to(mailbox, *emails) == 3
    again = _job_page(browser, _upload(browser, data))
    _wait(provider)
    page = browser.get(again.url)
    rows = _rows(page)
    assert [r[0] for r in rows.values()] == ["already_invited"] * 3
    assert {r[2] for r in rows.values()} == {"すでに招待済みです。再送はしていません。"}
    assert re.search(r'id="job-failed">0<', page.text) and 'id="error-report"' not in page.text
    assert _mails_to(mailbox, *emails) == 3  # no second mail


@pytest.mark.covers("G3", "G8")
def test_G8_another_contracts_invitation_job_is_not_found(provider):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    answer = _upload(browser, _csv([[_addr("g8"), "", ""]]).encode())
    job_path = answer.headers["Location"]
    job_id = job_path.rsplit("/", 1)[1]
    _wait(provider)
    other_browser, other_contract, _other_admin = signed_in_admin(provider)
    assert other_browser.get(job_path).status_code == 404
    assert other_browser.get(f"{job_path}/errors.csv").status_code == 404
    assert browser.get(f"{job_path}/errors.csv").status_code == 200
    other_token = token_for(provider, other_contract)
    assert_problem(_get_job(provider, other_token, job_id), 404, "not_found")
    assert _get_job(provider, token_for(provider, contract_id), job_id).status_code == 200
    assert_problem(_get_job(provider, other_token, "x" * 300), 404, "not_found")


@pytest.mark.covers("G3")
def test_G3_the_upload_answers_before_any_invitation_is_sent(provider, mailbox):
    browser, _contract_id, _admin_id = signed_in_admin(provider)
    email = _addr("later")
    jobs = provider.app.extensions["idp.invite_jobs"]
    gate = threading.Event()
    # The job pool runs one job at a time: while this one waits, the upload's job waits too.
    jobs.submit(provider.app, lambda: gate.wait(30))
    try:
        answer = _upload(browser, _csv([[email, "後で 送信", "user"]]).encode())
        page = _job_page(browser, answer)
        assert 'data-status="queued"' in page.text
        assert 'data-refresh-ms="2000"' in page.text and 'id="job-refresh"' in page.text
        provider.app.extensions["idp.mailer"].wait_idle()
        assert _mails_to(mailbox, email) == 0
        with provider.app.app_context():
            assert provider.db().session.query(User).filter_by(email=email).count() == 0
    finally:
        gate.set()
    _wait(provider)
    mailbox.wait_for(to=email, subject_contains=SUBJECT)
    assert 'data-status="finished"' in browser.get(page.url).text


@pytest.mark.covers("G3", "G7")
def test_G7_bulk_upload_refuses_another_media_type_and_a_read_only_token(provider):
    contract_id = provider.new_contract()
    body = _csv([[_addr("api"), "", ""]]).encode()
    token = token_for(provider, contract_id)
    assert_problem(_post_csv(provider, token, body, "application/json"), 415)
    reader = token_for(provider, contract_id, scope="admin:read")
    assert _post_csv(provider, reader, body).status_code == 403
    bad = _post_csv(provider, token, _csv([["nope", "", "root"]]).encode(), locale="en")
    assert bad.status_code == 202
    assert bad.json()["errors"] == [
        {
            "line": 2,
            "email": "nope",
            "reason": "invalid_email",
            "detail": "The email address is not valid.",
        }
    ]


@pytest.mark.covers("G3")
def test_G3_an_address_invited_by_hand_meanwhile_is_already_invited(provider, mailbox):
    """The single invitation and the file meet on the same address: one mail only."""
    browser, contract_id, _admin_id = signed_in_admin(provider)
    email = _addr("hand")
    with provider.app.app_context():
        invite_user(Actor.cli(), contract_id, email, "手 入力")
    mailbox.wait_for(to=email, subject_contains=SUBJECT)
    page = _job_page(browser, _upload(browser, _csv([[email, "手 入力", "user"]]).encode()))
    _wait(provider)
    assert [r[0] for r in _rows(browser.get(page.url)).values()] == ["already_invited"]
    assert _mails_to(mailbox, email) == 1


@pytest.mark.covers("G3", "G7")
def test_G3_a_file_over_5_mb_is_refused_in_words_and_by_the_api(provider):
    browser, contract_id, _admin_id = signed_in_admin(provider)
    row = f"{_addr('big')},{'大' * 60},user\r\n".encode()
    big = b"email,name,role\r\n" + row * (5 * 1024 * 1024 // len(row) + 1)
    assert len(big) > 5 * 1024 * 1024
    refused = _upload(browser, big)
    assert refused.status_code == 400
    assert "ファイルが5MBを超えています。ファイルを分けてください。" in refused.text
    far_too_big = _upload(browser, big * 2)  # not even read: the 413 page
    assert far_too_big.status_code == 413 and "<html" in far_too_big.text
    token = token_for(provider, contract_id)
    assert_problem(_post_csv(provider, token, big), 413)
    with provider.app.app_context():
        jobs = provider.db().session.query(InvitationJob).filter_by(contract_id=contract_id)
        assert jobs.count() == 0


@pytest.mark.covers("G3", "G4")
def test_G4_an_admin_demoted_while_the_job_waits_invites_nobody(provider, mailbox):
    """The job acts in its uploader's name, whose right is read again for each row."""
    from idp.users.roles import set_admin_privilege

    browser, _contract_id, admin_id = signed_in_admin(provider)
    email = _addr("demoted")
    jobs = provider.app.extensions["idp.invite_jobs"]
    gate = threading.Event()
    jobs.submit(provider.app, lambda: gate.wait(30))
    try:
        page = _job_page(browser, _upload(browser, _csv([[email, "", "user"]]).encode()))
        with provider.app.app_context():
            admin = provider.db().session.get(User, admin_id)
            set_admin_privilege(Actor.cli(), admin, False)
    finally:
        gate.set()
    _wait(provider)
    assert browser.get(page.url).status_code == 403  # the console is closed to a user now
    with provider.app.app_context():
        session = provider.db().session
        assert session.query(User).filter_by(email=email).count() == 0
        row = session.query(InvitationJob).filter_by(actor=f"admin:{admin_id}").one()
        assert (row.status, row.failed) == ("finished", 1)
    assert _mails_to(mailbox, email) == 0


@dataclass
class StalledJob:
    """A job whose node took it and then stalled: it waits behind ``gate`` in the pool."""

    browser: Browser
    email: str
    url: str
    gate: threading.Event

    @property
    def id(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


@contextmanager
def _stalled_job(provider, tag: str) -> Iterator[StalledJob]:
    """Upload one row while the pool is held (the stalled, or stopped, node); the pool is let
    go when the block ends, whatever happened in it."""
    browser, _contract_id, _admin_id = signed_in_admin(provider)
    email = _addr(tag)
    gate = threading.Event()
    provider.app.extensions["idp.invite_jobs"].submit(provider.app, lambda: gate.wait(30))
    try:
        page = _job_page(browser, _upload(browser, _csv([[email, "再開 する", "user"]]).encode()))
        assert 'data-status="queued"' in page.text
        yield StalledJob(browser, email, page.url, gate)
    finally:
        gate.set()


@contextmanager
def _lease_ran_out(provider) -> Iterator[None]:
    """The clock moved past the stalled node's lease (IDP_INVITE_JOB_LEASE), in the store too."""
    lease = provider.app.extensions["idp.settings"].invite_job_lease
    with moved_clock(provider.app.extensions["idp.store"]) as clock:
        clock.advance(lease + 1)
        yield


def _job_of(provider, job_id: str) -> tuple[str, int, int, int]:
    with provider.app.app_context():
        job = provider.db().session.get(InvitationJob, job_id)
        return job.status, job.total, job.done, job.failed


@pytest.mark.covers("G3", "O1")
def test_G3_a_job_whose_node_stopped_is_finished_by_the_command_once_its_lease_ran_out(
    provider, mailbox
):
    """The job pool lives in memory: a job whose node stopped would wait for ever. Its node's
    lease in the shared store runs out (IDP_INVITE_JOB_LEASE); until then
    ``idp users resume-invitation-jobs`` (resume_jobs) leaves it to its node, after it finishes
    it in the uploader's name, and the row is not mailed twice when the old node wakes."""
    from idp.users.bulk_invite import resume_jobs

    with _stalled_job(provider, "resumed") as job:
        with provider.app.app_context():
            assert job.id not in resume_jobs()  # its node holds it
        assert 'data-status="queued"' in job.browser.get(job.url).text
        with _lease_ran_out(provider):
            with provider.app.app_context():
                assert job.id in resume_jobs()
            # The mail was queued at the moved time: sent while the clock stays moved (the
            # sender sends what is due by its clock).
            mailbox.wait_for(to=job.email, subject_contains=SUBJECT)
        assert 'data-status="finished"' in job.browser.get(job.url).text
    _wait(provider)
    assert _job_of(provider, job.id) == ("finished", 1, 1, 0)
    assert _mails_to(mailbox, job.email) == 1


@pytest.mark.covers("G3", "O1")
def test_G3_a_node_sweep_takes_over_a_job_whose_lease_ran_out_and_the_old_holder_stops(
    provider, mailbox
):
    """Every serving node sweeps for unfinished jobs nobody holds (resume_orphaned_jobs, run by
    its invite-sweep thread every lease time): one whose node stalled past its lease is taken
    and finished; the stalled node, woken, finds its lease gone and invites nobody again."""
    from idp.users.bulk_invite import resume_orphaned_jobs

    with _stalled_job(provider, "swept") as job:
        with provider.app.app_context():
            assert job.id not in resume_orphaned_jobs()  # held: not taken
        with _lease_ran_out(provider), provider.app.app_context():
            assert job.id in resume_orphaned_jobs()
            assert job.id not in resume_orphaned_jobs()  # taken once
    # The pool let go: the stalled run goes first, then the sweep's.
    _wait(provider)
    assert 'data-status="finished"' in job.browser.get(job.url).text
    assert _job_of(provider, job.id) == ("finished", 1, 1, 0)
    mailbox.wait_for(to=job.email, subject_contains=SUBJECT)
    provider.app.extensions["idp.mailer"].wait_idle()
    assert _mails_to(mailbox, job.email) == 1
