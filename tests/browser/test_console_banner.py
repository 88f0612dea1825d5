"""The console when the database cannot be reached and a setting is missing: a clear banner, not a blank page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lib.settings import load_settings
from tests.browser.conftest import SECRET, Browser, LiveServer, assert_clean, serve
from tests.test_ops_access import ops_app

# Nothing listens on port 9; the password stands in for a real one that must not show.
UNREACHABLE = "postgresql://cronrelay:db-password-0123456789@127.0.0.1:9/cronrelay"
SESSION_503 = frozenset({(503, "/api/ops/session")})


@pytest.fixture(scope="module")
def broken_server() -> Iterator[LiveServer]:
    settings = load_settings(_env_file=None, cron_secret=SECRET, database_url=UNREACHABLE)
    with serve(ops_app(lambda: settings)) as url:
        yield LiveServer(url, settings)


@pytest.fixture
def console_url(broken_server: LiveServer) -> str:
    return broken_server.url


def test_unreachable_database_is_a_banner_on_the_sign_in_page(browser: Browser, broken_server: LiveServer) -> None:
    # Sign-in is counted in the database (the throttle), so without it nobody signs in: it says why.
    page = browser.page
    page.goto(f"{broken_server.url}/api/ops")
    banner = page.get_by_test_id("banner")
    banner.wait_for(state="visible")
    lines = banner.inner_text().splitlines()
    assert any("database cannot be reached" in line for line in lines), lines
    assert page.get_by_test_id("signin").is_visible()
    assert_clean(browser, broken_server, SESSION_503)
