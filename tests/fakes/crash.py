"""Crash scenarios: a job run as a real process, SIGKILLed mid-batch, then swept to the end.

Used by tests/reliability/test_kill.py (which asserts on the figures) and by
bench/ (which prints them). Each runs the job as `python -m lib run <job>`
(settings from the environment) against a slow stand-in on 127.0.0.1 that
logs when each call arrived and when it was answered, SIGKILLs it mid-sweep,
waits out the lease, and sweeps again until nothing is left.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.fakes.telegram import FakeTelegram
from tests.fakes.webhook import Hit, local_receiver

ROOT = Path(__file__).resolve().parents[2]
# The jobs' own secret: they run as `python -m lib run`, never behind a route.
SECRET = "crash-secret-0123456789abcdef"
TOKEN = "123456:CRASH-test_token"
WEBHOOK_SECRET = "whsec-crash-0123456789"
WINDOW_SECONDS = 0.5
# Short enough to wait out in a test; the lease must outlast the budget.
LEASE_SECONDS = 5
BUDGET_SECONDS = 4.0


@dataclass(frozen=True)
class Kill:
    at: float  # time.monotonic() right after SIGKILL was sent
    in_flight: int  # calls that had arrived and were not yet answered
    recent: int  # calls answered in the WINDOW_SECONDS before the kill
    handled: int  # calls answered before the kill


def at_kill(calls: list[tuple[float, float | None]], killed_at: float) -> Kill:
    """From the stand-in's log of (arrived, answered) times."""
    arrived = [(a, b) for a, b in calls if a <= killed_at]
    in_flight = sum(1 for _, answered in arrived if answered is None or answered > killed_at)
    answered = [b for _, b in arrived if b is not None and b <= killed_at]
    recent = sum(1 for b in answered if b > killed_at - WINDOW_SECONDS)
    return Kill(killed_at, in_flight, recent, len(answered))


def job_env(pg_dsn: str, **settings: object) -> dict[str, str]:
    """A clean environment: only what the job needs, nothing from the test process (no SUPABASE_*)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": pg_dsn,
        "CRON_SECRET": SECRET,
        "LEASE_SECONDS": str(LEASE_SECONDS),
        "RUN_TIME_BUDGET_SECONDS": str(BUDGET_SECONDS),
    }
    env.update({name.upper(): str(value) for name, value in settings.items()})
    return env


async def start(job: str, env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    # cwd is an empty directory, so no .env file is read.
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "lib",
        "run",
        job,
        env=env,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def kill_when(process: asyncio.subprocess.Process, ready: Callable[[], bool], limit: float = 30.0) -> float:
    """SIGKILL the process once `ready()`; the moment it was killed."""
    give_up = time.monotonic() + limit
    while not ready():
        assert process.returncode is None, "the sweep ended before it could be killed"
        assert time.monotonic() < give_up, "the sweep never got going"
        await asyncio.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    await process.wait()
    assert process.returncode == -signal.SIGKILL
    return killed_at


async def wait_out_leases(sql: asyncpg.Connection, job: str, table: str) -> None:
    """Sleep until the killed run's job lease and row leases have expired, as the clock would."""
    # `table` is one of two literals from this file.
    remaining = await sql.fetchval(
        f"""
        select greatest(
          (select max(extract(epoch from locked_until - now())) from public.{table}),
          (select max(extract(epoch from locked_until - now())) from public.cron_locks where job = $1),
          0)::float8
        """,
        job,
    )
    await asyncio.sleep(remaining + 0.2)


async def sweep_until_done(job: str, env: dict[str, str], cwd: Path, left: Callable[[], object]) -> int:
    """Run the job to completion as often as it takes (each run is bounded by its budget)."""
    for runs in range(1, 6):
        process = await start(job, env, cwd)
        stdout, stderr = await process.communicate()
        assert process.returncode == 0, stderr.decode()[-2000:]
        # The result is the last line on stdout (the run's log line goes to stderr).
        report = json.loads(stdout.decode().strip().splitlines()[-1])
        assert report["status"] in ("ok", "partial"), report
        if not await left():  # type: ignore[misc]
            return runs
    raise AssertionError(f"{job}: work still left after 5 runs")


