"""The console when the database cannot be reached and a setting is missing: a clear banner, not a blank page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lib.settings import load_settings
from tests.browser.conftest import SECRET, Browser, LiveServer, assert_clean, serve
from tests.test_ops_access import ops_app

# Nothing listens on port 9; the password stands in for a real one that must not show.
UNREACHABLE = "postgresql://cronrelay:db-password-0123456789@127.0.0.1:9/cronrelay"
DATA_503 = frozenset(
    {(503, "/api/ops/jobs"), (503, "/api/ops/requests"), (503, "/api/ops/runs"), (503, "/api/ops/alerts")}
)


@pytest.fixture(scope="module")
def broken_server() -> Iterator[LiveServer]:
    # No WEBHOOK_SIGNING_SECRET: the missing setting the banner must name.
    settings = load_settings(_env_file=None, cron_secret=SECRET, database_url=UNREACHABLE)
    with serve(ops_app(lambda: settings)) as url:
        yield LiveServer(url, settings)


@pytest.fixture
def console_url(broken_server: LiveServer) -> str:
    return broken_server.url


def test_unreachable_database_and_missing_setting_are_a_banner(browser: Browser, broken_server: LiveServer) -> None:
    page = browser.page
    page.goto(f"{broken_server.url}/api/ops")
    page.get_by_test_id("secret").fill(SECRET)
    page.get_by_test_id("sign-in").click()
    banner = page.get_by_test_id("banner")
    banner.wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('[data-testid=jobs-state]').dataset.state === 'error'")
    page.wait_for_function("() => document.querySelector('[data-testid=banner]').innerText.includes('SIGNING')")
    lines = banner.inner_text().splitlines()
    assert any("database cannot be reached" in line for line in lines), lines
    assert any("WEBHOOK_SIGNING_SECRET" in line for line in lines), lines
    # Said once, not once per panel.
    assert sum("cannot be reached" in line for line in lines) == 1, lines
    assert "see the banner" in page.get_by_test_id("jobs-state").inner_text()
    page.get_by_test_id("last-refreshed").wait_for(state="visible")
    assert_clean(browser, broken_server, DATA_503)
