"""What one call of the console's jobs panel costs, next to the bare SQL of the same rows.

1,000 webhook jobs (every schedule type, most with a last run) and 100,000
ledger rows are seeded in a fresh embedded Postgres. Then, in the same run:

- the panel: `GET /api/ops/jobs?limit=N` through the real app (ASGI, bearer
  auth, the postgres adapter, lib.manage, JSON out), counting database round
  trips through tests/fakes/counting.py;
- the baseline: the bare `select` of the same page of cron_jobs rows, over one
  asyncpg connection, nothing else.

Both are timed best-of-REPEATS after a warm-up, for the page the console asks
for (50) and the largest page (200). The ratio is the figure: the API's work
beyond the rows themselves (the schedule in words, next runs, the projects
list, has_more, JSON), aim ≤ 3x with exactly 1 round trip.

Run: `python3 dev.py bench console`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx

import lib.ops.api._common as api_common
from bench.harness import Figure, at_most, best_of, embedded_database
from bench.netdelay import delayed_dsn
from lib import manage
from lib.app import create_app
from lib.db import database_for
from lib.settings import Settings, load_settings
from tests.fakes.counting import CountingDatabase

JOBS = 1_000
LEDGER_ROWS = 100_000
PAGES = (50, 200)
REPEATS = 30
SECRET = "bench-console-secret-0123456789"
# A database in the same region as the function (as bench/empty_run.py assumes).
ONE_WAY_SECONDS = 0.001

SEED_JOBS = """
insert into public.cron_jobs
  (name, kind, target, payload, schedule_type, schedule, timezone, enabled,
   next_run_at, last_run_at, last_status, last_duration_ms)
select format('job-%s', lpad(i::text, 4, '0')), 'webhook', format('https://hooks.example.test/%s', i),
       jsonb_build_object('n', i),
       (array['interval', 'cron', 'once', 'manual'])[1 + i % 4],
       (array['every 5m', '0 7 * * *', 'in 20m', null])[1 + i % 4],
       (array['UTC', 'Europe/Berlin', 'America/New_York'])[1 + i % 3],
       i % 10 <> 0,
       case when i % 4 in (0, 1) then now() + make_interval(mins => i % 60) end,
       case when i % 5 <> 0 then now() - make_interval(mins => i) end,
       case when i % 5 = 0 then null when i % 7 = 0 then 'error' else 'ok' end,
       case when i % 5 <> 0 then 20 + i % 500 end
from generate_series(1, $1) as i
"""

SEED_LEDGER = """
insert into public.cron_runs (job, trigger, status, started_at, finished_at, duration_ms, stats)
select format('job-%s', lpad((1 + i % $2)::text, 4, '0')), 'run-request',
       case when i % 13 = 0 then 'error' else 'ok' end,
       now() - make_interval(secs => i * 20), now() - make_interval(secs => i * 20 - 1), 40 + i % 900,
       jsonb_build_object('status_code', 200)
