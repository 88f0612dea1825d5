"""Every SQL and CLI example in the README and the user guide in docs/ runs, in order, as written.

The convention (docs/development.md, "The README and the user guide are tested"):
- a ```sql block is executed as one script against a fresh migrated database,
  as the superuser;
- in a ```console block, each line starting with `$ python3 dev.py cli` or
  `$ .venv/bin/python -m lib` is run through the CLI on that database; the
  lines after it, up to the next `$`, are its sample output. Sample output that
  is JSON must match the real output in every field it shows; other sample
  output must have the real output's first line (a table header);
- a ```sh or ```bash block that uses $BASE runs in bash against the real app
  on a free port (BASE and CRON_SECRET set, as the local stack's `export` line
  sets them); none of its HTTP calls may answer 401, 409 or 5xx;
- any other fence (```text, ```json, ```sh without $BASE, ```python) is illustration only.

Outside webhooks (example.com) are answered by respx, so the examples that
queue webhook runs are followed all the way to the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
import respx

from lib.cli.main import main
from lib.migrate import migrate
from lib.outbound.webhooks import verify_signature
from lib.settings import get_settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# The user guide in the order its examples run, each building on the last,
# on one fresh database: the order the README's sections had when it was one file.
DOCS = [
    ROOT / "docs" / name
    for name in (
        "reminders.md",
        "run-requests.md",
        "jobs-and-schedules.md",
        "operations.md",
        "console.md",
    )
]
GUIDE = [*DOCS, README]
# Reference pages whose SQL needs what a plain Postgres lacks, each with the test that runs it.
RUN_ELSEWHERE = {
    ROOT / "docs" / "supabase-cron.md": "pg_cron, pg_net and Vault: tests/test_supabase_cron.py",
    ROOT / "docs" / "heartbeats.md": "partitions made and dropped by day: tests/test_heartbeat_partitions.py",
    ROOT / "docs" / "alerts.md": "each channel's stand-in receiving a real message: tests/test_alert_docs.py",
    ROOT / "docs" / "workers.md": "a worker's token and the worker API: tests/test_workers_docs.py",
    ROOT / "docs" / "console-robustness.md": "limits, versions and request history: tests/test_console_docs.py",
}
CLI_PREFIXES = (("python3", "dev.py", "cli"), (".venv/bin/python", "-m", "lib"))
SIGNING_SECRET = "readme-signing-secret-0123456789"
_FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass
class Command:
    argv: list[str]
    line: str
    sample: list[str] = field(default_factory=list)


@dataclass
class Example:
    kind: str  # "sql", "console" or "shell" (a ```sh or ```bash block that uses $BASE)
    line_number: int
    sql: str = ""
    commands: list[Command] = field(default_factory=list)


def readme_examples(text: str) -> list[Example]:
    """The runnable blocks of the README, in order (fences at the start of a line only)."""
    examples: list[Example] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        tag, start = opening[1], index + 1
        index = start
        while index < len(lines) and lines[index].strip() != "```":
            index += 1
        body = lines[start:index]
        index += 1
        if tag == "sql":
            examples.append(Example("sql", start, sql="\n".join(body)))
        elif tag == "console":
            examples.append(Example("console", start, commands=_commands(body, start)))
        elif tag in ("sh", "bash") and "$BASE" in "\n".join(body):
            # curl against a running app, at whatever port it was given: the BASE the local stack prints.
            examples.append(Example("shell", start, sql="\n".join(body)))
    return examples


def _commands(body: list[str], start: int) -> list[Command]:
    commands: list[Command] = []
    for number, line in enumerate(body, start + 1):
        if line.startswith("$ "):
            words = shlex.split(line[2:])
            prefix = next((p for p in CLI_PREFIXES if tuple(words[: len(p)]) == p), None)
            assert prefix, f"README line {number}: a console command must start with one of {CLI_PREFIXES}"
            commands.append(Command(words[len(prefix) :], line))
        else:
            assert commands, f"README line {number}: sample output before any `$ ` command"
            commands[-1].sample.append(line)
    return commands


def matches(expected: Any, actual: Any) -> bool:
    """Every field the sample shows is in the real output, with the same value."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(expected) == len(actual)
            and all(matches(e, a) for e, a in zip(expected, actual, strict=True))
        )
    return bool(expected == actual)


