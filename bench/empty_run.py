"""An empty run through HTTP, next to one bare RPC round trip.

The database is reached through bench/netdelay.py's proxy, 1 ms each way
(a Postgres in the same region; on the local socket a round trip costs
microseconds, and the comparison would only measure the HTTP stack). The app
runs as it is served (uvicorn api.index:app, its own process, the postgres
adapter) and is called over keep-alive HTTP on 127.0.0.1:
`GET /api/cron/run-requests` with nothing queued, one call after another,
after a warm-up. The baseline, in the same run: the one call such a run
cannot do without, `claim_run_requests` (which finds nothing), made bare over
one asyncpg connection from the benchmark's process (its statement prepared
and cached: one round trip). Medians of CALLS. The empty run itself is one
call (begin_run_if_due), where it was three.

Beside it, to say where the time goes: the same run in-process, without
HTTP (run_job, as the route calls it), with its database round trips counted;
and one call through the adapter (psycopg, one round trip) beside a bare
psycopg connection, asyncpg without prepared statements (the adapter before
it, two round trips) and asyncpg with them.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import httpx
import psycopg

from bench.harness import Figure, at_most, embedded_database, say
from bench.netdelay import delayed_dsn
from lib.db import database_for
from lib.db.postgres import PostgresDatabase
from lib.db.statuses import Trigger
from lib.jobs.registry import JOBS
from lib.runner import run_job
from lib.settings import Settings, load_settings
from tests.fakes.counting import CountingDatabase
from tests.reliability.app_process import app_env, app_process

CALLS = 200
WARM_UP = 20
# The database's network, each way: a Postgres in the same cloud region.
ONE_WAY_SECONDS = 0.001
TARGET = 3.0
SECRET = "bench-empty-run-secret-0123456789"
PATH = "/api/cron/run-requests"
CLAIM = "select * from public.claim_run_requests(p_batch_size => 20, p_lease_seconds => 120)"
HEADERS = {"authorization": f"Bearer {SECRET}", "user-agent": "vercel-cron/1.0"}


async def _http(url: str) -> list[float]:
    samples = []
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        for index in range(WARM_UP + CALLS):
            start = time.perf_counter()
            response = await client.get(PATH, headers=HEADERS)
            elapsed = time.perf_counter() - start
            body = response.json()
            if response.status_code != 200 or body["stats"]["claimed"] != 0:
                raise RuntimeError(f"not an empty run: {response.status_code} {body}")
            if index >= WARM_UP:
                samples.append(elapsed)
    return samples


async def _bare(dsn: str) -> list[float]:
    samples = []
    connection = await asyncpg.connect(dsn)
    try:
        for index in range(WARM_UP + CALLS):
            start = time.perf_counter()
            rows = await connection.fetch(
                "select * from public.claim_run_requests(p_batch_size => 20, p_lease_seconds => 120)"
            )
            elapsed = time.perf_counter() - start
            assert rows == []
            if index >= WARM_UP:
                samples.append(elapsed)
    finally:
        await connection.close()
    return samples


async def _in_process(dsn: str) -> tuple[list[float], Counter[str]]:
    """The same run without HTTP (run_job, as the route calls it), its round trips counted."""
    settings: Settings = load_settings(_env_file=None, cron_secret=SECRET, database_url=dsn)
    counting = CountingDatabase(database_for(settings))
    samples = []
    try:
        for index in range(WARM_UP + CALLS):
            if index == WARM_UP:
                counting.calls.clear()
            start = time.perf_counter()
            report = await run_job(
                JOBS["run-requests"], db=counting, settings=settings, trigger=Trigger.VERCEL_CRON, jobs=JOBS
            )
            elapsed = time.perf_counter() - start
            assert report.stats["claimed"] == 0, report.stats
            if index >= WARM_UP:
                samples.append(elapsed)
    finally:
        await counting.close()
    return samples, counting.calls


async def _per_call(dsn: str) -> dict[str, float]:
    """What one call costs through the adapter, beside the clients it is measured against."""

    async def median_of(action: Callable[[], Awaitable[object]]) -> float:
        for _ in range(5):
            await action()
        samples = []
        for _ in range(50):
            start = time.perf_counter()
            await action()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    statement = "select coalesce(json_agg(r), '[]'::json)::text from public.health_check() r"
    found = {}
    adapter = PostgresDatabase(dsn)
    found["the adapter (psycopg, unnamed statement)"] = await median_of(lambda: adapter.call("health_check"))
    await adapter.close()
    raw = await psycopg.AsyncConnection.connect(dsn, autocommit=True, prepare_threshold=None)
    found["one bare psycopg connection, the same statement"] = await median_of(lambda: raw.execute(statement))
    await raw.close()
    for label, cache in (
        ("asyncpg without prepared statements (the adapter before)", 0),
        ("asyncpg with prepared statements cached", 100),
    ):
        connection = await asyncpg.connect(dsn, statement_cache_size=cache)

        async def fetch(connection: asyncpg.Connection = connection) -> object:
            return await connection.fetchval(statement)

        found[label] = await median_of(fetch)
        await connection.close()
    return found


def main() -> list[Figure]:
    with (
        embedded_database() as socket_dsn,
        delayed_dsn(socket_dsn, ONE_WAY_SECONDS) as dsn,
        tempfile.TemporaryDirectory(prefix="cronrelay-empty-run-") as folder,
    ):

        async def served() -> list[float]:
            env = app_env(database_url=dsn, cron_secret=SECRET)
            async with app_process(env, Path(folder)):
                pass
            async with app_process(env, Path(folder)) as app:
                return await _http(app.url)

        http = statistics.median(asyncio.run(served()))
        bare = statistics.median(asyncio.run(_bare(dsn)))
        local_samples, calls = asyncio.run(_in_process(dsn))
        local = statistics.median(local_samples)
        per_call = asyncio.run(_per_call(dsn))
    per_run = {name: count / CALLS for name, count in sorted(calls.items())}
    trips = sum(per_run.values())
    ratio = http / bare
    say(f"empty run (GET {PATH}, nothing queued), median of {CALLS}:")
    say(f"  one bare RPC (claim_run_requests over asyncpg)   {bare * 1000:6.2f} ms (baseline)")
    say(f"  through HTTP (uvicorn, keep-alive)                {http * 1000:6.2f} ms = {ratio:.2f}x")
    say(f"  the run alone, in-process (run_job, no HTTP)      {local * 1000:6.2f} ms = {local / bare:.2f}x")
    say(f"  database round trips per run: {trips:.1f} ({', '.join(f'{k} {v:g}' for k, v in per_run.items())})")
    for label, seconds in per_call.items():
        say(f"  one call, {label}: {seconds * 1000:.2f} ms = {seconds / bare:.1f} round trips")
    costs = "; ".join(f"{label} {seconds * 1000:.2f} ms" for label, seconds in per_call.items())
    note = (
        f"a run makes {trips:.0f} call(s) ({', '.join(per_run)}), and each call through the postgres adapter "
        f"costs about {next(iter(per_call.values())) / bare:.1f} network round trips: psycopg sends the unnamed "
        "statement (nothing prepared, as Supabase's transaction pooler needs) as Parse, Bind, Describe, Execute "
        "and Sync in one flight, and the adapter's connection list sends nothing on checkout or return "
        "(tests/test_postgres_adapter.py counts one client flight per call). asyncpg without prepared "
        "statements, the adapter before, waited for Parse/Describe before Bind/Execute: two. An empty run is one "
        "call (begin_run_if_due: the lease, the check that nothing is due and the ledger row, committed without "
        "waiting for the WAL flush). "
        f"One call, measured in this run: {costs}. "
        f"The run alone (run_job in-process, no HTTP) takes {local * 1000:.2f} ms = {local / bare:.2f}x; "
        f"HTTP adds {(http - local) * 1000:.2f} ms."
    )
    return [
        Figure(
            name=f"empty run (nothing due) through HTTP, database {ONE_WAY_SECONDS * 1000:g} ms away each way",
            measured=f"{http * 1000:.2f} ms (GET {PATH}, uvicorn, keep-alive)",
            baseline=f"one bare RPC round trip (claim_run_requests, asyncpg): {bare * 1000:.2f} ms",
            ratio=ratio,
            target=f"≤ {TARGET:g}x",
            met=at_most(ratio, TARGET),
            note=note,
        )
    ]
