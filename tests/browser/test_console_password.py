"""Change password in a real browser: a viewer changes its own password from beside its name, sees the
errors inline, signs out, and signs in with the new password while the old one fails."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from tests.browser.conftest import Browser, LiveServer, Rows, assert_clean, screenshot
from tests.ops_people import PASSWORD, add_operator

NEW = "a viewer's own new passphrase"


def _sign_in_as(browser: Browser, user: str, password: str) -> None:
    page = browser.page
    page.get_by_test_id("user").fill(user)
    page.get_by_test_id("password").fill(password)
    page.get_by_test_id("sign-in").click()


def test_a_viewer_changes_its_password_and_signs_in_with_the_new_one(
    browser: Browser, live_server: LiveServer, rows: Rows, tmp_path: Path
) -> None:
    async def arrange(sql: asyncpg.Connection) -> None:
        await add_operator(sql, "alice", "admin")
        await add_operator(sql, "vic", "viewer")

    rows(arrange)
    page = browser.page
    page.goto(f"{live_server.url}/api/ops")
    page.get_by_test_id("signin-user-fields").wait_for(state="visible")
    _sign_in_as(browser, "vic", PASSWORD)
    page.get_by_test_id("console").wait_for(state="visible")
    assert page.get_by_test_id("who").inner_text() == "vic (viewer)"

    page.get_by_test_id("change-password").click()
    page.get_by_test_id("password-panel").wait_for(state="visible")
    # A wrong current password is named on its field, and the session stays.
    page.get_by_test_id("password-current").fill("not my password at all")
    page.get_by_test_id("password-new").fill(NEW)
    page.get_by_test_id("password-again").fill(NEW)
    page.get_by_test_id("password-save").click()
    wrong = page.get_by_test_id("password-error-current")
    wrong.wait_for(state="visible")
    assert wrong.inner_text() == "The current password is wrong."
    # A weak new one too, in the words of `ops-users password`.
    page.get_by_test_id("password-current").fill(PASSWORD)
    page.get_by_test_id("password-new").fill("short")
    page.get_by_test_id("password-again").fill("short")
    page.get_by_test_id("password-save").click()
    weak = page.get_by_test_id("password-error-new")
    weak.wait_for(state="visible")
    assert weak.inner_text() == "Password must be at least 12 characters."
    assert page.get_by_test_id("password-error-current").is_hidden()

    page.get_by_test_id("password-new").fill(NEW)
    page.get_by_test_id("password-again").fill(NEW)
    screenshot(page, "console-change-password.png", tmp_path)
    page.get_by_test_id("password-save").click()
    done = page.get_by_test_id("password-done")
    done.wait_for(state="visible")
    assert done.inner_text().startswith("Password changed.")
    assert page.get_by_test_id("password-panel").is_hidden()
    assert page.get_by_test_id("console").is_visible()

    page.get_by_test_id("sign-out").click()
    page.get_by_test_id("signin").wait_for(state="visible")
    _sign_in_as(browser, "vic", PASSWORD)
    refused = page.get_by_test_id("signin-error")
    refused.wait_for(state="visible")
    assert refused.inner_text() == "Wrong name or password."
    _sign_in_as(browser, "vic", NEW)
    page.get_by_test_id("console").wait_for(state="visible")
    assert page.get_by_test_id("who").inner_text() == "vic (viewer)"
    assert NEW not in page.content() and PASSWORD not in page.content()
    assert_clean(
        browser,
        live_server,
        frozenset({(403, "/api/ops/me/password"), (422, "/api/ops/me/password"), (401, "/api/ops/login")}),
    )
