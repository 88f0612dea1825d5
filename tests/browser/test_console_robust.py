"""The console's robustness and page behaviour (issue 20) in a real browser, on the real app and database.

- Two operators edit one job: the second save shows the conflict and changes nothing.
- A bad value written by SQL into every JSON column the console reads: every panel and the job's page render.
- Feedback where the operator looks: opening a job scrolls to it, the form opens under the row it was
  asked for, a cron field error names the part that is wrong, an unfolded queued chip never shows `null`,
  a retried request loses its Retry button.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, Browser, LiveServer, Receiver, Rows, assert_clean, sign_in
from tests.factories import add_job, add_request


def _row(page: Any, name: str) -> Any:
    return page.locator(f'[data-testid="job-row"][data-name="{name}"]')


@pytest.fixture
def second_browser(playwright_driver: Any, live_server: LiveServer, tmp_path: Path) -> Iterator[Browser]:
    """Another operator: a second Chromium profile of its own."""
    context = playwright_driver.chromium.launch_persistent_context(
        user_data_dir=str(tmp_path / "profile-b"),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1000, "height": 760},
    )
    context.set_default_timeout(10_000)
    page = context.pages[0] if context.pages else context.new_page()
    recorded = Browser(page=page, base=live_server.url)
    page.on("pageerror", lambda error: recorded.errors.append(str(error)))
    yield recorded
    context.close()


def test_two_operators_editing_one_job_the_second_save_shows_the_conflict_and_changes_nothing(
    browser: Browser, second_browser: Browser, live_server: LiveServer, rows: Rows, receiver: Receiver
) -> None:
    async def seed(sql: asyncpg.Connection) -> str:
        return await add_job(
            sql, "shared-job", target=f"{receiver.url}/ok", schedule_type="interval", schedule="every 2h"
        )

    rows(seed)
    a, b = sign_in(browser), sign_in(second_browser)
    _row(a, "shared-job").get_by_test_id("edit").click()
    _row(b, "shared-job").get_by_test_id("edit").click()

    a.locator("#f-schedule").fill("every 5h")
    a.get_by_test_id("save-job").click()
    a.get_by_test_id("job-form").wait_for(state="hidden")

    # B changes another field on the form it opened before A saved.
    b.locator("#f-name").fill("renamed-by-b")
    b.get_by_test_id("save-job").click()
    conflict = b.locator('[data-testid="form-error"][data-conflict="true"]')
    conflict.wait_for()
    assert "Someone else changed this job" in conflict.inner_text()
    # The form now shows A's version.
    assert b.locator("#f-schedule").input_value() == "every 5h"
    [row] = rows.fetch(
        "select name, schedule, version from public.cron_jobs where name in ('shared-job', 'renamed-by-b')"
    )
    assert (row["name"], row["schedule"], row["version"]) == ("shared-job", "every 5h", 2)

    # Saved again from A's version, B's change goes through, and only it: A's schedule stays.
    b.locator("#f-name").fill("renamed-by-b")
    b.get_by_test_id("save-job").click()
    b.get_by_test_id("job-form").wait_for(state="hidden")
    [row] = rows.fetch("select name, schedule from public.cron_jobs where name = 'renamed-by-b'")
    assert row["schedule"] == "every 5h"
    assert second_browser.errors == [] and browser.errors == []


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = {"a": value}
    return value


def test_a_bad_row_in_every_json_column_leaves_every_panel_and_the_job_page_working(
    browser: Browser, live_server: LiveServer, rows: Rows, receiver: Receiver
) -> None:
    deep = json.dumps(nested(300))

    async def seed(sql: asyncpg.Connection) -> str:
        job = await add_job(sql, "deep-job", target=f"{receiver.url}/ok")
        await add_job(sql, "good-job", target=f"{receiver.url}/ok")
        await sql.execute("update public.cron_jobs set payload = $1::jsonb where id = $2::uuid", deep, job)
        request = await add_request(sql, job)
        await sql.execute(
            "update public.cron_run_requests set status = 'error', result = $1::jsonb, payload = $1::jsonb "
            "where id = $2::uuid",
            deep,
            request,
        )
        await sql.execute(
            "insert into public.cron_runs (job, trigger, status, started_at, finished_at, stats) "
            "values ('check-stale', 'manual', 'ok', now(), now(), $1::jsonb)",
            deep,
        )
        return job

    job = rows(seed)
    page = sign_in(browser)
    _row(page, "good-job").wait_for()
    request_row = page.locator('[data-testid="requests-list"] [data-testid="request-row"]').first
    request_row.wait_for()
    request_row.get_by_test_id("request-chip").click()
    assert "nested deeper than 64 levels" in request_row.get_by_test_id("request-result").inner_text()
    page.locator('[data-testid="run-row"][data-job="check-stale"]').first.wait_for()
    assert "nested deeper than 64 levels" in page.locator('[data-testid="runs-list"]').inner_text()

    page.goto(f"{live_server.url}/api/ops#job={job}")
    page.get_by_test_id("job-detail").wait_for()
    page.wait_for_function("() => document.querySelector('#detail-title').textContent === 'deep-job'")
    assert page.get_by_test_id("banner").is_hidden()
    assert_clean(browser, live_server)


def test_feedback_where_the_operator_looks(
    browser: Browser, live_server: LiveServer, rows: Rows, receiver: Receiver
) -> None:
    async def seed(sql: asyncpg.Connection) -> dict[str, str]:
        ids = {}
        for index in range(30):
            ids[f"job-{index:02d}"] = await add_job(sql, f"job-{index:02d}", target=f"{receiver.url}/ok")
        ids["queued"] = await add_request(sql, ids["job-00"])
        await sql.execute(
            "update public.cron_run_requests set available_at = now() + interval '1 hour' where id = $1::uuid",
            ids["queued"],
        )
        failed = await add_request(sql, ids["job-01"])
        await sql.execute("update public.cron_run_requests set status = 'error' where id = $1::uuid", failed)
        ids["failed"] = failed
        return ids

    ids = rows(seed)
    page = sign_in(browser)

    # An unfolded queued chip says what it waits for, never `null`.
    queued = page.locator(f'[data-testid="requests-list"] [data-testid="request-row"][data-id="{ids["queued"]}"]')
    queued.get_by_test_id("request-chip").click()
    text = queued.get_by_test_id("request-result").inner_text()
    assert "null" not in text and text.startswith("No result yet: queued")

    # A retried request loses its Retry button and says what retried it.
    failed = page.locator(f'[data-testid="requests-list"] [data-testid="request-row"][data-id="{ids["failed"]}"]')
    failed.get_by_test_id("retry").click()
    failed.get_by_test_id("retried-by").wait_for()
    assert failed.get_by_test_id("retry").count() == 0

    # The form opens under the row whose Edit was clicked, far down the list.
    last = _row(page, "job-29")
    # The click scrolls the row into view (and waits out a re-render of the list).
    last.get_by_test_id("edit").click()
    form = page.get_by_test_id("job-form")
    form.wait_for()
    row_box, form_box = last.bounding_box(), form.bounding_box()
    assert 0 <= form_box["y"] - (row_box["y"] + row_box["height"]) < 40, (row_box, form_box)
    assert page.evaluate("() => document.activeElement.id") == "f-name"

    # A cron field error names the field and the part that is wrong.
    page.locator("#f-schedule_type").select_option("cron")
    page.locator("#f-schedule").fill("0 25 * * *")
    page.get_by_test_id("save-job").click()
    error = page.get_by_test_id("field-error-schedule")
    error.wait_for()
    assert "hour 25 is out of range 0-23" in error.inner_text()
    page.get_by_test_id("cancel-job").click()

    # Opening a job while scrolled down shows it at once.
    page.evaluate("() => window.scrollTo(0, document.body.scrollHeight)")
    last.get_by_test_id("job-link").click()
    detail = page.get_by_test_id("job-detail")
    detail.wait_for()
    page.wait_for_function("() => document.querySelector('#detail-title').textContent === 'job-29'")
    top = page.evaluate("() => document.getElementById('job-detail').getBoundingClientRect().top")
    assert 0 <= top < 200, top
    assert_clean(browser, live_server, frozenset({(422, f"/api/ops/jobs/{ids['job-29']}")}))
