"""The reliability suite's harness: every test ends with its counts.

The `counts` fixture is used by every test here (autouse). At the end of a
test it adds the secrets found in the log records captured during it (the
service's loggers at DEBUG, httpx's request log included) to `leaked`,
prints the line, keeps it for the session summary, and fails the test when
any of lost, repeated (beyond the window), stuck, 5xx or leaked is not 0.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import SECRET, SERVICE_KEY
from tests.fakes.crash import SECRET as CRASH_SECRET
from tests.fakes.crash import TOKEN as CRASH_TOKEN
from tests.fakes.crash import WEBHOOK_SECRET as CRASH_WEBHOOK_SECRET
from tests.fakes.telegram import TOKEN
from tests.fakes.webhook import WEBHOOK_SECRET
from tests.reliability.counts import LONG, Counts, leaks, watch

watch(SECRET, SERVICE_KEY, TOKEN, WEBHOOK_SECRET, CRASH_SECRET, CRASH_TOKEN, CRASH_WEBHOOK_SECRET)

LINES = pytest.StashKey[list[str]]()
# Loggers that carry what the service says: its own, and httpx's request log (URLs with the bot token).
LOGGERS = ("cronrelay", "lib", "httpx", "uvicorn")


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append(self.format(record))
        except Exception:  # a record that cannot be formatted is not a leak to count
            self.records.append(str(record.msg))


@pytest.fixture(autouse=True)
def counts(request: pytest.FixtureRequest) -> Iterator[Counts]:
    capture = _Capture()
    capture.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(exc_text)s"))
    root = logging.getLogger()
    levels = {name: logging.getLogger(name).level for name in LOGGERS}
    for name in LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    root.addHandler(capture)
    figures = Counts(request.node.name)
    try:
        yield figures
    finally:
        root.removeHandler(capture)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
    # The test's own client logs its requests too (http://testserver/...); those are not the service's lines.
    lines = [record for record in capture.records if "http://testserver/" not in record]
    for record in lines:
        if leaks(record):
            print(f"a secret in a log line: {record[:300]!r}")
    figures.leaked += sum(leaks(record) for record in lines)
    line = figures.line()
    print("\n" + line)
    request.config.stash.setdefault(LINES, []).append(line)
    assert not figures.failures, f"{line}: {figures.failures}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(LINES, [])
    if lines:
        terminalreporter.section(f"reliability counts ({'long' if LONG else 'short'})")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """A resolver stub: only 127.0.0.1 and localhost resolve; every other name (`*.invalid`,
    or whatever a fuzzed URL names) fails as a missing name does, and is recorded. Never real DNS."""
    asked: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        asked.append(name)
        if name not in ("127.0.0.1", "localhost", "::1"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield asked
