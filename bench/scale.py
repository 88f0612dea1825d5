"""Scale (DESIGN.md Scale, issue 19): costs per item that do not grow with fleets and queues.

One run, one embedded Postgres, each figure beside its baseline measured in the same run:

- heartbeat retention: cleanup-heartbeats over a backlog of HEARTBEATS expired rows in daily
  partitions (drop the whole days, trim the one that straddles the cutoff) next to one raw DELETE of
  the same rows from a plain, unpartitioned copy of the table; where the temporary folder's filesystem
  frees files with online discard, measured again on ext4 without it (bench/filesystems.py);
- table plus index size over ten daily cycles (insert a day, run the job), next to its size when the
  window first filled;
- record_heartbeat throughput next to the same writes (the beat and the agent's upsert) as one raw
  statement into the plain table;
- check-stale over AGENTS agents, a tenth of them stale, next to the raw UPDATE in psql, with the
  longest single call (Supabase's statement timeout is 8 s);
- each queue's claim with 1,000,000 rows waiting next to the same claim with 1,000 waiting, with the
  claim's plan (EXPLAIN ANALYZE, buffers) at depth.

Sizes are parameters: CRONRELAY_BENCH_HEARTBEATS (default 3,000,000; the issue's figure is 30 M,
which takes this 2-core machine's disk tens of minutes to seed twice), CRONRELAY_BENCH_AGENTS
(1,000,000) and CRONRELAY_BENCH_QUEUE_DEPTH (1,000,000).

To add a queue, append a `Queue` to QUEUES (run requests, reminders and alert deliveries are there): how to seed
n waiting rows, the claim call, and the claim's inner query with the index it should read.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.check_stale import _psql_ms
from bench.filesystems import describe, ext4_without_discard, has_online_discard
from bench.harness import Figure, at_least, at_most, embedded_database, say
from lib.clock.schedules import next_cron_fire, parse_schedule
from lib.db import Database, Row
from lib.db.postgres import PostgresDatabase
from lib.db.statuses import Trigger
from lib.jobs.registry import JOBS
from lib.migrate import migrate, vercel_crons
from lib.runner import run_job
from lib.settings import load_settings

HEARTBEATS = int(os.environ.get("CRONRELAY_BENCH_HEARTBEATS", "3000000"))
AGENTS = int(os.environ.get("CRONRELAY_BENCH_AGENTS", "1000000"))
DEPTH = int(os.environ.get("CRONRELAY_BENCH_QUEUE_DEPTH", "1000000"))
SHALLOW = 1_000
SECRET = "bench-scale-secret-0123456789"
RETENTION_DAYS = 30
EXPIRED_DAYS = 30
FLEET = 1_000  # agents the heartbeats belong to

CLEANUP_TARGET = 0.1
SIZE_TARGET = 1.05
BEAT_TARGET = 0.8
STALE_TARGET = 1.15
CLAIM_TARGET = 2.0
STATEMENT_TIMEOUT_SECONDS = 8.0
STALE_ROUNDS = 5


def _settings(dsn: str, **overrides: Any) -> Any:
    return load_settings(_env_file=None, cron_secret=SECRET, database_url=dsn, **overrides)


async def _execute(dsn: str, *statements: str, args: tuple[Any, ...] = ()) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await connection.execute(statement, *args)
    finally:
        await connection.close()


async def _fetchval(dsn: str, query: str, *args: Any) -> Any:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


@dataclass
class TimedDatabase:
    """The port, with each call's duration kept per function (the longest single call is a figure)."""

    inner: Database
    seconds: dict[str, list[float]] = field(default_factory=dict)
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.inner.name

    async def call(self, function: str, /, **args: Any) -> list[Row]:
        start = time.perf_counter()
        try:
            return await self.inner.call(function, **args)
        finally:
            self.seconds.setdefault(function, []).append(time.perf_counter() - start)

    async def close(self) -> None:
        await self.inner.close()


