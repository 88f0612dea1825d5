"""Operators in a real browser: the first admin made from the cron secret's session, name and password
sign-in, what a viewer sees, the admin panel with the audit, and a disabled operator signed out at once."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from tests.browser.conftest import SECRET, Browser, LiveServer, Rows, assert_clean, screenshot
from tests.factories import add_job
from tests.ops_people import PASSWORD, add_operator

CHOSEN = "first admin's chosen password"


def _sign_in_as(browser: Browser, user: str, password: str = PASSWORD) -> None:
    page = browser.page
    page.get_by_test_id("user").fill(user)
    page.get_by_test_id("password").fill(password)
    page.get_by_test_id("sign-in").click()


def test_the_first_admin_is_made_from_the_secret_then_signs_in_by_name(
    browser: Browser, live_server: LiveServer, rows: Rows, tmp_path: Path
) -> None:
    page = browser.page
    page.goto(f"{live_server.url}/api/ops")
    page.get_by_test_id("signin-bootstrap").wait_for(state="visible")
    assert page.get_by_test_id("signin-user-fields").is_hidden()
    page.get_by_test_id("secret").fill(SECRET)
    page.get_by_test_id("sign-in").click()
    page.get_by_test_id("admin-panel").wait_for(state="visible")
    page.get_by_test_id("admin-bootstrap").wait_for(state="visible")
    assert page.get_by_test_id("who").inner_text() == "cron secret (admin)"

    page.get_by_test_id("operator-name").fill("alice")
    page.get_by_test_id("operator-role").select_option("admin")
    page.get_by_test_id("operator-password").fill(CHOSEN)
    page.get_by_test_id("add-operator").click()
    # The secret's session ends with the first admin: the page asks for a name and a password now.
    page.get_by_test_id("signin-user-fields").wait_for(state="visible")
    assert page.get_by_test_id("signin-secret-fields").is_hidden()
    assert page.get_by_test_id("user").input_value() == "alice"

    _sign_in_as(browser, "alice", CHOSEN)
    page.get_by_test_id("console").wait_for(state="visible")
    assert page.get_by_test_id("who").inner_text() == "alice (admin)"
    page.locator('[data-testid="operator-row"][data-name="alice"]').wait_for()
    audit = page.locator('[data-testid="audit-row"]').first
    audit.wait_for()
    assert "cron-secret" in audit.inner_text() and "operator.add" in audit.inner_text()
    assert CHOSEN not in page.content()
    screenshot(page, "console-operators.png", tmp_path)
    # The secret's session ended while the page was polling: its panels may have heard 401 once.
    panels = (
        "/api/ops/status",
        "/api/ops/jobs",
        "/api/ops/requests",
        "/api/ops/runs",
        "/api/ops/workers",
        "/api/ops/alerts",
        "/api/ops/operators",
        "/api/ops/audit",
    )
    assert_clean(browser, live_server, frozenset((401, path) for path in panels))


def test_a_viewer_sees_jobs_without_their_actions(browser: Browser, live_server: LiveServer, rows: Rows) -> None:
    async def arrange(sql: asyncpg.Connection) -> None:
        await add_operator(sql, "alice", "admin")
        await add_operator(sql, "vic", "viewer")
        await add_job(sql, "nightly-export")

    rows(arrange)
    page = browser.page
    page.goto(f"{live_server.url}/api/ops")
    page.get_by_test_id("signin-user-fields").wait_for(state="visible")
    assert page.get_by_test_id("secret").is_hidden()
    _sign_in_as(browser, "vic")
    page.locator('[data-testid="job-row"]').first.wait_for()
    assert page.get_by_test_id("who").inner_text() == "vic (viewer)"
    assert page.get_by_test_id("run-now").first.is_hidden()
    assert page.get_by_test_id("create-job").is_hidden()
    assert page.get_by_test_id("admin-panel").is_hidden()
    assert_clean(browser, live_server)


def test_a_disabled_operator_is_signed_out_at_the_next_refresh(
    browser: Browser, live_server: LiveServer, rows: Rows
) -> None:
    async def arrange(sql: asyncpg.Connection) -> None:
        await add_operator(sql, "alice", "admin")
        await add_operator(sql, "olga", "operator")

    rows(arrange)
    page = browser.page
    page.goto(f"{live_server.url}/api/ops")
    _sign_in_as(browser, "olga")
    page.locator('[data-testid="job-row"]').first.wait_for()
    assert page.get_by_test_id("who").inner_text() == "olga (operator)"
    rows.fetch("select * from public.ops_users_set_disabled('olga', true)")
    page.get_by_test_id("signin").wait_for(state="visible", timeout=15_000)
    assert page.get_by_test_id("console").is_hidden()
    panels = (
        "/api/ops/status",
        "/api/ops/jobs",
        "/api/ops/requests",
        "/api/ops/runs",
        "/api/ops/workers",
        "/api/ops/alerts",
    )
    assert_clean(browser, live_server, frozenset((401, path) for path in panels))


def test_a_wrong_password_says_so(browser: Browser, live_server: LiveServer, rows: Rows) -> None:
    async def arrange(sql: asyncpg.Connection) -> None:
        await add_operator(sql, "alice", "admin")

    rows(arrange)
    page = browser.page
    page.goto(f"{live_server.url}/api/ops")
    _sign_in_as(browser, "alice", "not her password at all")
    error = page.get_by_test_id("signin-error")
    error.wait_for(state="visible")
    assert error.inner_text() == "Wrong name or password."
    assert_clean(browser, live_server, frozenset({(401, "/api/ops/login")}))
