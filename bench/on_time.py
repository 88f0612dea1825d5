"""On time: a fire runs at its tick, and no schedule can run away.

The app runs as it is served (uvicorn api.index:app, its own process, the
postgres adapter) against the embedded Postgres 1 ms away each way
(bench/netdelay.py), and calls a real local webhook receiver answering in
5 ms (tests/fakes/webhook.py), all on 127.0.0.1.

- Tick -> webhook arrival: 100 webhook jobs due at once, one
  `GET /api/cron/schedule`; each webhook's arrival on the receiver's clock,
  from the call's start. Baseline, in the same run: the drain
  (`GET /api/cron/run-requests`) running 100 queued requests for the same
  receiver, from its call's start, which is what a fire cost before, once the
  next minute's drain came round (the minute itself is left out of it).
- The runaway: 2,000 jobs `every 1s`, five `schedule` calls a second or more
  apart, each running its fires at once; the queue (queued + running) after
  each, against the bound of one scheduled request per job.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from bench.harness import Figure, at_most, embedded_database, say
from bench.netdelay import delayed_dsn
from tests.fakes.webhook import Hit, local_receiver
from tests.reliability.app_process import app_env, app_process

SECRET = "bench-on-time-secret-0123456789"
SIGNING = "whsec-bench-on-time-0123456789"
HEADERS = {"authorization": f"Bearer {SECRET}", "user-agent": "vercel-cron/1.0"}
ONE_WAY_SECONDS = 0.001
RECEIVER_SECONDS = 0.005
DUE = 100
TARGET_P99_SECONDS = 2.0
RUNAWAY_JOBS = 2000
TICKS = 5


def _percentiles(delays: list[float]) -> tuple[float, float]:
    ordered = sorted(delays)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


async def _arrivals(http: httpx.AsyncClient, path: str, hits: list[Hit]) -> list[float]:
    hits.clear()
    started = time.monotonic()
    answer = await http.get(path, headers=HEADERS)
    if answer.status_code != 200:
        raise RuntimeError(f"{path}: {answer.status_code} {answer.text}")
    return [hit.arrived - started for hit in hits]


@dataclass
class Measured:
    fire: list[float] = field(default_factory=list)
    drain: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    # Per tick: (enqueued, executed done, coalesced).
    fired: list[tuple[int, int, int]] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


async def _measure(dsn: str, folder: Path) -> Measured:
    found = Measured()
    sql = await asyncpg.connect(dsn)
    hits: list[Hit] = []
    env = app_env(database_url=dsn, cron_secret=SECRET, webhook_signing_secret=SIGNING, allow_http_webhooks="true")
    try:
        async with (
            local_receiver(delay=RECEIVER_SECONDS, hits=hits) as (url, _),
            app_process(env, folder) as app,
            httpx.AsyncClient(base_url=app.url, timeout=120) as http,
        ):
            # Warm-up: the first call of each route pays for imports and connections.
            await http.get("/api/cron/run-requests", headers=HEADERS)
            await http.get("/api/cron/schedule", headers=HEADERS)

            # Baseline: the drain running 100 queued requests.
            job = await sql.fetchval(
                "insert into cron_jobs (name, kind, target) values ('bench-queued', 'webhook', $1) returning id", url
            )
            await sql.execute("insert into cron_run_requests (job_id) select $1 from generate_series(1, $2)", job, DUE)
            found.drain = await _arrivals(http, "/api/cron/run-requests", hits)

            # A fire runs at once: 100 jobs due, one schedule call.
            await sql.execute(
                "insert into cron_jobs (name, kind, target, schedule_type, schedule, next_run_at)"
                " select 'bench-due-' || n, 'webhook', $1, 'interval', '1d', now() - interval '1 second'"
                " from generate_series(1, $2) n",
                url,
                DUE,
            )
            found.fire = await _arrivals(http, "/api/cron/schedule", hits)
            await sql.execute("delete from cron_jobs where name like 'bench-%'")

            # The runaway: 2,000 jobs every second, five ticks.
            await sql.execute(
                "insert into cron_jobs (name, kind, target, schedule_type, schedule, next_run_at)"
                " select 'bench-every-' || n, 'webhook', $1, 'interval', 'every 1s', now() - interval '1 second'"
                " from generate_series(1, $2) n",
                url,
                RUNAWAY_JOBS,
            )
            sizes, fired, seconds = found.sizes, found.fired, found.seconds
            for _ in range(TICKS):
                started = time.monotonic()
                answer = (await http.get("/api/cron/schedule", headers=HEADERS)).json()
                seconds.append(time.monotonic() - started)
                stats = answer["stats"]
                fired.append((stats["enqueued"], stats.get("executed", {}).get("done", 0), stats["coalesced"]))
                sizes.append(
                    await sql.fetchval("select count(*) from cron_run_requests where status in ('queued', 'running')")
                )
                await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - started)))
    finally:
        await sql.close()
    return found


def main() -> list[Figure]:
    with (
        embedded_database() as socket_dsn,
        delayed_dsn(socket_dsn, ONE_WAY_SECONDS) as dsn,
        tempfile.TemporaryDirectory(prefix="cronrelay-on-time-") as folder,
    ):
        found = asyncio.run(_measure(dsn, Path(folder)))
    fire, drain, sizes, fired, seconds = found.fire, found.drain, found.sizes, found.fired, found.seconds
    fire_p50, fire_p99 = _percentiles(fire)
    drain_p50, drain_p99 = _percentiles(drain)
    say(f"tick -> webhook arrival, {DUE} jobs due at once, receiver {RECEIVER_SECONDS * 1000:g} ms:")
    say(f"  the schedule call runs them:   p50 {fire_p50 * 1000:.0f} ms, p99 {fire_p99 * 1000:.0f} ms")
    say(f"  ({len(fire)} of {DUE} arrived before it returned)")
    say(f"  the drain, called (baseline):  p50 {drain_p50 * 1000:.0f} ms, p99 {drain_p99 * 1000:.0f} ms")
    say(f"runaway, {RUNAWAY_JOBS} jobs `every 1s`, {TICKS} ticks: queue after each {sizes}")
    say(f"  per tick (enqueued, executed done, coalesced): {fired}; seconds: {[round(s, 1) for s in seconds]}")
    most = max(sizes)
    return [
        Figure(
            name=f"tick -> webhook arrival, {DUE} jobs due at once, receiver {RECEIVER_SECONDS * 1000:g} ms (p99)",
            measured=f"p99 {fire_p99 * 1000:.0f} ms, p50 {fire_p50 * 1000:.0f} ms (one GET /api/cron/schedule)",
            baseline=(
                f"the drain running the same {DUE} once called: p99 {drain_p99 * 1000:.0f} ms, "
                f"p50 {drain_p50 * 1000:.0f} ms (before, a fire waited for the next minute's drain too)"
            ),
            ratio=fire_p99 / drain_p99,
            target=f"p99 ≤ {TARGET_P99_SECONDS:g} s",
            met=fire_p99 <= TARGET_P99_SECONDS and len(fire) == DUE,
            note=(
                f"uvicorn app process, postgres adapter, database {ONE_WAY_SECONDS * 1000:g} ms away each way; "
                "arrivals on the receiver's clock from the call's start; the ratio is to the drain doing the "
                "same work (1.0 = a fire costs what the drain costs, without the minute's wait)"
            ),
        ),
        Figure(
            name=f"runaway: queue after {TICKS} ticks of {RUNAWAY_JOBS} `every 1s` jobs",
            measured=f"{sizes[-1]} (after each tick: {', '.join(map(str, sizes))})",
            baseline=f"the bound, one scheduled request per job: {RUNAWAY_JOBS}",
            ratio=most / RUNAWAY_JOBS,
            target="≤ 1.0 (never above the bound)",
            met=at_most(most / RUNAWAY_JOBS, 1.0),
            note=(
                f"each tick's (enqueued, executed done, coalesced): {fired}; each schedule call took "
                f"{', '.join(f'{s:.1f}' for s in seconds)} s, running its fires at once"
            ),
        ),
    ]
