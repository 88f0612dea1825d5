"""On time, every time: a fire runs at its tick, Run now runs now, and no schedule can run away.

Over HTTP on the real app (both adapters) and through the CLI, with a real
local webhook receiver (tests/fakes/webhook.py). The figures these tests print
(tick -> webhook arrival) are for the closing note; nothing here asserts a time.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import asyncpg
import pytest

from lib import manage
from lib.cli.main import main
from lib.db import Database
from lib.db.statuses import Trigger
from lib.jobs.registry import JOBS
from lib.manage import JobInput
from lib.outbound.webhooks import SIGNATURE_HEADER, verify_signature
from lib.runner import run_job
from lib.settings import Settings, get_settings
from tests.conftest import AUTH, app_client
from tests.fakes.webhook import Hit, local_receiver

WEBHOOK_SECRET = "whsec-on-time-0123456789"
JOBS_DUE = 100
# The receiver's answer time, as in the closing note's figure.
RECEIVER_SECONDS = 0.005


async def add_due_hooks(sql: asyncpg.Connection, url: str, count: int, *, every: str = "1d") -> list[str]:
    """`count` webhook jobs on an interval, all due a second ago; their ids."""
    rows = await sql.fetch(
        """
        insert into public.cron_jobs (name, kind, target, schedule_type, schedule, next_run_at)
        select 'due-hook-' || n, 'webhook', $1, 'interval', $3, date_trunc('second', now()) - interval '1 second'
          from generate_series(1, $2) n
        returning id::text
        """,
        url,
        count,
        every,
    )
    return [row["id"] for row in rows]


def assert_each_once(hits: list[Hit], sql_ids: set[str]) -> None:
    """Every request's webhook arrived exactly once, signed."""
    sent = [json.loads(hit.body)["request_id"] for hit in hits]
    assert sorted(sent) == sorted(sql_ids)
    for hit in hits:
        assert verify_signature(WEBHOOK_SECRET, hit.body, hit.headers.get(SIGNATURE_HEADER.lower()))


def arrivals(hits: list[Hit], started: float) -> str:
    delays = sorted(hit.arrived - started for hit in hits)
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    return f"p50 {statistics.median(delays) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, last {delays[-1] * 1000:.0f} ms"


@pytest.fixture
def hook_settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(webhook_signing_secret=WEBHOOK_SECRET, allow_http_webhooks=True)


# -- a fire runs at once ----------------------------------------------------------


async def test_a_hundred_due_webhooks_arrive_before_the_schedule_call_returns(
    hook_settings: Settings, sql: asyncpg.Connection
) -> None:
    hits: list[Hit] = []
    async with local_receiver(delay=RECEIVER_SECONDS, hits=hits) as (url, _), app_client(hook_settings) as http:
        await add_due_hooks(sql, url, JOBS_DUE)
        started = time.monotonic()
        answer = await http.get("/api/cron/schedule", headers={**AUTH, "user-agent": "vercel-cron/1.0"})
        returned = time.monotonic()

        assert answer.status_code == 200, answer.text
        stats = answer.json()["stats"]
        assert (stats["enqueued"], stats["executed"]["done"], stats["executed"]["not_started"]) == (
            JOBS_DUE,
            JOBS_DUE,
            0,
        )
        # Every webhook arrived, exactly once, before the call returned; no drain was called.
        assert len(hits) == JOBS_DUE and all(hit.arrived <= returned for hit in hits)
        done = await sql.fetch("select id::text, status, requested_by from cron_run_requests")
        assert {(row["status"], row["requested_by"]) for row in done} == {("done", "schedule")}
        assert_each_once(hits, {row["id"] for row in done})
        assert await sql.fetchval("select count(*) from cron_runs where job = 'run-requests'") == 0
    receiver_ms = RECEIVER_SECONDS * 1000
    print(f"\ntick -> webhook arrival, {JOBS_DUE} jobs, receiver {receiver_ms:g} ms: {arrivals(hits, started)}")


