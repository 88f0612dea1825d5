"""The console in a real browser, on the real app and a real database.

Jobs are seeded into the live server's Postgres with tests/factories.py;
webhook jobs call a local receiver; the drain is called from the test, once,
with the bearer, the way a cron trigger would.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import asyncpg

from lib.migrate import vercel_crons
from tests.browser.conftest import (
    Browser,
    LiveServer,
    Receiver,
    Rows,
    assert_clean,
    call_route,
    drain,
    screenshot,
    sign_in,
)
from tests.factories import add_job, add_request

BUILTIN = [job for job, _ in vercel_crons()]


def _seed(rows: Rows, receiver: Receiver) -> dict[str, str]:
    """Three webhook jobs in `default` (one paused), one in `billing`; their ids by name."""

    async def work(sql: asyncpg.Connection) -> dict[str, str]:
        return {
            "nightly-report": await add_job(
                sql,
                "nightly-report",
                target=f"{receiver.url}/ok",
                schedule_type="cron",
                schedule="0 7 * * *",
                timezone="Europe/Berlin",
            ),
            "deploy-preview": await add_job(sql, "deploy-preview", target=f"{receiver.url}/ok"),
            "flaky-hook": await add_job(sql, "flaky-hook", target=f"{receiver.url}/fail", enabled=False),
            "billing-sync": await add_job(
                sql,
                "billing-sync",
                project_id="billing",
                target=f"{receiver.url}/ok",
                schedule_type="interval",
                schedule="every 5m",
            ),
        }

    return rows(work)


def _names(page: Any) -> list[str]:
    return [str(row.get_attribute("data-name")) for row in page.get_by_test_id("job-row").all()]


def _shows_only(page: Any, names: list[str]) -> None:
    """Waits until the jobs list shows exactly `names`, in that order."""
    page.wait_for_function(
        "names => JSON.stringify([...document.querySelectorAll('[data-testid=job-row]')]"
        ".map(row => row.dataset.name)) === JSON.stringify(names)",
        arg=names,
    )


def _row(page: Any, name: str) -> Any:
    return page.locator(f'[data-testid="job-row"][data-name="{name}"]')


def _request_row(page: Any, request_id: str) -> Any:
    return page.locator(f'[data-testid="requests-list"] [data-testid="request-row"][data-id="{request_id}"]')


def _chip_is(page: Any, request_id: str, status: str) -> None:
    _request_row(page, request_id).locator(f'[data-testid="request-chip"][data-status="{status}"]').wait_for()


def _newest_request(rows: Rows, job_id: str) -> asyncpg.Record:
    [row] = rows.fetch(
        "select id::text, status, retry_of::text, requested_by from public.cron_run_requests"
        " where job_id = $1 order by requested_at desc limit 1",
        job_id,
    )
    return row


def _no_reload_marker(page: Any) -> None:
    page.evaluate("() => { window.__sameDocument = true; }")


def _record_run_chips(page: Any, job: str) -> None:
    """Records each state the job row's Run now chip shows, in order, however briefly."""
    page.evaluate(
        """job => {
          window.__runChips = [];
          const seen = () => {
            const chip = document.querySelector(`[data-testid=job-row][data-name="${job}"] [data-testid=run-chip]`);
            const status = chip && chip.dataset.status;
            if (status && window.__runChips[window.__runChips.length - 1] !== status) window.__runChips.push(status);
          };
          new MutationObserver(seen).observe(document.body, { subtree: true, childList: true, attributes: true });
        }""",
        job,
    )


def _same_document(page: Any) -> bool:
    return bool(page.evaluate("() => window.__sameDocument === true"))