_READMES = itertools.count()


def _fresh_database(pg_dsn: str) -> str:
    """A new, migrated database for one test; never dropped (the session's server goes with its data).

    Not one database dropped and made again: DROP DATABASE forces a checkpoint,
    which late in a full run (every file the suite wrote) took 25 s.
    """
    name = f"readme_{os.getpid()}_{next(_READMES)}"
    dsn = urlunsplit(urlsplit(pg_dsn)._replace(path=f"/{name}"))

    async def create() -> None:
        admin = await asyncpg.connect(pg_dsn)
        try:
            await admin.execute(f'create database "{name}"')
        finally:
            await admin.close()
        await migrate(dsn)

    asyncio.run(create())
    return dsn


@pytest.fixture
def readme_db(pg_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    dsn = _fresh_database(pg_dsn)
    monkeypatch.chdir(tmp_path)  # no developer .env
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "RUN_TIME_BUDGET_SECONDS", "LEASE_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", dsn)
    # What the local stack sets up, so webhook examples work as they do there.
    monkeypatch.setenv("WEBHOOK_SIGNING_SECRET", SIGNING_SECRET)
    get_settings.cache_clear()
    yield dsn
    get_settings.cache_clear()


def guide_examples() -> list[tuple[Path, Example]]:
    return [(path, example) for path in GUIDE for example in readme_examples(path.read_text())]


def test_the_readme_has_runnable_examples() -> None:
    examples = [example for _, example in guide_examples()]
    assert sum(1 for e in examples if e.kind == "sql") >= 10
    assert sum(len(e.commands) for e in examples) >= 6


def test_every_page_with_examples_is_run() -> None:
    """A new docs page with a runnable example must be added to GUIDE (in an order that works)."""
    pages = [page for page in [README, *sorted((ROOT / "docs").glob("*.md"))] if page not in RUN_ELSEWHERE]
    runnable = {page for page in pages if readme_examples(page.read_text())}
    missing = runnable - set(GUIDE)
    assert not missing, sorted(str(page.relative_to(ROOT)) for page in missing)


