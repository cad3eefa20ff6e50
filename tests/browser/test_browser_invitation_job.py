"""G3 in real Chromium: the progress of invitations from a file. While the job waits its turn
(the provider's one invitation worker is busy with an earlier job, held here), the job page
says it is waiting, shows 1 of 3 done (the malformed row, refused at the upload) and
follows the job; when the job has run, the same page — updated in place, nobody reloads it,
the keyboard's focus kept — says done, shows 3 of 3 and each row's result.

Every page visited is saved to ``test-artifacts/screenshots/<test-name>/`` after checking the
page for console errors, script errors and failed requests (``snap``).
"""

from __future__ import annotations

import threading
import uuid

import pytest

from idp import extensions
from tests.browser.flows import click_and_wait
from tests.browser.flows import contractor
from tests.browser.flows import menu_sign_in
from tests.browser.flows import on_path
from tests.browser.flows import phone_snap
from tests.browser.test_browser_account_menu import snap as snap  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

#: The job page reads itself again every 2 s (static/js/job-progress.js); a few reads at most.
REFRESHED_MS = 20_000


@pytest.mark.covers("G3")
def test_G3_the_job_page_shows_waiting_then_refreshes_itself_to_done(
    page, browser_provider, mailbox, snap
):
    provider = browser_provider
    _contract_id, _boss, boss_email = contractor(provider, "basic")
    menu_sign_in(page, provider, boss_email, snap)
    click_and_wait(page, "#to-admin-console")
    click_and_wait(page, "#nav-invitations")
    on_path(page, provider, "/admin/invitations")

    tag = uuid.uuid4().hex[:8]
    emails = [f"job-{tag}-{n}@example.jp" for n in range(2)]
    text = "メールアドレス,氏名,権限\r\n" + "".join(
        f"{email},一括 {n},利用者\r\n" for n, email in enumerate(emails)
    )
    text += "not-an-address,誤り,利用者\r\n"
    upload = {"name": "招待.csv", "mimeType": "text/csv", "buffer": text.encode("utf-8")}
    page.set_input_files("#file", files=[upload])

    # The one worker runs an earlier job until released: this upload waits its turn.
    release = threading.Event()
    extensions.invite_jobs.of(provider.app).submit(provider.app, lambda: release.wait(30))
    try:
        click_and_wait(page, "#upload")
        assert "/admin/invitation-jobs/" in page.url
        status = page.locator("#job-status")
        assert status.get_attribute("data-status") == "queued"
        snap("job-waiting")
        assert "開始を待っています" in status.inner_text()
        assert "自動で更新されます" in status.inner_text()
        # The malformed row was refused at the upload already; the two others wait.
        progress = page.locator("#job-progress")
        assert (progress.get_attribute("value"), progress.get_attribute("max")) == ("1", "3")
        assert page.locator("#job-done").inner_text().strip() == "1"
        rows = page.locator("tr.job-row")
        assert [rows.nth(i).get_attribute("data-status") for i in range(3)] == [
            "pending",
            "pending",
            "error",
        ]
        assert page.locator("#error-report").count() == 0
    finally:
        release.set()

    # The page follows the job in place until it is done: no reload (the same document, the
    # focus kept where the keyboard left it), the status announced (role="status").
    page.focus("#back-to-invitations")
    document = page.evaluate("() => { window.notReloaded = true; return document.URL; }")
    page.wait_for_selector('#job-status[data-status="finished"]', timeout=REFRESHED_MS)
    assert page.evaluate("() => window.notReloaded === true") and page.url == document
    assert page.evaluate("() => document.activeElement.id") == "back-to-invitations"
    assert page.locator("#job-refresh").count() == 0
    snap("job-done")
    phone_snap(page, snap, "job-done")
    assert "完了しました" in page.locator("#job-status").inner_text()
    progress = page.locator("#job-progress")
    assert (progress.get_attribute("value"), progress.get_attribute("max")) == ("3", "3")
    assert page.locator("#job-failed").inner_text().strip() == "1"
    rows = page.locator("tr.job-row")
    assert [rows.nth(i).get_attribute("data-status") for i in range(3)] == [
        "invited",
        "invited",
        "error",
    ]
    assert page.locator("#error-report").is_visible()
    for email in emails:
        mailbox.wait_for(to=email, subject_contains="利用者登録")
