"""The real-browser harness: the real app under uvicorn, driven by Debian's Chromium through Playwright.

Playwright's own browser download cannot reach its servers here, so the
system Chromium is launched by path. Without it (or without the `playwright`
package) every test in this folder is reported as skipped, with the commands
that install them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from lib.settings import Settings, load_settings
from tests.test_ops_access import ops_app

SECRET = "browser-secret-0123456789abcdef"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HERE = Path(__file__).resolve().parent
DOCS = HERE.parent.parent / "docs"


def _missing() -> str | None:
    problems = []
    if not Path(CHROMIUM).is_file():
        problems.append("Chromium is not installed (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        problems.append("the playwright package is not installed (.venv/bin/pip install playwright)")
    return "; ".join(problems) or None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Skipped at collection, so a machine without Chromium does not even start Postgres for them.
    reason = _missing()
    if reason is None:
        return
    for item in items:
        if Path(str(item.fspath)).resolve().is_relative_to(HERE):
            item.add_marker(pytest.mark.skip(reason=f"browser tests: {reason}"))


@dataclass
class LiveServer:
    url: str
    settings: Settings


@contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn in a thread on a free 127.0.0.1 port; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def live_server(pg_dsn: str) -> Iterator[LiveServer]:
    """The real app (postgres adapter, the suite's embedded Postgres) on a free 127.0.0.1 port."""
    settings = load_settings(_env_file=None, cron_secret=SECRET, database_url=pg_dsn, allow_http_webhooks=True)
    with serve(ops_app(lambda: settings)) as url:
        yield LiveServer(url, settings)


@pytest.fixture
def console_url(live_server: LiveServer) -> str:
    """Where the browser fixture's page lives; a test module may serve another app."""
    return live_server.url


@pytest.fixture(scope="module")
def playwright_driver(live_server: LiveServer) -> Iterator[Any]:
    """Module-scoped, and started after the live server: while it runs, Playwright's sync API
    holds an event loop on this thread, where asyncio.run (the Postgres fixture, async tests) cannot start."""
    from playwright.sync_api import sync_playwright

    driver = sync_playwright().start()
    yield driver
    driver.stop()


@dataclass
class Browser:
    """One page in a fresh Chromium profile, with everything it logged and requested."""

    page: Any
    base: str
    console: list[tuple[str, str, str]] = field(default_factory=list)  # (type, text, url)
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def console_errors(self, expected: set[tuple[int, str]]) -> list[str]:
        """Console errors other than the failed fetches a test expects, as (status, path) pairs."""
        unexpected = []
        for kind, text, url in self.console:
            if kind != "error":
                continue
            path = url.removeprefix(self.base).split("?")[0]
            failed = [
                status
                for status, where in expected
                if text.startswith(f"Failed to load resource: the server responded with a status of {status}")
                and path == where
            ]
            if not failed:
                unexpected.append(f"{text} ({url})")
        return unexpected + [f"page error: {error}" for error in self.errors]

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if not (url.startswith(self.base + "/") or url.startswith("data:"))]


@pytest.fixture
def browser(playwright_driver: Any, console_url: str, tmp_path: Path) -> Iterator[Browser]:
    context = playwright_driver.chromium.launch_persistent_context(
        user_data_dir=str(tmp_path / "profile"),
        executable_path=CHROMIUM,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1000, "height": 760},
    )
    context.set_default_timeout(10_000)
    page = context.pages[0] if context.pages else context.new_page()
    recorded = Browser(page=page, base=console_url)
    page.on("console", lambda msg: recorded.console.append((msg.type, msg.text, msg.location.get("url", ""))))
    page.on("pageerror", lambda error: recorded.errors.append(str(error)))
    page.on("request", lambda request: recorded.requests.append(request.url))
    yield recorded
    context.close()