from generate_series(1, $1) as i
"""

# The same page of rows the panel shows, in its order, with one row more to know has_more, and nothing else.
BARE_SELECT = "select * from public.cron_jobs order by project_id, name limit $1"
# The panel's one SQL function on its own, over the same connection (where the database's share ends).
PANEL_FUNCTION = (
    "select * from public.ops_list_jobs(p_project => null, p_q => null, p_filter => 'all',"
    " p_limit => $1, p_offset => 0)"
)


async def _seed(dsn: str) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(SEED_JOBS, JOBS)
        await connection.execute(SEED_LEDGER, LEDGER_ROWS, JOBS)
        await connection.execute("analyze public.cron_jobs; analyze public.cron_runs")
    finally:
        await connection.close()


async def _measure(dsn: str) -> list[dict[str, Any]]:
    settings: Settings = load_settings(_env_file=None, cron_secret=SECRET, database_url=dsn)
    counting = CountingDatabase(database_for(settings))
    # The route asks _common for its database; hand it the counting wrapper.
    setattr(api_common, "database_for", lambda _settings: counting)  # noqa: B010
    transport = httpx.ASGITransport(app=create_app(lambda: settings))
    headers = {"Authorization": f"Bearer {SECRET}"}
    results = []
    connection = await asyncpg.connect(dsn)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for limit in PAGES:
                path = f"/api/ops/jobs?limit={limit}"

                async def panel(path: str = path) -> None:
                    response = await http.get(path, headers=headers)
                    response.raise_for_status()

                async def bare(limit: int = limit) -> None:
                    await connection.fetch(BARE_SELECT, limit + 1)

                async def function(limit: int = limit) -> None:
                    await connection.fetch(PANEL_FUNCTION, limit)

                async def managed(limit: int = limit) -> None:
                    await manage.list_jobs(counting, limit=limit)

                for action in (panel, bare, function, managed):
                    await best_of(3, action)
                counting.calls.clear()
                await panel()
                trips = sum(counting.calls.values())
                body = (await http.get(path, headers=headers)).json()
                api = await best_of(REPEATS, panel)
                sql = await best_of(REPEATS, bare)
                row = {"limit": limit, "rows": len(body["jobs"]), "trips": trips, "api": api, "sql": sql}
                row["function"] = await best_of(REPEATS, function)
                row["manage"] = await best_of(REPEATS, managed)
                results.append(row)
    finally:
        await connection.close()
        await counting.close()
    return results


def _breakdown(row: dict[str, Any]) -> str:
    ms = {name: row[name] * 1000 for name in ("sql", "function", "manage", "api")}
    return (
        f"bare select {ms['sql']:.2f} ms; the panel's SQL function ops_list_jobs alone {ms['function']:.2f} ms "
        f"({row['function'] / row['sql']:.1f}x); + the adapter, models, schedule in words and next runs "
        f"(lib.manage.list_jobs) {ms['manage']:.2f} ms; + HTTP, guard and JSON (the API) {ms['api']:.2f} ms"
    )


def main() -> list[Figure]:
    with embedded_database() as dsn:
        asyncio.run(_seed(dsn))
        results = asyncio.run(_measure(dsn))
        # The same again with the database where a deployment has it, about a
        # millisecond away (bench/netdelay.py), where round trips, not Python,
        # set the price. Both sides go through the same proxy.
        with delayed_dsn(dsn, ONE_WAY_SECONDS) as far:
            for row in asyncio.run(_measure(far)):
                row["away"] = True
                results.append(row)
    print(f"console jobs panel: {JOBS} jobs, {LEDGER_ROWS} ledger rows; best of {REPEATS}")
    for row in results:
        if row.get("away"):
            print(f"  with the database {ONE_WAY_SECONDS * 1000:.0f} ms away each way:")
        print(
            f"  GET /api/ops/jobs?limit={row['limit']}: {row['rows']} jobs, {row['trips']} database round trip(s), "
            f"{row['api'] * 1000:.2f} ms server time; bare SQL select of the same rows {row['sql'] * 1000:.2f} ms "
            f"({row['api'] / row['sql']:.1f}x)"
        )
        print(f"    where it goes: {_breakdown(row)}")
    figures = []
    for row in results:
        page = f"jobs panel, page of {row['limit']} ({JOBS} jobs, {LEDGER_ROWS:,} ledger rows)"
        if row.get("away"):
            page += f", database {ONE_WAY_SECONDS * 1000:.0f} ms away each way"
        figures.append(
            Figure(
                name=f"console {page}: database round trips",
                measured=f"{row['trips']} per call",
                baseline="1 (one SQL function call)",
                ratio=float(row["trips"]),
                target="= 1",
                met=row["trips"] == 1,
            )
        )
        ratio = row["api"] / row["sql"]
        figures.append(
            Figure(
                name=f"console {page}: server time",
                measured=f"{row['api'] * 1000:.2f} ms (GET /api/ops/jobs through the app)",
                baseline=f"{row['sql'] * 1000:.2f} ms (bare SQL select of the same rows)",
                ratio=ratio,
                target="≤ 3x",
                met=at_most(ratio, 3.0),
                note=f"where the time goes: {_breakdown(row)}",
            )
        )
    return figures
