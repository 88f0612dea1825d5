"""Workers in the console, in Chromium: a worker that went quiet shows offline, and Run now on its job warns."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from lib.workers.tokens import new_token, token_hash
from tests.browser.conftest import Browser, LiveServer, Rows, assert_clean, sign_in


def _quiet_worker(rows: Rows, live_server: LiveServer) -> None:
    """A worker that synced one job, then went quiet ten minutes ago."""
    token = new_token()

    async def add(sql: asyncpg.Connection) -> None:
        await sql.execute(
            "insert into public.cron_workers (project_id, name, token_hash) values ('default', 'mac-mini', $1)",
            token_hash(token),
        )

    rows(add)
    answer = httpx.post(
        f"{live_server.url}/api/worker/sync",
        json={"jobs": [{"job_id": "backup", "name": "nightly-backup", "schedule_kind": "cron",
                        "schedule_expr": "0 3 * * *", "instructions": "rsync to the USB disk"}]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text

    async def quiet(sql: asyncpg.Connection) -> None:
        await sql.execute("update public.cron_workers set last_seen_at = now() - interval '10 minutes'")

    rows(quiet)


def test_a_quiet_worker_shows_offline_and_run_now_warns(browser: Browser, live_server: LiveServer, rows: Rows) -> None:
    _quiet_worker(rows, live_server)
    page: Any = sign_in(browser)
    worker = page.locator('[data-testid="worker-row"][data-name="mac-mini"]')
    worker.wait_for()
    assert worker.get_attribute("data-state") == "offline"
    assert worker.get_by_test_id("worker-state").inner_text() == "offline"

    job = page.locator('[data-testid="job-row"][data-name="nightly-backup"]')
    assert "at 03:00 every day (UTC)" in job.get_by_test_id("worker-of-job").inner_text()
    job.get_by_test_id("run-now").click()
    notice = job.get_by_test_id("worker-run-notice")
    notice.wait_for()
    text = notice.inner_text()
    assert text.startswith("queued: runs when mac-mini picks it up")
    assert "has not been seen" in text and "may be offline" in text
    queued = rows.fetch("select status from public.cron_run_requests")
    assert [row["status"] for row in queued] == ["queued"]
    assert_clean(browser, live_server)