@pytest.fixture
def cli_env(pg_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The CLI's settings from the environment: the test database, the signing secret, http to localhost."""
    monkeypatch.chdir(tmp_path)
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    monkeypatch.setenv("CRON_SECRET", "on-time-cli-secret-0123456789")
    monkeypatch.setenv("WEBHOOK_SIGNING_SECRET", WEBHOOK_SECRET)
    monkeypatch.setenv("ALLOW_HTTP_WEBHOOKS", "true")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_the_same_through_the_cli(
    cli_env: None, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    hits: list[Hit] = []
    async with local_receiver(delay=RECEIVER_SECONDS, hits=hits) as (url, _):
        await add_due_hooks(sql, url, JOBS_DUE)
        # The CLI runs its own event loop; the receiver keeps serving on this one.
        code = await asyncio.to_thread(main, ["run", "schedule"])
        answered = len(hits)
    out, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(out)
    assert (report["trigger"], report["stats"]["executed"]["done"]) == ("cli", JOBS_DUE)
    assert answered == JOBS_DUE
    done = await sql.fetch("select id::text from cron_run_requests where status = 'done'")
    assert_each_once(hits, {row["id"] for row in done})


async def test_a_builtin_fire_runs_with_trigger_schedule(
    db: Database, settings: Settings, sql: asyncpg.Connection
) -> None:
    await sql.execute(
        "insert into cron_jobs (name, kind, target, schedule_type, schedule, next_run_at)"
        " values ('stale-sweep', 'builtin', 'check-stale', 'interval', '1d', now() - interval '1 second')"
    )
    report = await run_job(JOBS["schedule"], db=db, settings=settings, trigger=Trigger.MANUAL, jobs=JOBS)
    assert report.stats["executed"]["done"] == 1
    assert await sql.fetchval("select trigger from cron_runs where job = 'check-stale'") == "schedule"


async def test_what_the_budget_does_not_reach_stays_queued_for_the_drain(
    hook_settings: Settings, sql: asyncpg.Connection, make_settings: Callable[..., Settings]
) -> None:
    hits: list[Hit] = []
    async with local_receiver(hits=hits) as (url, _), app_client(hook_settings) as http:
        await add_due_hooks(sql, url, 5)
        # A run with no time left for a request starts none of them: they wait, unclaimed.
        tight = make_settings(
            webhook_signing_secret=WEBHOOK_SECRET, allow_http_webhooks=True, run_time_budget_seconds=1
        )
        async with app_client(tight) as short:
            answer = (await short.get("/api/cron/schedule", headers=AUTH)).json()
        assert answer["stats"]["enqueued"] == 5
        assert answer["stats"]["executed"]["done"] + answer["stats"]["executed"]["not_started"] <= 5
        left = await sql.fetchval("select count(*) from cron_run_requests where status = 'queued'")
        assert left == 5 - answer["stats"]["executed"]["done"]
        drained = (await http.get("/api/cron/run-requests", headers=AUTH)).json()
        assert drained["stats"]["done"] == left
        assert await sql.fetchval("select count(*) from cron_run_requests where status = 'done'") == 5
        assert len(hits) == 5


# -- bounded ------------------------------------------------------------------------


async def test_two_thousand_every_second_jobs_over_five_ticks_keep_the_queue_bounded(
    db: Database, settings: Settings, sql: asyncpg.Connection, make_settings: Callable[..., Settings]
) -> None:
    # The worst case: nothing can drain (no signing secret, so every fire is held), and
    # every tick finds every job due again. Without coalescing the queue grows by 2,000 a tick.
    jobs = await add_due_hooks(sql, "https://hooks.example.test/run", 2000, every="every 1s")
    sizes = []
    for tick in range(5):
        if tick:
            # A tick later: every job is due again (and has missed ticks, which collapse into one),
            # at an instant no earlier tick had.
            await sql.execute(
                "update cron_jobs set next_run_at = date_trunc('second', now()) - make_interval(secs => 100 * $1)"
                " where name like 'due-hook-%'",
                tick,
            )
        report = await run_job(JOBS["schedule"], db=db, settings=settings, trigger=Trigger.MANUAL, jobs=JOBS)
        stats = report.stats
        assert stats["jobs"] == 2000, stats
        # One run fires each job at most once; a tick is coalesced while the previous request waits.
        assert (stats["enqueued"], stats["coalesced"]) == ((2000, 0) if tick == 0 else (0, 2000))
        sizes.append(await sql.fetchval("select count(*) from cron_run_requests where status in ('queued', 'running')"))
    assert sizes == [2000] * 5
    unfinished = await sql.fetchval(
        "select max(n) from (select count(*) n from cron_run_requests"
        " where status in ('queued', 'running') and requested_by = 'schedule' group by job_id) per_job"
    )
    assert unfinished == 1
    assert len(jobs) == 2000
    print(f"\nrunaway: queue after each of five ticks of 2,000 `every 1s` jobs: {sizes}")

    # A Run now of another job still runs at once, whatever waits in the queue.
    hits: list[Hit] = []
    async with local_receiver(hits=hits) as (url, _):
        other = await manage.create_job(db, JobInput(name="urgent", target=url), allow_http_webhooks=True)
        ready = make_settings(webhook_signing_secret=WEBHOOK_SECRET, allow_http_webhooks=True)
        queued = await manage.run_now(db, other.id, requested_by="ops")
        executed = await manage.execute_now(db, ready, queued)
    assert (executed.started, executed.request.status, len(hits)) == (True, "done", 1)


async def test_one_run_never_fires_a_tick_that_fell_due_while_it_was_going(
    db: Database, settings: Settings, sql: asyncpg.Connection
) -> None:
    # 450 jobs (three claims of 200) every second; the first claim fixes the run's start, so
    # rows that fall due again while it goes are left for the next run instead of re-fired.
    await add_due_hooks(sql, "https://hooks.example.test/run", 450, every="1s")
    report = await run_job(JOBS["schedule"], db=db, settings=settings, trigger=Trigger.MANUAL, jobs=JOBS)
    assert report.stats["enqueued"] == 450 and report.stats["jobs"] == 450
    per_job = await sql.fetchval("select max(n) from (select count(*) n from cron_run_requests group by job_id) x")
    assert per_job == 1


# -- held for the deployment ------------------------------------------------------------


async def test_run_now_without_a_signing_secret_is_held_and_says_which_setting(
    db: Database, settings: Settings, sql: asyncpg.Connection
) -> None:
    job = await manage.create_job(db, JobInput(name="unsigned", target="https://hooks.example.test/run"))
    queued = await manage.run_now(db, job.id, requested_by="ops")
    executed = await manage.execute_now(db, settings, queued)
    assert executed.started is False and executed.waiting is not None
    assert "WEBHOOK_SIGNING_SECRET" in executed.waiting
    assert (executed.request.status, executed.request.attempts, executed.request.held) == ("queued", 0, True)
    assert executed.request.held_reason is not None and "WEBHOOK_SIGNING_SECRET" in executed.request.held_reason


# -- next run known at once -------------------------------------------------------------


async def test_the_next_run_is_stored_with_the_write_and_never_moves(
    db: Database, sql: asyncpg.Connection, settings: Settings
) -> None:
    job = await manage.create_job(db, JobInput(name="every-5m", target="https://hooks.example.test/run",
                                               schedule_type="interval", schedule="every 5m"))  # fmt: skip
    stored = await sql.fetchval("select next_run_at from cron_jobs where id = $1", job.id)
    assert stored is not None and job.next_run_at == stored
    await asyncio.sleep(1.1)
    shown = [
        (await manage.get_job(db, job.id)).job.next_run_at,
        (await manage.find_job(db, "every-5m")).next_run_at,
        *[j.next_run_at for j in (await manage.list_jobs(db)).jobs if j.id == job.id],
    ]
    # The schedule run before its first tick changes nothing either.
    await run_job(JOBS["schedule"], db=db, settings=settings, trigger=Trigger.MANUAL, jobs=JOBS)
    shown.append((await manage.get_job(db, job.id)).job.next_run_at)
    assert shown == [stored] * 4

    changed = await manage.update_job(db, job.id, {"schedule": "every 2h"})
    again = await sql.fetchval("select next_run_at from cron_jobs where id = $1", job.id)
    assert changed.next_run_at == again and again - stored > timedelta(hours=1)


async def test_the_cli_shows_why_a_held_request_waits(
    pg_dsn: str, sql: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # The CLI without the signing secret (a shell that does not have the deployment's settings).
    monkeypatch.chdir(tmp_path)
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "WEBHOOK_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    monkeypatch.setenv("CRON_SECRET", "on-time-cli-secret-0123456789")
    get_settings.cache_clear()
    try:
        await sql.execute(
            "insert into cron_jobs (name, kind, target) values ('unsigned-hook', 'webhook', 'https://hooks.example.test/x')"
        )
        code = await asyncio.to_thread(main, ["jobs", "run", "unsigned-hook"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "not run yet: held: WEBHOOK_SIGNING_SECRET is not set" in out
        code = await asyncio.to_thread(main, ["run", "run-requests"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert json.loads(out)["stats"]["held_for"] == [
            "WEBHOOK_SIGNING_SECRET is not set, so webhook calls cannot be signed"
        ]
        code = await asyncio.to_thread(main, ["requests"])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "held: WEBHOOK_SIGNING_SECRET is not set" in out
        assert await sql.fetchval("select attempts from cron_run_requests") == 0
    finally:
        get_settings.cache_clear()


async def test_run_now_of_a_builtin_whose_lease_is_held_stays_queued_and_says_so(
    db: Database, settings: Settings, sql: asyncpg.Connection
) -> None:
    # Another run of check-stale holds its lease (a cron call in progress).
    await sql.execute(
        "insert into cron_locks (job, holder, locked_until) values ('check-stale', '42', now() + interval '1 minute')"
    )
    job = await manage.find_job(db, "check-stale")
    queued = await manage.run_now(db, job.id, requested_by="ops")
    executed = await manage.execute_now(db, settings, queued)
    assert executed.started is False and executed.waiting is not None and "holds its lease" in executed.waiting
    assert (executed.request.status, executed.request.attempts) == ("queued", 0)
