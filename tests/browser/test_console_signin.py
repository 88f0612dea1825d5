"""The console in a real browser: sign-in, the page before the data API exists, a phone-sized screen."""

from __future__ import annotations

from tests.browser.conftest import DOCS, SECRET, Browser, LiveServer

# The data endpoints are built later: until then each panel's first fetch is a 404,
# and the page must say so in its banner. These are the only failures it may log.
DATA_404 = {(404, "/api/ops/jobs"), (404, "/api/ops/requests"), (404, "/api/ops/runs"), (404, "/api/ops/status")}
WRONG_SECRET = {(401, "/api/ops/login")}


def _cookie(browser: Browser) -> list[dict[str, object]]:
    return [c for c in browser.page.context.cookies() if c["name"] == "cronrelay_ops"]


def _sign_in(browser: Browser, secret: str) -> None:
    page = browser.page
    page.get_by_test_id("secret").fill(secret)
    page.get_by_test_id("sign-in").click()


def _no_horizontal_scroll(browser: Browser) -> tuple[int, int]:
    widths: tuple[int, int] = browser.page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    return widths


def test_sign_in_wrong_then_right_shows_the_console_and_a_clear_banner(browser: Browser, live_server: LiveServer):
    page = browser.page
    page.goto(f"{live_server.url}/api/ops")
    page.get_by_test_id("signin").wait_for(state="visible")
    assert page.get_by_test_id("console").is_hidden()
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / "console-signin.png"))

    _sign_in(browser, "not-the-secret-0123456789")
    error = page.get_by_test_id("signin-error")
    error.wait_for(state="visible")
    assert error.inner_text() == "Wrong secret."
    assert _cookie(browser) == []
    assert page.get_by_test_id("console").is_hidden()

    _sign_in(browser, SECRET)
    page.get_by_test_id("console").wait_for(state="visible")
    assert page.get_by_test_id("signin").is_hidden()
    [cookie] = _cookie(browser)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/api/ops"
    assert page.evaluate("() => document.cookie") == ""  # HttpOnly: the script cannot read it
    assert page.get_by_test_id("secret").input_value() == ""

    # No data API yet: a clear banner, the jobs area in its error state, not a blank page.
    banner = page.get_by_test_id("banner")
    banner.wait_for(state="visible")
    page.wait_for_function("() => document.querySelector('[data-testid=jobs-state]').dataset.state === 'error'")
    text = banner.inner_text()
    assert "/api/ops/jobs" in text and "404" in text and "not deployed here yet" in text
    assert "see the banner" in page.get_by_test_id("jobs-state").inner_text()
    page.get_by_test_id("last-refreshed").wait_for(state="visible")
    assert page.get_by_test_id("last-refreshed").inner_text().startswith("last refreshed ")
    assert SECRET not in page.content()

    # A reload keeps the session (the cookie), and shows the console straight away.
    page.reload()
    page.get_by_test_id("console").wait_for(state="visible")

    assert browser.console_errors(DATA_404 | WRONG_SECRET) == []
    assert browser.foreign_requests() == []


def test_sign_out_ends_the_session(browser: Browser, live_server: LiveServer):
    page = browser.page
    page.goto(f"{live_server.url}/api/ops")
    _sign_in(browser, SECRET)
    page.get_by_test_id("console").wait_for(state="visible")
    page.get_by_test_id("sign-out").click()
    page.get_by_test_id("signin").wait_for(state="visible")
    assert _cookie(browser) == []
    page.reload()
    page.get_by_test_id("signin").wait_for(state="visible")
    assert browser.console_errors(DATA_404) == []
    assert browser.foreign_requests() == []


def test_phone_width_has_no_horizontal_scroll(browser: Browser, live_server: LiveServer):
    page = browser.page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/api/ops")
    page.get_by_test_id("signin").wait_for(state="visible")
    scroll, inner = _no_horizontal_scroll(browser)
    assert scroll <= inner, f"sign-in page is {scroll}px wide in a {inner}px window"

    _sign_in(browser, SECRET)
    page.get_by_test_id("banner").wait_for(state="visible")
    page.get_by_test_id("create-job").click()
    page.get_by_test_id("job-form").wait_for(state="visible")
    scroll, inner = _no_horizontal_scroll(browser)
    assert scroll <= inner, f"console is {scroll}px wide in a {inner}px window"
    assert browser.console_errors(DATA_404) == []
    assert browser.foreign_requests() == []