@dataclass(frozen=True)
class Crash:
    job: str
    unit: str
    kill: Kill
    # Calls the stand-in got per item, over the killed run and the runs after it.
    counts: Counter[str]
    expected: frozenset[str]
    stuck: int

    @property
    def lost(self) -> int:
        return len(self.expected - set(self.counts))

    @property
    def repeated(self) -> int:
        return sum(n - 1 for n in self.counts.values() if n > 1)

    def line(self) -> str:
        return (
            f"{self.job}: after a SIGKILL mid-sweep: {len(self.expected)} {self.unit} handled, {self.lost} lost, "
            f"{self.repeated} repeated, {self.stuck} stuck; {self.kill.in_flight} in flight at the kill, "
            f"{self.kill.recent} finished in the last {WINDOW_SECONDS} s before it "
            f"({self.kill.handled} answered before it)"
        )


async def reminder_crash(pg_dsn: str, sql: asyncpg.Connection, cwd: Path, total: int = 60) -> Crash:
    """60 reminders at 25/s, Telegram answering after 0.3 s, the sweep killed at the 40th send."""
    # One chat per reminder, so the stand-in's per-chat count is the per-reminder count.
    await sql.execute(
        "insert into public.scheduled_reminders (telegram_id, due_at, draft_text) "
        "select g, now() - interval '1 minute' + g * interval '1 ms', 'reminder ' || g "
        "from generate_series(1, $1) g",
        total,
    )
    with FakeTelegram(latency=0.3) as telegram:
        env = job_env(
            pg_dsn,
            telegram_bot_token=TOKEN,
            telegram_api_base=telegram.url,
            telegram_max_per_second=25,
            reminder_batch_size=100,  # one claim takes them all: the old code repeated the whole batch
        )
        process = await start("reminders", env, cwd)
        killed_at = await kill_when(process, lambda: len(telegram.snapshot()) >= 40)
        calls, answered = telegram.snapshot(), telegram.answered_snapshot()
        kill = at_kill([(call.at, answered.get(index)) for index, call in enumerate(calls)], killed_at)

        await wait_out_leases(sql, "reminders", "scheduled_reminders")

        async def left() -> int:
            return int(
                await sql.fetchval(
                    "select count(*) from public.scheduled_reminders "
                    "where status = 'pending' or claim_token is not null"
                )
            )

        await sweep_until_done("reminders", env, cwd, left)
        counts = Counter(str(call.chat_id) for call in telegram.snapshot())

    rows = await sql.fetch("select telegram_id, status, claim_token, locked_until from public.scheduled_reminders")
    stuck = sum(1 for r in rows if r["status"] != "sent" or r["claim_token"] is not None or r["locked_until"])
    return Crash("reminders", "reminders", kill, counts, frozenset(str(r["telegram_id"]) for r in rows), stuck)


async def drain_crash(pg_dsn: str, sql: asyncpg.Connection, cwd: Path, total: int = 50) -> Crash:
    """50 webhook requests, ten at a time, each answered after 0.5 s, the drain killed at the 31st."""
    hits: list[Hit] = []
    # Ten at a time (the drain's concurrency), each answered after 0.5 s: waves of ten.
    async with local_receiver(delay=0.5, hits=hits) as (url, _):
        job_id = await sql.fetchval(
            "insert into public.cron_jobs (name, kind, target) values ('crash-hook', 'webhook', $1) returning id", url
        )
        await sql.execute(
            "insert into public.cron_run_requests (job_id, requested_at) "
            "select $1, now() - interval '1 minute' + g * interval '1 ms' from generate_series(1, $2) g",
            job_id,
            total,
        )
        env = job_env(
            pg_dsn,
            webhook_signing_secret=WEBHOOK_SECRET,
            allow_http_webhooks="true",
            run_request_batch_size=40,  # the old code repeated all 40 of a batch
        )
        process = await start("run-requests", env, cwd)
        killed_at = await kill_when(process, lambda: len(hits) >= 31)  # in the fourth wave
        kill = at_kill([(hit.arrived, hit.answered) for hit in list(hits)], killed_at)

        await wait_out_leases(sql, "run-requests", "cron_run_requests")

        async def left() -> int:
            return int(await sql.fetchval("select count(*) from public.cron_run_requests where status <> 'done'"))

        await sweep_until_done("run-requests", env, cwd, left)
        counts = Counter(str(json.loads(hit.body)["request_id"]) for hit in hits)

    rows = await sql.fetch("select id, status, claim_token, locked_until from public.cron_run_requests")
    stuck = sum(1 for r in rows if r["status"] != "done" or r["claim_token"] is not None or r["locked_until"])
    return Crash("run-requests", "requests", kill, counts, frozenset(str(r["id"]) for r in rows), stuck)
