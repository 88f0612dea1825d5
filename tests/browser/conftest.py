"""The real-browser harness: the real app under uvicorn, driven by Debian's Chromium through Playwright.

Playwright's own browser download cannot reach its servers here, so the
system Chromium is launched by path. Without it (or without the `playwright`
package) every test in this folder is reported as skipped, with the commands
that install them.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest

from lib.migrate import vercel_crons
from lib.outbound.webhooks import SIGNATURE_HEADER, verify_signature
from lib.settings import Settings, load_settings
from tests.test_ops_access import ops_app

SECRET = "browser-secret-0123456789abcdef"
SIGNING_SECRET = "whsec-browser-0123456789abcdef"
BOT_TOKEN = "123456:browser-bot-token-abcdef"
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

    def secrets(self) -> list[str]:
        """Every configured value the page must never show."""
        values = [
            self.settings.cron_secret,
            self.settings.webhook_signing_secret,
            self.settings.telegram_bot_token,
            self.settings.database_url,
        ]
        return [value.get_secret_value() for value in values if value is not None]


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
    settings = load_settings(
        _env_file=None,
        cron_secret=SECRET,
        database_url=pg_dsn,
        allow_http_webhooks=True,
        webhook_signing_secret=SIGNING_SECRET,
        telegram_bot_token=BOT_TOKEN,
    )
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


# -- the database, seen from a sync test ------------------------------------------------

T = TypeVar("T")


@dataclass
class Rows:
    """Runs async factory code against the live server's database from a sync test.

    Playwright's sync API holds an event loop on the test's thread, so each call
    runs `asyncio.run` on a thread of its own, with a fresh connection.
    """

    dsn: str

    def __call__(self, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
        async def go() -> T:
            connection = await asyncpg.connect(self.dsn)
            try:
                return await work(connection)
            finally:
                await connection.close()

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(lambda: asyncio.run(go())).result()

    def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        async def work(connection: asyncpg.Connection) -> list[asyncpg.Record]:
            return list(await connection.fetch(query, *args))

        return self(work)


@pytest.fixture
def rows(live_server: LiveServer, pg_dsn: str) -> Rows:
    """Empty tables (the builtin jobs re-synced from vercel.json), as tests/conftest.py's `sql` leaves them."""
    from tests.conftest import TABLES

    async def reset(connection: asyncpg.Connection) -> None:
        await connection.execute(f"truncate {TABLES} restart identity cascade")
        for job, schedule in vercel_crons():
            await connection.execute("select public.upsert_builtin_job($1, $2)", job, schedule)

    seeded = Rows(pg_dsn)
    seeded(reset)
    return seeded


# -- a webhook receiver, and the drain -----------------------------------------------------


@dataclass
class Receiver:
    """A local webhook target: `<url>/ok` answers 200, `<url>/fail` answers 500. Records each call's path."""

    url: str
    hits: list[str] = field(default_factory=list)
    # Whether each call's X-Cronrelay-Signature verified with the server's signing secret.
    signed: list[bool] = field(default_factory=list)


@pytest.fixture(scope="module")
def module_receiver() -> Iterator[Receiver]:
    found = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            found.signed.append(verify_signature(SIGNING_SECRET, body, self.headers.get(SIGNATURE_HEADER)))
            found.hits.append(self.path)
            status, body = (500, b'{"error":"boom"}') if self.path.startswith("/fail") else (200, b'{"ok":true}')
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()


@pytest.fixture
def receiver(module_receiver: Receiver) -> Receiver:
    """The module's receiver, with no calls recorded yet."""
    module_receiver.hits.clear()
    module_receiver.signed.clear()
    return module_receiver


def call_route(live_server: LiveServer, path: str) -> dict[str, Any]:
    """A guarded route called as a cron trigger would, with the bearer; its JSON answer."""
    answer = httpx.get(f"{live_server.url}{path}", headers={"Authorization": f"Bearer {SECRET}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def drain(live_server: LiveServer) -> dict[str, Any]:
    """One call of /api/cron/run-requests."""
    return call_route(live_server, "/api/cron/run-requests")


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """docs/<name> when CRONRELAY_UPDATE_SCREENSHOTS=1 (to refresh the README's), else a temporary file."""
    target = DOCS / name if os.environ.get("CRONRELAY_UPDATE_SCREENSHOTS") == "1" else tmp_path / name
    page.screenshot(path=str(target), full_page=True)
    return target


def sign_in(browser: Browser, secret: str = SECRET) -> Any:
    """Opens the console, signs in, and waits for the jobs list."""
    page = browser.page
    page.goto(f"{browser.base}/api/ops")
    page.get_by_test_id("secret").fill(secret)
    page.get_by_test_id("sign-in").click()
    page.locator('[data-testid="job-row"]').first.wait_for()
    return page


def assert_clean(browser: Browser, live_server: LiveServer, expected: frozenset[tuple[int, str]] = frozenset()) -> None:
    """No console error but the failed fetches expected, no request off the origin, no secret in the page."""
    assert browser.console_errors(set(expected)) == []
    assert browser.foreign_requests() == []
    html = browser.page.content()
    leaked = [index for index, value in enumerate(live_server.secrets()) if value in html]
    assert leaked == [], f"the page shows configured secret(s) #{leaked}"