def test_jobs_list_search_and_run_now_until_done(
    browser: Browser, live_server: LiveServer, rows: Rows, receiver: Receiver, tmp_path: Path
) -> None:
    ids = _seed(rows, receiver)
    page = sign_in(browser)
    assert sorted(_names(page)) == sorted([*BUILTIN, "deploy-preview", "flaky-hook", "nightly-report"])
    assert page.get_by_test_id("banner").is_hidden()

    nightly = _row(page, "nightly-report")
    text = nightly.inner_text()
    assert "Europe/Berlin" in text and "07:00" in text  # the schedule in words, with its timezone
    assert nightly.get_by_test_id("enabled").inner_text() == "enabled"
    assert _row(page, "flaky-hook").get_by_test_id("enabled").inner_text() == "paused"
    # A paused job refuses run requests, so its Run now waits for Resume.
    assert _row(page, "flaky-hook").get_by_test_id("run-now").is_disabled()
    assert nightly.get_by_test_id("run-now").is_enabled()
    builtin = _row(page, "check-stale")
    assert builtin.get_by_test_id("run-now").count() == 1 and builtin.get_by_test_id("edit").count() == 0
    assert nightly.get_by_test_id("edit").count() == 1 and nightly.get_by_test_id("delete").count() == 1
    projects = sorted(str(o.get_attribute("value")) for o in page.get_by_test_id("project").locator("option").all())
    assert projects == ["billing", "default"]
    # An empty panel says what to do.
    assert "press Run now" in page.get_by_test_id("requests-state").inner_text()

    page.get_by_test_id("search").fill("night")
    _shows_only(page, ["nightly-report"])
    page.get_by_test_id("search").fill("")
    page.get_by_test_id("filter").select_option("paused")
    _shows_only(page, ["flaky-hook"])
    page.get_by_test_id("filter").select_option("all")
    page.get_by_test_id("project").select_option("billing")
    _shows_only(page, ["billing-sync"])
    page.get_by_test_id("project").select_option("default")
    _row(page, "nightly-report").wait_for()

    # Run now runs now: the job's own row shows "running", then "done", without a
    # reload and without a drain call; the receiver got one signed call.
    _no_reload_marker(page)
    _record_run_chips(page, "nightly-report")
    clicked = time.monotonic()
    _row(page, "nightly-report").get_by_test_id("run-now").click()
    chip = _row(page, "nightly-report").get_by_test_id("run-chip")
    chip.and_(page.locator('[data-status="done"]')).wait_for(timeout=2000)
    done = time.monotonic()
    assert page.evaluate("() => window.__runChips") == ["running", "done"]
    assert done - clicked < 2.0
    assert "HTTP 200" in _row(page, "nightly-report").get_by_test_id("run-now-state").inner_text()
    request = _newest_request(rows, ids["nightly-report"])
    assert request["status"] == "done" and request["requested_by"] == "ops"
    _chip_is(page, request["id"], "done")
    assert _same_document(page)
    assert receiver.hits.count("/ok") == 1 and receiver.signed == [True]
    print(f"\nrun now -> done on the job row: {1000 * (done - clicked):.0f} ms (no drain call)")

    # The full result on click; the job's last run follows.
    _request_row(page, request["id"]).get_by_test_id("request-chip").click()
    result = _request_row(page, request["id"]).get_by_test_id("request-result")
    result.wait_for()
    assert '"status_code": 200' in result.inner_text()
    _row(page, "nightly-report").locator('[data-testid="status-badge"]').wait_for()
    assert page.get_by_test_id("last-refreshed").inner_text().startswith("last refreshed ")
    screenshot(page, "console-jobs.png", tmp_path)
    assert_clean(browser, live_server)


def test_pause_holds_and_skips_then_resume(
    browser: Browser, live_server: LiveServer, rows: Rows, receiver: Receiver
) -> None:
    ids = _seed(rows, receiver)
    page = sign_in(browser)

    # A builtin job: paused, its route answers skipped; resumed, it runs.
    stale = _row(page, "check-stale")
    stale.get_by_test_id("pause").click()
    stale.get_by_test_id("resume").wait_for()
    assert stale.get_attribute("data-enabled") == "false"
    answer = call_route(live_server, "/api/cron/check-stale")
    assert (answer["status"], answer["stats"]) == ("skipped", {"reason": "paused"})
    stale.get_by_test_id("resume").click()
    stale.get_by_test_id("pause").wait_for()
    assert call_route(live_server, "/api/cron/check-stale")["status"] == "ok"

    # A webhook job with a queued request (an app's request_run): paused, the request
    # is held (grey) and the drain leaves it.
    deploy = _row(page, "deploy-preview")
    rows(lambda sql: add_request(sql, ids["deploy-preview"]))
    page.locator('[data-testid="requests-list"] [data-job="deploy-preview"]').wait_for()
    request = _newest_request(rows, ids["deploy-preview"])
    _chip_is(page, request["id"], "queued")
    deploy.get_by_test_id("pause").click()
    _chip_is(page, request["id"], "held")
    assert drain(live_server)["stats"].get("claimed", 0) == 0
    assert receiver.hits.count("/ok") == 0 and _newest_request(rows, ids["deploy-preview"])["status"] == "queued"
    deploy.get_by_test_id("resume").click()
    _chip_is(page, request["id"], "queued")
    assert drain(live_server)["stats"]["done"] == 1
    _chip_is(page, request["id"], "done")
    assert receiver.hits.count("/ok") == 1
    assert_clean(browser, live_server)


