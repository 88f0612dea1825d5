"""The Alerts panel in Debian's Chromium: a job fails, the panel shows the event with each channel's
state and error, and "Send test alert" reaches the receiver."""

from __future__ import annotations

from collections.abc import Iterator

import asyncpg
import pytest

from lib.settings import load_settings
from tests.browser.conftest import (
    SECRET,
    SIGNING_SECRET,
    Browser,
    LiveServer,
    Receiver,
    Rows,
    assert_clean,
    call_route,
    serve,
    sign_in,
)
from tests.factories import add_job, add_request
from tests.test_ops_access import ops_app


@pytest.fixture(scope="module")
def alerting_server(pg_dsn: str, module_receiver: Receiver) -> Iterator[LiveServer]:
    # Two channels on the local receiver: the generic webhook answers 200, "Slack" answers 500.
    settings = load_settings(
        _env_file=None,
        cron_secret=SECRET,
        database_url=pg_dsn,
        allow_http_webhooks=True,
        webhook_signing_secret=SIGNING_SECRET,
        alert_webhook_url=f"{module_receiver.url}/ok/alerts",
        alert_slack_webhook_url=f"{module_receiver.url}/fail/slack",
    )
    with serve(ops_app(lambda: settings)) as url:
        yield LiveServer(url, settings)


@pytest.fixture
def console_url(alerting_server: LiveServer) -> str:
    return alerting_server.url


def test_a_failure_shows_in_the_alerts_panel_and_a_test_alert_arrives(
    browser: Browser, alerting_server: LiveServer, rows: Rows, receiver: Receiver
) -> None:
    async def failing(sql: asyncpg.Connection) -> None:
        job_id = await add_job(sql, "crm-sync", target=f"{receiver.url}/fail/job")
        await add_request(sql, job_id, max_attempts=1)

    rows(failing)
    drained = call_route(alerting_server, "/api/cron/run-requests")
    assert drained["stats"]["error"] == 1 and drained["stats"]["alerts"]["sent"] == 1, drained
    assert receiver.hits.count("/ok/alerts") == 1

    page = sign_in(browser)
    row = page.locator('[data-testid="alert-row"][data-event="job.failed"]')
    row.wait_for()
    assert "crm-sync" in row.inner_text()
    row.locator('[data-testid="delivery"][data-channel="webhook"][data-status="sent"]').wait_for()
    slack = row.locator('[data-testid="delivery"][data-channel="slack"][data-status="pending"]')
    slack.wait_for()
    assert "HTTP 500" in slack.get_by_test_id("delivery-error").inner_text()
    assert "webhook, slack" in page.get_by_test_id("alerts-channels").inner_text()

    page.get_by_test_id("send-test-alert").click()
    result = page.get_by_test_id("alerts-test-result")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=alerts-test-result]').innerText.startsWith('Test alert:')"
    )
    # The webhook got it; the failing channel says so, with its error, where the operator is looking.
    assert "slack pending (HTTP 500" in result.inner_text()
    assert receiver.hits.count("/ok/alerts") == 2
    page.locator('[data-testid="alert-row"][data-event="alert.test"]').wait_for()
    tested = page.locator('[data-testid="alert-row"][data-event="alert.test"]')
    tested.locator('[data-testid="delivery"][data-channel="webhook"][data-status="sent"]').wait_for()
    assert_clean(browser, alerting_server)


def test_the_job_form_sets_a_jobs_noise_control(
    browser: Browser, alerting_server: LiveServer, rows: Rows, receiver: Receiver
) -> None:
    page = sign_in(browser)
    page.get_by_test_id("create-job").click()
    page.locator("#f-name").fill("nightly-export")
    page.locator("#f-target").fill(f"{receiver.url}/ok")
    page.locator("#f-schedule_type").select_option("interval")
    page.locator("#f-schedule").fill("every 2h")
    page.locator("#f-alert_after_failures").fill("3")
    page.locator("#f-realert_after").fill("10s")
    page.get_by_test_id("save-job").click()
    # A re-alert every 10 s would be noise itself: the field says so.
    error = page.get_by_test_id("field-error-realert_after")
    error.wait_for()
    assert "1 minute" in error.inner_text()
    page.locator("#f-realert_after").fill("4h")
    page.get_by_test_id("save-job").click()
    page.get_by_test_id("job-form").wait_for(state="hidden")
    [saved] = rows.fetch(
        "select alert_after_failures, extract(epoch from realert_after)::int as realert, alerts_enabled "
        "from public.cron_jobs where name = 'nightly-export'"
    )
    assert (saved["alert_after_failures"], saved["realert"], saved["alerts_enabled"]) == (3, 4 * 3600, True)

    # Muted from the edit form, and the job's page says so.
    page.locator('[data-testid="job-row"][data-name="nightly-export"]').get_by_test_id("edit").click()
    assert page.locator("#f-realert_after").input_value() == "4h"
    page.locator("#f-alerts_enabled").uncheck()
    page.get_by_test_id("save-job").click()
    page.get_by_test_id("job-form").wait_for(state="hidden")
    assert rows.fetch("select alerts_enabled from public.cron_jobs where name = 'nightly-export'")[0][0] is False
    page.locator('[data-testid="job-row"][data-name="nightly-export"]').get_by_test_id("job-link").click()
    page.wait_for_function("() => document.querySelector('#detail-facts').innerText.includes('nothing is sent')")
    assert_clean(browser, alerting_server, frozenset({(422, "/api/ops/jobs")}))
