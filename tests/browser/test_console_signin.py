"""The console in a real browser: sign-in, sign-out, the sign-in page on a phone-sized screen."""

from __future__ import annotations

from pathlib import Path

from tests.browser.conftest import SECRET, Browser, LiveServer, Rows, assert_clean, screenshot

WRONG_SECRET = frozenset({(401, "/api/ops/login")})


def _cookie(browser: Browser) -> list[dict[str, object]]:
    return [c for c in browser.page.context.cookies() if c["name"] == "cronrelay_ops"]


def _sign_in(browser: Browser, secret: str) -> None:
    page = browser.page
    page.get_by_test_id("secret").fill(secret)
    page.get_by_test_id("sign-in").click()


def _no_horizontal_scroll(browser: Browser) -> tuple[int, int]:
    widths: tuple[int, int] = browser.page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    return widths


def test_sign_in_wrong_then_right(browser: Browser, live_server: LiveServer, rows: Rows, tmp_path: Path) -> None:
    page = browser.page
    page.goto(f"{live_server.url}/api/ops")
    page.get_by_test_id("signin").wait_for(state="visible")
    assert page.get_by_test_id("console").is_hidden()
    screenshot(page, "console-signin.png", tmp_path)

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
    page.locator('[data-testid="job-row"]').first.wait_for()
    page.get_by_test_id("last-refreshed").wait_for(state="visible")
    assert page.get_by_test_id("last-refreshed").inner_text().startswith("last refreshed ")
    assert page.get_by_test_id("banner").is_hidden()

    # A reload keeps the session (the cookie), and shows the console straight away.
    page.reload()
    page.get_by_test_id("console").wait_for(state="visible")
    assert_clean(browser, live_server, WRONG_SECRET)


def test_sign_out_ends_the_session(browser: Browser, live_server: LiveServer, rows: Rows) -> None:
    page = browser.page
    page.goto(f"{live_server.url}/api/ops")
    _sign_in(browser, SECRET)
    page.get_by_test_id("console").wait_for(state="visible")
    page.get_by_test_id("sign-out").click()
    page.get_by_test_id("signin").wait_for(state="visible")
    assert _cookie(browser) == []
    page.reload()
    page.get_by_test_id("signin").wait_for(state="visible")
    assert_clean(browser, live_server)


def test_phone_width_has_no_horizontal_scroll(browser: Browser, live_server: LiveServer, rows: Rows) -> None:
    page = browser.page
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/api/ops")
    page.get_by_test_id("signin").wait_for(state="visible")
    scroll, inner = _no_horizontal_scroll(browser)
    assert scroll <= inner, f"sign-in page is {scroll}px wide in a {inner}px window"

    _sign_in(browser, SECRET)
    page.locator('[data-testid="job-row"]').first.wait_for()
    page.get_by_test_id("create-job").click()
    page.get_by_test_id("job-form").wait_for(state="visible")
    scroll, inner = _no_horizontal_scroll(browser)
    assert scroll <= inner, f"console is {scroll}px wide in a {inner}px window"
    assert_clean(browser, live_server)