def test_retry_a_failed_request(browser: Browser, live_server: LiveServer, rows: Rows, receiver: Receiver) -> None:
    async def failing(sql: asyncpg.Connection) -> tuple[str, str]:
        job = await add_job(sql, "flaky-hook", target=f"{receiver.url}/fail")
        return job, await add_request(sql, job, max_attempts=1)

    job_id, failed_id = rows(failing)
    assert drain(live_server)["stats"]["error"] == 1
    page = sign_in(browser)

    failed = _request_row(page, failed_id)
    _chip_is(page, failed_id, "error")
    assert "500" in failed.get_by_test_id("request-error").inner_text()
    failed.get_by_test_id("request-chip").click()
    assert '"error"' in failed.get_by_test_id("request-result").inner_text()
    failed.get_by_test_id("retry").click()
    page.locator('[data-testid="requests-list"] [data-testid="request-row"]').nth(1).wait_for()
    retry = _newest_request(rows, job_id)
    assert retry["id"] != failed_id and retry["retry_of"] == failed_id and retry["status"] == "queued"
    _chip_is(page, retry["id"], "queued")
    assert f"retry of {failed_id}" in _request_row(page, retry["id"]).inner_text()
    assert_clean(browser, live_server)


def test_create_shows_a_field_error_then_saves_edits_and_deletes(
    browser: Browser, live_server: LiveServer, rows: Rows, receiver: Receiver
) -> None:
    page = sign_in(browser)
    page.get_by_test_id("create-job").click()
    page.locator("#f-name").fill("hourly-ping")
    page.locator("#f-target").fill(f"{receiver.url}/ok")
    page.locator("#f-schedule_type").select_option("interval")
    page.locator("#f-schedule").fill("every two hours")
    page.get_by_test_id("save-job").click()
    error = page.get_by_test_id("field-error-schedule")
    error.wait_for()
    assert "'every two hours' is not valid" in error.inner_text()
    assert page.locator("#f-schedule").get_attribute("aria-invalid") == "true"
    assert rows.fetch("select 1 from public.cron_jobs where name = 'hourly-ping'") == []

    page.locator("#f-schedule").fill("every 2h")
    page.get_by_test_id("save-job").click()
    page.get_by_test_id("job-form").wait_for(state="hidden")
    _row(page, "hourly-ping").wait_for()
    [saved] = rows.fetch("select schedule_type, schedule, enabled from public.cron_jobs where name = 'hourly-ping'")
    assert (saved["schedule_type"], saved["schedule"], saved["enabled"]) == ("interval", "every 2h", True)
    assert "2 hours" in _row(page, "hourly-ping").inner_text()

    _row(page, "hourly-ping").get_by_test_id("edit").click()
    page.locator("#f-schedule").fill("every 30m")
    page.get_by_test_id("save-job").click()
    page.get_by_test_id("job-form").wait_for(state="hidden")
    page.wait_for_function(
        "() => (document.querySelector('[data-name=\"hourly-ping\"]')?.innerText || '').includes('30 minutes')"
    )

    _row(page, "hourly-ping").get_by_test_id("delete").click()
    _row(page, "hourly-ping").get_by_test_id("confirm-delete").click()
    _row(page, "hourly-ping").wait_for(state="detached")
    assert rows.fetch("select 1 from public.cron_jobs where name = 'hourly-ping'") == []
    # The 422 is the one failed fetch this test causes.
    assert_clean(browser, live_server, frozenset({(422, "/api/ops/jobs")}))


def _no_horizontal_scroll(page: Any) -> None:
    scroll, inner = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"the page is {scroll}px wide in a {inner}px window"


