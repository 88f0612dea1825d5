"""A fire runs at once, under faults: the schedule run's own executor racing drains, and killed mid-execution.

The schedule run executes the requests it has just inserted through the
drain's executor (claims with SKIP LOCKED, leases, token-guarded settles), so
two drains running beside it take the rest of the queue and nothing is done
twice; a schedule run killed while its fires are in flight repeats at most the
crash window (in flight + the last 0.5 s), and the drain recovers the rest
once the leases expire. Counted as the other reliability tests count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx

from lib.db import database_for
from lib.db.statuses import Trigger
from lib.deadline import Deadline
from lib.jobs.base import JobContext
from lib.jobs.registry import JOBS
from lib.jobs.run_requests import drain
from lib.runner import run_job
from lib.settings import Settings
from tests.conftest import SECRET
from tests.fakes.crash import BUDGET_SECONDS, LEASE_SECONDS, WEBHOOK_SECRET, Crash, at_kill, wait_out_leases
from tests.fakes.webhook import Hit, local_receiver
from tests.reliability.app_process import app_env, app_process
from tests.reliability.counts import Counts, size
from tests.reliability.test_kill import assert_only_the_window_repeated

AUTH = {"authorization": f"Bearer {SECRET}"}


async def add_due_hooks(sql: asyncpg.Connection, url: str, count: int) -> None:
    await sql.execute(
        """
        insert into public.cron_jobs (name, kind, target, schedule_type, schedule, next_run_at)
        select 'fire-' || n, 'webhook', $1, 'interval', '1d', date_trunc('second', now()) - interval '1 second'
          from generate_series(1, $2) n
        """,
        url,
        count,
    )


async def test_schedule_running_its_fires_beside_two_drains_loses_and_repeats_nothing(
    sql: asyncpg.Connection, make_settings: Callable[..., Settings], counts: Counts
) -> None:
    fires, queued = size(100, 300), size(100, 300)
    settings = make_settings(webhook_signing_secret=WEBHOOK_SECRET, allow_http_webhooks=True)
    hits: list[Hit] = []
    async with local_receiver(delay=0.01, hits=hits) as (url, _):
        await add_due_hooks(sql, url, fires)
        job = await sql.fetchval(
            "insert into public.cron_jobs (name, kind, target) values ('queued-hook', 'webhook', $1) returning id", url
        )
        await sql.execute(
            "insert into public.cron_run_requests (job_id) select $1 from generate_series(1, $2)", job, queued
        )
        db = database_for(settings)
        try:

            async def run(name: str) -> None:
                report = await run_job(JOBS[name], db=db, settings=settings, trigger=Trigger.MANUAL, jobs=JOBS)
                assert report.status in ("ok", "partial"), report

            def context(n: int) -> JobContext:
                # Runs of one job share its lease, so the two drains are called directly:
                # two claimers racing the schedule run's executor over the same rows.
                return JobContext(
                    db=db, settings=settings, deadline=Deadline.after(40), run_id=-n, trigger=Trigger.MANUAL,
                    request_id=f"d{n}", jobs=JOBS,
                )  # fmt: skip

            await asyncio.gather(run("schedule"), drain(context(1)), drain(context(2)))
            # Whatever the three left (a request one of them released), a last drain finishes.
            for _ in range(3):
                if not await sql.fetchval("select count(*) from cron_run_requests where status <> 'done'"):
                    break
                await run("run-requests")
        finally:
            await db.close()
    rows = await sql.fetch("select id::text, status, claim_token from public.cron_run_requests")
    seen = Counter(json.loads(hit.body)["request_id"] for hit in hits)
    counts.handled = len(rows)
    counts.lost = sum(1 for row in rows if seen[row["id"]] == 0)
    counts.repeated = sum(n - 1 for n in seen.values() if n > 1)
    counts.stuck = sum(1 for row in rows if row["status"] != "done" or row["claim_token"] is not None)
    assert len(rows) == fires + queued
    assert (counts.lost, counts.repeated, counts.stuck) == (0, 0, 0)


async def test_an_app_killed_while_the_schedule_runs_its_fires_repeats_only_the_crash_window(
    pg_dsn: str, sql: asyncpg.Connection, tmp_path: Path, counts: Counts
) -> None:
    total = size(50, 100)
    hits: list[Hit] = []

    async def left() -> int:
        return int(await sql.fetchval("select count(*) from public.cron_run_requests where status <> 'done'"))

    # Ten at a time (the executor's concurrency), each answered after 0.5 s: waves of ten.
    async with local_receiver(delay=0.5, hits=hits) as (url, _):
        await add_due_hooks(sql, url, total)
        env = app_env(
            database_url=pg_dsn,
            cron_secret=SECRET,
            lease_seconds=LEASE_SECONDS,
            run_time_budget_seconds=BUDGET_SECONDS,
            webhook_signing_secret=WEBHOOK_SECRET,
            allow_http_webhooks="true",
            run_request_batch_size=40,
        )
        async with app_process(env, tmp_path) as app, httpx.AsyncClient(base_url=app.url, timeout=60) as http:
            running = asyncio.create_task(http.get("/api/cron/schedule", headers=AUTH))
            for _ in range(3000):
                if len(hits) >= 31:  # in the fourth wave
                    break
                assert not running.done(), "the schedule run ended before it could be killed"
                await asyncio.sleep(0.005)
            app.kill()
            killed_at = time.monotonic()
            await app.process.wait()
            with contextlib.suppress(httpx.TransportError):
                await running
        counts.text(app.output())
        kill = at_kill([(hit.arrived, hit.answered) for hit in list(hits)], killed_at)
        # The fires were inserted before they ran: the drain recovers what the kill left.
        await wait_out_leases(sql, "schedule", "cron_run_requests")
        async with app_process(env, tmp_path) as app, httpx.AsyncClient(base_url=app.url, timeout=60) as http:
            for _ in range(5):
                response = counts.answer(await http.get("/api/cron/run-requests", headers=AUTH))
                assert response.status_code == 200, response.text
                if not await left():
                    break
            # The schedule's own next tick fires nothing again: each job's next run moved on before it ran.
            again = counts.answer(await http.get("/api/cron/schedule", headers=AUTH)).json()
            assert again["stats"]["enqueued"] == 0
        counts.text(app.output())
        seen = Counter(str(json.loads(hit.body)["request_id"]) for hit in hits)
    rows = await sql.fetch("select id, status, claim_token, locked_until from public.cron_run_requests")
    stuck = sum(1 for r in rows if r["status"] != "done" or r["claim_token"] is not None or r["locked_until"])
    assert len(rows) == total
    crash = Crash("schedule", "fires", kill, seen, frozenset(str(r["id"]) for r in rows), stuck)
    assert_only_the_window_repeated(crash, counts)
