"""The console when a setting is missing (the database is fine): a banner naming it, once signed in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lib.settings import load_settings
from tests.browser.conftest import SECRET, Browser, LiveServer, Rows, assert_clean, serve
from tests.test_ops_access import ops_app


@pytest.fixture(scope="module")
def unsigned_server(pg_dsn: str) -> Iterator[LiveServer]:
    # No WEBHOOK_SIGNING_SECRET: the missing setting the banner must name.
    settings = load_settings(_env_file=None, cron_secret=SECRET, database_url=pg_dsn)
    with serve(ops_app(lambda: settings)) as url:
        yield LiveServer(url, settings)


@pytest.fixture
def console_url(unsigned_server: LiveServer) -> str:
    return unsigned_server.url


def test_a_missing_setting_is_a_banner(browser: Browser, unsigned_server: LiveServer, rows: Rows) -> None:
    page = browser.page
    page.goto(f"{unsigned_server.url}/api/ops")
    page.get_by_test_id("secret").fill(SECRET)
    page.get_by_test_id("sign-in").click()
    banner = page.get_by_test_id("banner")
    banner.wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('[data-testid=banner]').innerText.includes('SIGNING')")
    lines = banner.inner_text().splitlines()
    assert any("WEBHOOK_SIGNING_SECRET" in line for line in lines), lines
    page.get_by_test_id("last-refreshed").wait_for(state="visible")
    assert_clean(browser, unsigned_server)