def test_a_jobs_page_at_phone_width(
    browser: Browser, live_server: LiveServer, rows: Rows, receiver: Receiver, tmp_path: Path
) -> None:
    ids = _seed(rows, receiver)
    rows(lambda sql: add_request(sql, ids["nightly-report"]))
    drain(live_server)
    call_route(live_server, "/api/cron/check-stale")
    page = browser.page
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(browser)
    _no_horizontal_scroll(page)

    _row(page, "nightly-report").get_by_test_id("job-link").click()
    page.get_by_test_id("job-detail").wait_for()
    page.locator('[data-testid="next-runs"] li').nth(4).wait_for()
    assert page.locator('[data-testid="next-runs"] li').count() == 5
    assert page.locator("#detail-title").inner_text() == "nightly-report"
    assert "Europe/Berlin" in page.locator("#detail-facts").inner_text()
    page.locator('#detail-requests [data-testid="request-chip"][data-status="done"]').wait_for()
    assert page.locator("#jobs-panel").is_hidden()
    assert page.get_by_test_id("detail-actions").get_by_test_id("run-now").count() == 1
    _no_horizontal_scroll(page)
    page.screenshot(path=str(tmp_path / "console-job-390.png"), full_page=True)
    page.set_viewport_size({"width": 1000, "height": 760})
    screenshot(page, "console-job.png", tmp_path)
    page.set_viewport_size({"width": 390, "height": 844})

    # A builtin job's page lists its ledger runs.
    page.get_by_test_id("detail-close").click()
    _row(page, "check-stale").get_by_test_id("job-link").click()
    page.locator('#detail-runs [data-testid="run-row"]').first.wait_for()
    page.get_by_test_id("detail-close").click()
    page.locator("#jobs-panel").wait_for()

    # The runs ledger, filtered by job and status.
    page.get_by_test_id("runs-job").fill("check-stale")
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=run-row]')].every(r => r.dataset.job === 'check-stale')"
    )
    page.get_by_test_id("runs-status").select_option("error")
    page.wait_for_function("() => document.querySelector('[data-testid=runs-state]').dataset.state === 'empty'")
    _no_horizontal_scroll(page)
    assert_clean(browser, live_server)


def test_polling_stops_while_the_tab_is_hidden(browser: Browser, live_server: LiveServer, rows: Rows) -> None:
    page = browser.page
    page.clock.install()  # the page's timers run on Playwright's clock, advanced by the test
    sign_in(browser)

    def is_jobs(request: Any) -> bool:
        return "/api/ops/jobs?" in request.url

    def set_hidden(hidden: bool) -> None:
        page.evaluate(
            "hidden => { Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});"
            " document.dispatchEvent(new Event('visibilitychange')); }",
            hidden,
        )

    set_hidden(True)
    loaded = sum(1 for url in browser.requests if "/api/ops/jobs?" in url)
    page.clock.run_for(60_000)
    with page.expect_request(is_jobs):
        set_hidden(False)
    # A minute hidden fetched nothing; coming back fetched at once.
    assert sum(1 for url in browser.requests if "/api/ops/jobs?" in url) == loaded + 1
    # Visible, it polls by itself.
    with page.expect_request(is_jobs):
        page.clock.run_for(4_100)
    assert_clean(browser, live_server)


def test_run_now_five_times_each_done_on_the_job_row(
    browser: Browser, live_server: LiveServer, rows: Rows, receiver: Receiver
) -> None:
    """The figure: Run now -> done shown on the job row, five runs, each within 2 s, no drain call."""
    _seed(rows, receiver)
    page = sign_in(browser)
    row = _row(page, "deploy-preview")
    row.wait_for()
    times = []
    for run in range(5):
        # Each run's chip is new: wait for the previous one's state to be replaced by "running".
        page.evaluate("() => { document.querySelectorAll('[data-testid=run-now-state]').forEach(n => n.remove()); }")
        clicked = time.monotonic()
        row.get_by_test_id("run-now").click()
        row.get_by_test_id("run-chip").and_(page.locator('[data-status="done"]')).wait_for(timeout=2000)
        times.append(time.monotonic() - clicked)
        assert receiver.hits.count("/ok") == run + 1
    assert max(times) < 2.0 and all(receiver.signed)
    print("\nrun now -> done on the job row, five runs: " + ", ".join(f"{1000 * t:.0f} ms" for t in times))
    assert_clean(browser, live_server)