async def _run(dsn: str, job: str, **overrides: Any) -> tuple[float, dict[str, Any], TimedDatabase]:
    database = TimedDatabase(PostgresDatabase(dsn))
    try:
        await database.call("health_check")  # connect outside the timing
        database.seconds.clear()
        start = time.perf_counter()
        report = await run_job(JOBS[job], db=database, settings=_settings(dsn, **overrides), trigger=Trigger.CLI)
        elapsed = time.perf_counter() - start
    finally:
        await database.close()
    if report.status not in ("ok", "partial"):
        raise RuntimeError(f"{job} ended {report.status}: {report.error}")
    return elapsed, dict(report.stats), database


# -- heartbeat retention ------------------------------------------------------------------------

PLAIN_TABLE = """
create table public.heartbeats_plain (
  id         bigint generated by default as identity primary key,
  agent_id   uuid not null references public.agents (id) on delete cascade,
  created_at timestamptz not null default now(),
  payload    jsonb not null default '{}'::jsonb
);
create index heartbeats_plain_created_at_idx on public.heartbeats_plain (created_at);
create index heartbeats_plain_agent_id_idx on public.heartbeats_plain (agent_id, created_at desc);
"""
# `per_day` beats on each of the days `first`..`last` days ago, spread over the day, across the fleet.
SEED_DAYS = """
insert into public.heartbeats (agent_id, created_at, payload)
select f.ids[1 + (g % {fleet})],
       date_trunc('day', now() - d * interval '1 day', 'UTC') + (g * 86400.0 / {per_day}) * interval '1 second',
       '{{"cpu": 0.4}}'::jsonb
  from generate_series({first}, {last}) d, generate_series(0, {per_day} - 1) g,
       (select array_agg(id) ids from public.agents) f
"""
SIZE = """
select coalesce(sum(pg_total_relation_size(t.relid)), 0)::bigint
  from pg_partition_tree('public.heartbeats') t where t.isleaf
"""


def _seed_days(first: int, last: int, per_day: int) -> str:
    return SEED_DAYS.format(first=first, last=last, per_day=per_day, fleet=FLEET)