def test_every_readme_example_runs_as_written(
    readme_db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    examples = guide_examples()
    hooks: list[httpx.Request] = []

    def receive(request: httpx.Request) -> httpx.Response:
        hooks.append(request)
        return httpx.Response(200, text="ok")

    with respx.mock(assert_all_called=False) as outside:
        outside.route(host="127.0.0.1").pass_through()
        outside.route(host="localhost").pass_through()
        outside.route(method="POST", host__regex=r"(^|\.)example\.com$").mock(side_effect=receive)
        # A failing example still stops the app it started (the stack closes on the way out).
        with contextlib.ExitStack() as app:
            for path, example in examples:
                where = f"{path.relative_to(ROOT)} line {example.line_number}"
                if example.kind == "sql":
                    asyncio.run(_execute(readme_db, example.sql, where))
                    continue
                if example.kind == "shell":
                    base = getattr(app, "base", None) or _serve(app, readme_db, tmp_path)
                    _run_shell(example.sql, base, tmp_path, where)
                    continue
                for command in example.commands:
                    capsys.readouterr()
                    code = main(command.argv)
                    out, err = capsys.readouterr()
                    assert code == 0, f"{where}: `{command.line}` exited {code}: {err.strip()}"
                    _check_sample(command, out, where)

    # The queued webhook runs reached their targets, once each, signed.
    called = sorted(str(request.url) for request in hooks)
    assert called == ["https://acme.example.com/hooks/deploy", "https://example.com/hooks/launch"], called
    for request in hooks:
        assert verify_signature(SIGNING_SECRET, request.content, request.headers["x-cronrelay-signature"])
    deploy = json.loads(next(r for r in hooks if "deploy" in str(r.url)).content)
    assert deploy["project_id"] == "acme" and deploy["payload"] == {"branch": "main"}


APP_SECRET = "readme-cron-secret-0123456789"
# Answers are checked for what an example must never meet: a refused secret, a name
# taken by an earlier example, a server error. (A 422 or 404 can be the point of one.)
NEVER = re.compile(r"^\[status (401|409|5\d\d)\]$")


def _serve(stack: contextlib.ExitStack, dsn: str, tmp_path: Path) -> str:
    """The real app on a free port, for the shell examples; stopped when `stack` closes."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "CRON_SECRET": APP_SECRET,
        "DATABASE_URL": dsn,
        "WEBHOOK_SIGNING_SECRET": SIGNING_SECRET,
        # Shaped like a token: the examples' dry runs of reminders never send.
        "TELEGRAM_BOT_TOKEN": "1000000:readme-not-a-real-bot-token",
    }
    command = [sys.executable, "-m", "uvicorn", "api.index:app", "--app-dir", str(ROOT), "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--log-level", "warning"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )

    def stop() -> None:
        process.terminate()
        process.wait(15)

    stack.callback(stop)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{base}/api/health", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    stack.base = base  # type: ignore[attr-defined]
    return base


def _run_shell(script: str, base: str, tmp_path: Path, where: str) -> None:
    """The block in bash, as a user pastes it after `export BASE=... CRON_SECRET=...`."""
    # Every curl reports its HTTP status on stderr (stdout stays what the example pipes on).
    (tmp_path / ".curlrc").write_text('write-out = "%{stderr}[status %{http_code}]\\n"\n')
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "BASE": base, "CRON_SECRET": APP_SECRET}
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{where}: the shell example exits {done.returncode}: {done.stderr[-2000:]}"
    statuses = [line for line in done.stderr.splitlines() if line.startswith("[status ")]
    assert statuses, f"{where}: the shell example made no HTTP call: {done.stderr[-2000:]}"
    bad = [line for line in statuses if NEVER.match(line)]
    assert not bad, f"{where}: {bad}\n{done.stdout[-3000:]}"


async def _execute(dsn: str, sql: str, where: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(sql)
    except asyncpg.PostgresError as error:
        raise AssertionError(f"{where}: the SQL example fails: {error}\n{sql}") from None
    finally:
        await connection.close()


def _check_sample(command: Command, out: str, where: str) -> None:
    sample = "\n".join(command.sample).strip()
    if not sample:
        return
    try:
        expected = json.loads(sample)
    except ValueError:
        real = out.strip().splitlines()
        assert real and real[0].split() == command.sample[0].split(), (
            f"{where}: `{command.line}` printed a different table header:\n{out}"
        )
        return
    actual = json.loads(out)
    assert matches(expected, actual), f"{where}: `{command.line}` printed\n{out}\nwhich does not match\n{sample}"


# -- the checker itself ---------------------------------------------------------


def test_the_checker_reads_blocks_and_commands() -> None:
    text = "\n".join(
        [
            "```sql",
            "select 1;",
            "```",
            "```text",
            "$ python3 dev.py cli runs",
            "```",
            "```console",
            "$ python3 dev.py cli run check-stale --limit 5",
            '{"status": "ok"}',
            "$ .venv/bin/python -m lib runs",
            "```",
        ]
    )
    examples = readme_examples(text)
    assert [e.kind for e in examples] == ["sql", "console"]
    assert [c.argv for c in examples[1].commands] == [["run", "check-stale", "--limit", "5"], ["runs"]]
    assert examples[1].commands[0].sample == ['{"status": "ok"}']


def test_a_console_command_the_cli_does_not_take_is_refused() -> None:
    with pytest.raises(AssertionError, match="must start with"):
        readme_examples("```console\n$ python -m lib runs\n```")


def test_matches_is_strict_on_what_the_sample_shows() -> None:
    actual = {"job": "x", "status": "ok", "stats": {"done": 1, "error": 0}, "run_id": 5}
    assert matches({"status": "ok", "stats": {"done": 1}}, actual)
    assert not matches({"status": "partial"}, actual)
    assert not matches({"stats": {"done": 2}}, actual)
    assert not matches({"missing": 1}, actual)
    assert matches([], []) and not matches([], [{"id": 1}])