def bench_retention(dsn: str, filesystem: str, *, size_cycles: bool = True) -> list[Figure]:
    """The cleanup of the backlog next to one raw DELETE (and, with size_cycles, the size over ten cycles)."""
    per_day = HEARTBEATS // EXPIRED_DAYS
    fresh_per_day = max(per_day // 10, 1)
    cutoff = f"now() - interval '{RETENTION_DAYS} days'"
    asyncio.run(
        _execute(
            dsn,
            f"insert into public.agents (name) select 'fleet-' || g from generate_series(1, {FLEET}) g",
            # Daily partitions over the whole backlog, as the job would have made them day by day.
            f"select * from public.heartbeat_partitions({RETENTION_DAYS + EXPIRED_DAYS + 2}, 7)",
            PLAIN_TABLE,
        )
    )
    say(f"  seeding {HEARTBEATS:,} expired heartbeats ({per_day:,} a day) and the fresh ones on {filesystem} ...")
    started = time.perf_counter()
    asyncio.run(
        _execute(
            dsn,
            # The straddling day (the cutoff's) and the wholly expired ones before it.
            _seed_days(RETENTION_DAYS, RETENTION_DAYS + EXPIRED_DAYS - 1, per_day),
            _seed_days(0, RETENTION_DAYS - 1, fresh_per_day),
            "insert into public.heartbeats_plain (agent_id, created_at, payload)"
            " select agent_id, created_at, payload from public.heartbeats",  # partition by partition: in day order
            "vacuum analyze",
            "checkpoint",
        )
    )
    say(f"  seeded in {time.perf_counter() - started:.0f} s")
    expired = asyncio.run(_fetchval(dsn, f"select count(*) from public.heartbeats where created_at < {cutoff}"))
    # What one drop frees: a day's heap, its three indexes and its TOAST table.
    day_size = asyncio.run(
        _fetchval(
            dsn,
            "select avg(pg_total_relation_size(format('public.%I', r.partition_name)::regclass))::bigint"
            f" from public._heartbeat_partition_ranges() r where not r.is_default and r.upper_bound <= {cutoff}",
        )
    )

    async def raw_delete() -> tuple[float, int]:
        connection = await asyncpg.connect(dsn)
        try:
            start = time.perf_counter()
            status = await connection.execute(f"delete from public.heartbeats_plain where created_at < {cutoff}")
            return time.perf_counter() - start, int(status.split()[-1])
        finally:
            await connection.close()

    raw_seconds, raw_rows = asyncio.run(raw_delete())
    # The job starts as the raw DELETE did, with the dirty pages written out.
    asyncio.run(_execute(dsn, "checkpoint"))
    # The cutoff is now() - 30 days at each statement, so rows of the straddling day cross it between them
    # (a dozen a second at a million a day): what the job must leave none of is what was past it as it began.
    job_cutoff = asyncio.run(_fetchval(dsn, f"select {cutoff}"))
    job_seconds, stats, database = _run_timed_cleanup(dsn)
    left = asyncio.run(_fetchval(dsn, "select count(*) from public.heartbeats where created_at < $1", job_cutoff))
    assert left == 0 and abs(raw_rows - expired) < per_day // 100, (raw_rows, expired, left)
    # The raw DELETE left its rows dead; autovacuum would spend the next benchmarks' minutes on them.
    asyncio.run(_execute(dsn, "truncate public.heartbeats_plain"))
    ratio = job_seconds / raw_seconds
    calls = database.seconds.get("heartbeat_partitions", [0.0])  # the upkeep's, each at most 1 GB of days
    batches = database.seconds.get("delete_expired_heartbeats", [])
    say(f"  raw DELETE of {raw_rows:,} rows   {raw_seconds:8.2f} s (baseline)")
    say(
        f"  cleanup-heartbeats            {job_seconds:8.2f} s = {ratio:.3f}x: "
        f"{stats['partitions_dropped']} partitions dropped ({sum(calls) * 1000:.0f} ms, the longest "
        f"{max(calls) * 1000:.0f} ms), "
        f"{stats['deleted']:,} rows of the straddling day in {len(batches)} batches"
    )
    figures = [
        Figure(
            name=f"cleanup-heartbeats, {expired / 1e6:.1f}M heartbeats past retention in daily partitions, "
            f"database on {filesystem}",
            measured=f"{job_seconds:.2f} s ({stats['partitions_dropped']} partitions dropped, "
            f"{stats['deleted']:,} straddling rows deleted in {len(batches)} batches)",
            baseline=f"one raw DELETE of the same rows from an unpartitioned copy: {raw_seconds:.2f} s",
            ratio=ratio,
            target=f"≤ {CLEANUP_TARGET}x",
            met=at_most(ratio, CLEANUP_TARGET),
            note=(
                f"measured at {HEARTBEATS / 1e6:g}M rows, not the issue's 30M (CRONRELAY_BENCH_HEARTBEATS sets "
                "it): seeding 30M rows twice takes this 2-core machine about half an hour. "
                if HEARTBEATS < 30_000_000
                else ""
            )
            + _where_the_time_goes(job_seconds, raw_seconds, stats, database, day_size, filesystem),
        )
    ]
    if size_cycles:
        figures.append(_size_cycles(dsn, per_day))
    return figures


def _where_the_time_goes(
    job_seconds: float,
    raw_seconds: float,
    stats: dict[str, Any],
    database: TimedDatabase,
    day_size: int,
    filesystem: str,
) -> str:
    """The run's time by call, and the part of it that depends on the hour the bench ran at."""
    calls = database.seconds.get("heartbeat_partitions", [0.0])
    upkeep = sum(calls)
    batches = database.seconds.get("delete_expired_heartbeats", [])
    dropped = max(int(stats["partitions_dropped"]), 1)
    rest = job_seconds - upkeep - sum(batches)
    now = datetime.now(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    scheduled = _first_scheduled_run(midnight)
    share = (scheduled - midnight) / max(now - midnight, timedelta(minutes=1))
    return (
        f"Where the run's {job_seconds:.2f} s go (timed per call, this run): the partition upkeep "
        f"{upkeep:.2f} s ({upkeep / raw_seconds:.3f}x of the raw DELETE), {upkeep / dropped * 1000:.0f} ms per "
        f"dropped day of {day_size / 1e6:.1f} MB (table, three indexes and TOAST): a drop reads no row, but at "
        "commit Postgres truncates each of those files, so it costs the filesystem's time to free them "
        f"({filesystem} here; bench/filesystems.py says why that matters); one call drops at most a gigabyte of "
        f"days in one transaction ({len(calls)} calls here), so the longest a heartbeat could wait for the table was "
        f"one call, {max(calls) * 1000:.0f} ms; the straddling day's "
        f"{stats['deleted']:,} expired rows in {len(batches)} batches {sum(batches):.2f} s "
        f"({sum(batches) / raw_seconds:.3f}x), which is the part of that day before the cutoff and so grows with "
        f"the hour: the bench ran at {now:%H:%M} UTC, and vercel.json runs the job at "
        f"{scheduled:%H:%M} UTC, when it is {share:.2f} times this run's; "
        f"begin_run, end_run and the rest {rest:.2f} s."
    )


def _first_scheduled_run(midnight: datetime) -> datetime:
    """vercel.json's first run of cleanup-heartbeats from `midnight` (UTC): its trim is that day's part up to then."""
    cron = dict(vercel_crons())["cleanup-heartbeats"]
    return next_cron_fire(parse_schedule("cron", cron, "UTC"), midnight - timedelta(microseconds=1))


def _run_timed_cleanup(dsn: str) -> tuple[float, dict[str, Any], TimedDatabase]:
    return asyncio.run(_run(dsn, "cleanup-heartbeats", heartbeat_retention_days=RETENTION_DAYS))


def _size_cycles(dsn: str, per_day: int) -> Figure:
    """Ten daily cycles after the window filled: insert a day, run the job; the partitions' size after each."""
    window, warm_up, cycles = 3, 4, 10
    rows = min(max(per_day // 2, 10_000), 100_000)
    start_day = 40
    asyncio.run(
        _execute(
            dsn, "truncate public.heartbeats", f"select * from public.heartbeat_partitions({start_day + window}, 7)"
        )
    )
    sizes = []
    for cycle in range(warm_up + cycles):
        day = start_day - cycle
        # The day's beats, then the job with a cutoff `window` days behind them, as if a day had passed.
        asyncio.run(_execute(dsn, _seed_days(day, day, rows)))
        asyncio.run(_run(dsn, "cleanup-heartbeats", heartbeat_retention_days=day + window))
        sizes.append(asyncio.run(_fetchval(dsn, SIZE)))
    base, steady = sizes[warm_up - 1], sizes[warm_up:]
    ratio = max(steady) / base
    say(f"  size over {cycles} cycles of {rows:,} beats a day, {window}-day window (MB): "
        + ", ".join(f"{size / 1e6:.0f}" for size in sizes))  # fmt: skip
    return Figure(
        name=f"heartbeats table + index size over {cycles} daily cycles ({rows:,} beats a day, {window}-day window)",
        measured=f"at most {max(steady) / 1e6:.1f} MB (last {steady[-1] / 1e6:.1f} MB)",
        baseline=f"when the window first filled: {base / 1e6:.1f} MB",
        ratio=ratio,
        target=f"≤ {SIZE_TARGET}x (no growth)",
        met=at_most(ratio, SIZE_TARGET),
        note="each cycle inserts a day of beats and runs cleanup-heartbeats with the cutoff moved a day on: "
        "it drops the day that left the window and trims the one that straddles it (dead tuples there leave "
        "with that partition the next cycle). Sizes from pg_total_relation_size over every partition.",
    )


# -- record_heartbeat ---------------------------------------------------------------------------

BEATS = 20_000
CONCURRENCY = 4
RECORD = "select * from public.record_heartbeat($1::uuid, $2::jsonb)"
# record_heartbeat's two writes as one raw statement, into the plain table.
RAW_BEAT = """
with agent as (
  insert into public.agents as a (id, status, last_heartbeat_at) values ($1::uuid, 'online', now())
  on conflict (id) do update
     set status = 'online', last_heartbeat_at = now(), went_offline_at = null, updated_at = now()
  returning a.id
)
insert into public.heartbeats_plain (agent_id, payload) select agent.id, $2::jsonb from agent
"""


async def _beats_per_second(dsn: str, statement: str, agents: list[str]) -> float:
    pool = await asyncpg.create_pool(dsn, min_size=CONCURRENCY, max_size=CONCURRENCY)
    assert pool is not None
    try:
        per_worker = BEATS // CONCURRENCY

        async def worker(offset: int) -> None:
            async with pool.acquire() as connection:
                for i in range(per_worker):
                    await connection.execute(statement, agents[(offset + i) % len(agents)], '{"cpu": 0.4}')

        start = time.perf_counter()
        await asyncio.gather(*(worker(n * 7919) for n in range(CONCURRENCY)))
        return per_worker * CONCURRENCY / (time.perf_counter() - start)
    finally:
        await pool.close()


def bench_record_heartbeat(dsn: str) -> Figure:
    agents = [str(row) for row in asyncio.run(_fetchval(dsn, "select array_agg(id::text) from public.agents"))]
    raw, recorded = [], []
    for _ in range(2):
        raw.append(asyncio.run(_beats_per_second(dsn, RAW_BEAT, agents)))
        recorded.append(asyncio.run(_beats_per_second(dsn, RECORD, agents)))
    base, value = max(raw), max(recorded)
    ratio = value / base
    say(f"  record_heartbeat {value:,.0f}/s vs the same writes raw {base:,.0f}/s = {ratio:.2f}x")
    return Figure(
        name=f"record_heartbeat throughput ({CONCURRENCY} connections, {len(agents):,} agents)",
        measured=f"{value:,.0f} beats/s (into today's partition)",
        baseline=f"the same two writes as one raw statement into the unpartitioned table: {base:,.0f}/s",
        ratio=ratio,
        target=f"≥ {BEAT_TARGET}x",
        met=at_least(ratio, BEAT_TARGET),
        note=f"best of 2 rounds of {BEATS:,} beats each; both over asyncpg with its statement cache. The raw "
        "baseline is the agent upsert plus the insert, the work record_heartbeat does, so the ratio is the cost "
        "of the function call and of routing the row to its partition.",
    )


# -- check-stale --------------------------------------------------------------------------------


def bench_check_stale(dsn: str) -> list[Figure]:
    stale = AGENTS // 10
    say(f"  seeding {AGENTS:,} agents, {stale:,} of them stale ...")
    asyncio.run(
        _execute(
            dsn,
            "truncate public.agents cascade",
            f"""insert into public.agents (name, last_heartbeat_at)
                select 'agent-' || i, case when i % 10 = 0 then now() - interval '1 hour' - i * interval '1 ms'
                                           else now() + interval '1 day' end
                  from generate_series(1, {AGENTS}) i""",
            "vacuum analyze public.agents",
        )
    )
    # Each measurement starts from the same state: the marks undone, the table vacuumed and written out.
    reset = (
        "update public.agents set status = 'online', went_offline_at = null where status = 'offline'",
        "vacuum analyze public.agents",
        "checkpoint",
    )
    raw, runs, longest = [], [], []
    for _ in range(STALE_ROUNDS):
        asyncio.run(_execute(dsn, *reset))
        raw.append(_psql_ms(dsn) / 1000)
        asyncio.run(_execute(dsn, *reset))
        seconds, stats, database = asyncio.run(_run(dsn, "check-stale"))
        assert stats["marked_offline"] == stale, stats
        runs.append(seconds)
        longest.append(max(database.seconds["mark_stale_agents_offline"]))
        calls = len(database.seconds["mark_stale_agents_offline"])
    base, value = statistics.median(raw), statistics.median(runs)
    ratio = value / base
    # The whole fleet silent at once (a network outage): batches keep each statement inside the timeout.
    asyncio.run(
        _execute(
            dsn, "update public.agents set status = 'online', last_heartbeat_at = now() - interval '1 hour'", *reset
        )
    )
    outage_seconds, outage, outage_db = asyncio.run(_run(dsn, "check-stale"))
    assert outage["marked_offline"] == AGENTS, outage
    outage_calls = outage_db.seconds["mark_stale_agents_offline"]
    say(f"  raw UPDATE {base * 1000:.0f} ms; check-stale (full run) {value * 1000:.0f} ms = {ratio:.2f}x; "
        f"{calls} calls, longest {max(longest) * 1000:.0f} ms")  # fmt: skip
    say(f"  whole fleet silent: {outage_seconds:.1f} s in {len(outage_calls)} statements, longest "
        f"{max(outage_calls) * 1000:.0f} ms")  # fmt: skip
    return [
        Figure(
            name=f"check-stale, {AGENTS / 1e6:g}M agents, {stale / 1e3:g}k stale, postgres adapter",
            measured=f"{value * 1000:.0f} ms (full run; {calls} statements, the longest {max(longest) * 1000:.0f} ms)",
            baseline=f"raw UPDATE in psql: {base * 1000:.0f} ms",
            ratio=ratio,
            target=f"≤ {STALE_TARGET}x, each call < {STATEMENT_TIMEOUT_SECONDS:g} s",
            met=at_most(ratio, STALE_TARGET) and max(longest) < STATEMENT_TIMEOUT_SECONDS,
            note=f"median of {STALE_ROUNDS}, each on a reset table, in turn with the raw UPDATE's; "
            "a run is begin_run, the marking in batches of at most 200,000 "
            "(sized towards a second each), and end_run",
        ),
        Figure(
            name=f"check-stale, all {AGENTS / 1e6:g}M agents silent at once: the longest statement",
            measured=f"{max(outage_calls) * 1000:.0f} ms "
            f"({len(outage_calls)} statements, {outage_seconds:.1f} s in all)",
            baseline=f"Supabase's statement timeout, {STATEMENT_TIMEOUT_SECONDS:g} s",
            ratio=max(outage_calls) / STATEMENT_TIMEOUT_SECONDS,
            target="< 1.0 (each call inside 8 s)",
            met=max(outage_calls) < STATEMENT_TIMEOUT_SECONDS,
            note="batches of at most 200,000, the next smaller after one over a second",
        ),
    ]


# -- queues at depth ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Queue:
    """A queue to measure at depth: how to fill it, how a drain claims from it, and the claim's own query."""

    name: str
    # Statements that make `n` rows waiting, inserted in the order they arrive (as a queue fills; the
    # gate's tests/test_queues_at_depth.py inserts them shuffled, to check the order comes from the index).
    seed: Callable[[int], list[str]]
    # The claim as the drain calls it.
    claim: str
    # The claim's inner select, to EXPLAIN, and the index it should read in order.
    inner: str
    index: str
    truncate: str


QUEUES: list[Queue] = [
    Queue(
        name="run requests",
        seed=lambda n: [
            "insert into public.cron_jobs (name, kind, target) values ('bench:deep', 'webhook', 'https://example.test/')"
            " on conflict do nothing",
            f"""insert into public.cron_run_requests (job_id, available_at, requested_at)
                select (select id from public.cron_jobs where name = 'bench:deep'), t, t
                  from (select now() - interval '1 day' + g * interval '10 ms' as t
                          from generate_series(1, {n}) g) s""",
        ],
        claim="select * from public.claim_run_requests(20, 120)",
        inner="select v.id from public.run_requests_ready v order by v.available_at limit 20 for update skip locked",
        index="cron_run_requests_queued_idx",
        truncate="truncate public.cron_run_requests cascade",
    ),
    Queue(
        name="reminders",
        seed=lambda n: [
            # Half of them one campaign inserted at once (one due_at), the rest a second apart.
            f"""insert into public.scheduled_reminders (telegram_id, due_at, draft_text)
                select g, case when g % 2 = 0 then now() - interval '2 hours'
                               else now() - interval '1 day' + g * interval '10 ms' end, 'hello'
                  from generate_series(1, {n}) g""",
        ],
        claim="select * from public.claim_due_reminders(100, 120)",
        inner="select d.id from public.due_reminders d order by d.due_at, d.id limit 100 for update skip locked",
        index="scheduled_reminders_due_id_idx",
        truncate="truncate public.scheduled_reminders",
    ),
    Queue(
        name="alert deliveries",
        seed=lambda n: [
            # Events already routed (so the claim's routing step finds none), each to two channels:
            # n deliveries, the oldest event's first.
            f"""insert into public.cron_alert_events (event, payload, fanned_out_at, created_at)
                select 'agents.offline', '{{}}'::jsonb, now(), now() - interval '1 day' + g * interval '10 ms'
                  from generate_series(1, ({n} + 1) / 2) g""",
            f"""insert into public.cron_alert_deliveries (event_id, channel, available_at, created_at)
                select e.id, c.channel, e.created_at, e.created_at
                  from public.cron_alert_events e cross join unnest(array['slack', 'webhook']) c (channel)
                 order by e.id, c.channel
                 limit {n}""",
        ],
        claim="""select * from public.claim_alert_deliveries('["webhook", "slack"]'::jsonb, 50, 120)""",
        inner="select d.id from public.cron_alert_deliveries d"
        " where d.status = 'pending' and d.available_at <= now() and d.channel = any ('{webhook,slack}'::text[])"
        " order by d.available_at, d.id limit 50 for update skip locked",
        index="cron_alert_deliveries_due_idx",
        truncate="truncate public.cron_alert_deliveries, public.cron_alert_events",
    ),
]
CLAIMS = 100
WARM_UP = 10


async def _rolled_back_claim(connection: asyncpg.Connection, claim: str) -> float:
    """One claim in a transaction rolled back, so the depth stays what it was."""
    transaction = connection.transaction()
    await transaction.start()
    try:
        start = time.perf_counter()
        rows = await connection.fetch(claim)
        elapsed = time.perf_counter() - start
    finally:
        await transaction.rollback()
    assert rows, claim
    return elapsed


async def _alternating_medians(deep_dsn: str, shallow_dsn: str, claim: str) -> tuple[float, float]:
    """Median claim latency at each depth, the two measured in turn so the machine's load falls on both alike."""
    deep, shallow = await asyncpg.connect(deep_dsn), await asyncpg.connect(shallow_dsn)
    deep_samples, shallow_samples = [], []
    try:
        for index in range(WARM_UP + CLAIMS):
            at_depth = await _rolled_back_claim(deep, claim)
            at_shallow = await _rolled_back_claim(shallow, claim)
            if index >= WARM_UP:
                deep_samples.append(at_depth)
                shallow_samples.append(at_shallow)
    finally:
        await deep.close()
        await shallow.close()
    return statistics.median(deep_samples), statistics.median(shallow_samples)


async def _plan(dsn: str, query: str) -> list[str]:
    connection = await asyncpg.connect(dsn)
    try:
        transaction = connection.transaction()
        await transaction.start()
        document = json.loads(await connection.fetchval(f"explain (analyze, buffers, format json) {query}"))
        await transaction.rollback()
    finally:
        await connection.close()
    lines: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        index = f" using {node['Index Name']}" if "Index Name" in node else ""
        lines.append(
            f"{node['Node Type']}{index} (rows={node.get('Actual Rows')}, "
            f"buffers={node.get('Shared Hit Blocks', 0) + node.get('Shared Read Blocks', 0)}, "
            f"{node.get('Actual Total Time')} ms)"
        )
        for child in node.get("Plans", []):
            walk(child)

    walk(document[0]["Plan"])
    return lines


def bench_queues(dsn: str) -> list[Figure]:
    from tests.databases import scratch_database

    # The shallow queue lives in a database of its own on the same server, so both are measured in turn.
    shallow_dsn = asyncio.run(scratch_database(dsn, "shallow"))
    asyncio.run(migrate(shallow_dsn))
    figures = []
    for queue in QUEUES:
        latency: dict[int, float] = {}
        for depth, where in ((SHALLOW, shallow_dsn), (DEPTH, dsn)):
            asyncio.run(_execute(where, queue.truncate, *queue.seed(depth), "vacuum analyze"))
        latency[DEPTH], latency[SHALLOW] = asyncio.run(_alternating_medians(dsn, shallow_dsn, queue.claim))
        plan = asyncio.run(_plan(dsn, queue.inner))
        asyncio.run(_execute(dsn, queue.truncate))
        ratio = latency[DEPTH] / latency[SHALLOW]
        in_order = any(queue.index in line for line in plan) and not any(
            line.startswith(("Sort", "Incremental Sort", "Seq Scan")) for line in plan
        )
        say(
            f"  {queue.name}: claim at {DEPTH:,} waiting {latency[DEPTH] * 1000:.2f} ms, at {SHALLOW:,} "
            f"{latency[SHALLOW] * 1000:.2f} ms = {ratio:.2f}x; plan: {'; '.join(plan)}"
        )
        figures.append(
            Figure(
                name=f"{queue.name}: claim latency with {DEPTH / 1e6:g}M waiting",
                measured=f"{latency[DEPTH] * 1000:.2f} ms (median of {CLAIMS}, in turn with the baseline's)",
                baseline=f"the same claim with {SHALLOW:,} waiting: {latency[SHALLOW] * 1000:.2f} ms",
                ratio=ratio,
                target=f"≤ {CLAIM_TARGET}x, index order",
                met=at_most(ratio, CLAIM_TARGET) and in_order,
                note=f"{queue.claim}, each in a transaction rolled back (the depth stays). The claim's query at "
                f"depth (EXPLAIN ANALYZE, in this run): {'; '.join(f'`{line}`' for line in plan)}"
                + ("" if in_order else f". NOT in index order: expected {queue.index}, no sort or scan"),
            )
        )
    return figures


def main() -> list[Figure]:
    figures: list[Figure] = []
    folder = Path(tempfile.gettempdir())
    with embedded_database() as dsn:
        say("heartbeat retention")
        figures += bench_retention(dsn, describe(folder))
        say("record_heartbeat")
        figures.append(bench_record_heartbeat(dsn))
        say("check-stale")
        figures += bench_check_stale(dsn)
        say("queues at depth")
        figures += bench_queues(dsn)
    if has_online_discard(folder):
        say("heartbeat retention again, on ext4 without online discard")
        # Both copies, their indexes and the WAL between checkpoints, with room to spare.
        with ext4_without_discard(HEARTBEATS * 500 + 8 * 10**9) as other:
            if other is not None:
                with embedded_database(other) as dsn:
                    figures += bench_retention(dsn, describe(other), size_cycles=False)
    return figures
