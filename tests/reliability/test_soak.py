"""Soak: overlapping drains and reminder sweeps over real HTTP, on a real app process.

Waves of 8 concurrent `/api/cron/run-requests` calls and 8 concurrent
`/api/cron/reminders` calls go to `uvicorn api.index:app` (a process of its
own, on the suite's Postgres) until nothing is left, while 10% more reminders
and requests arrive during the run. Local stand-ins count every delivery:
Telegram per chat (one chat per reminder), the webhook receiver per request id.
Expected: each exactly once, nothing lost, nothing stuck, no 5xx.

Sizes: 500 of each in the normal gate, 5,000 under `dev.py test --long`.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tests.conftest import AUTH, SECRET
from tests.factories import add_job
from tests.fakes.telegram import TOKEN, FakeTelegram
from tests.fakes.webhook import WEBHOOK_SECRET, Hit, local_receiver
from tests.reliability.app_process import app_env, app_process
from tests.reliability.counts import Counts, size

CONCURRENT = 8
ARRIVALS = 10  # the late 10% arrive in this many inserts, spread over the run


async def add_reminders(sql: asyncpg.Connection, first_chat: int, count: int) -> None:
    await sql.execute(
        "insert into public.scheduled_reminders (lead_id, telegram_id, due_at, draft_text) "
        "select 'soak-' || g, g, now() - interval '1 second', 'soak ' || g from generate_series($1::bigint, $2) g",
        first_chat,
        first_chat + count - 1,
    )


async def add_queued(sql: asyncpg.Connection, job_id: str, count: int) -> None:
    await sql.execute(
        "insert into public.cron_run_requests (job_id) select $1::uuid from generate_series(1, $2)", job_id, count
    )


async def left(sql: asyncpg.Connection) -> tuple[int, int]:
    reminders = await sql.fetchval(
        "select count(*) from public.scheduled_reminders where status = 'pending' or claim_token is not null"
    )
    requests = await sql.fetchval(
        "select count(*) from public.cron_run_requests where status <> 'done' or claim_token is not null"
    )
    return int(reminders), int(requests)


async def test_overlapping_drains_and_sweeps_deliver_everything_exactly_once(
    pg_dsn: str, sql: asyncpg.Connection, tmp_path: Path, counts: Counts
) -> None:
    total = size(500, 5000)
    late = total // 10
    hits: list[Hit] = []
    with FakeTelegram() as telegram:
        async with local_receiver(hits=hits) as (url, _):
            job_id = await add_job(sql, "soak-hook", target=url)
            await add_reminders(sql, 1, total)
            await add_queued(sql, job_id, total)
            env = app_env(
                database_url=pg_dsn,
                cron_secret=SECRET,
                telegram_bot_token=TOKEN,
                telegram_api_base=telegram.url,
                telegram_max_per_second=10_000,
                webhook_signing_secret=WEBHOOK_SECRET,
                allow_http_webhooks="true",
                run_time_budget_seconds=8,
                lease_seconds=60,
            )
            async with app_process(env, tmp_path) as app, httpx.AsyncClient(base_url=app.url, timeout=60) as http:
                statuses: Counter[str] = Counter()

                async def run(path: str) -> None:
                    headers = {**AUTH, "user-agent": "vercel-cron/1.0"}
                    response = counts.answer(await http.get(path, headers=headers))
                    assert response.status_code == 200, response.text
                    body: dict[str, Any] = response.json()
                    statuses[f"{path.rsplit('/', 1)[1]}:{body['status']}"] += 1

                async def arrive() -> None:
                    # The late 10%, while the waves run.
                    step = late // ARRIVALS
                    for wave in range(ARRIVALS):
                        count = step if wave < ARRIVALS - 1 else late - step * (ARRIVALS - 1)
                        await add_reminders(sql_feed, total + 1 + wave * step, count)
                        await add_queued(sql_feed, job_id, count)
                        await asyncio.sleep(0.2)

                sql_feed = await asyncpg.connect(pg_dsn)
                try:
                    feeder = asyncio.create_task(arrive())
                    for _ in range(200):
                        calls = [run("/api/cron/run-requests") for _ in range(CONCURRENT)]
                        calls += [run("/api/cron/reminders") for _ in range(CONCURRENT)]
                        await asyncio.gather(*calls)
                        if feeder.done() and await left(sql) == (0, 0):
                            break
                    await feeder
                finally:
                    await sql_feed.close()
            counts.text(app.output())
            counts.notes.append(" ".join(f"{name}={n}" for name, n in sorted(statuses.items())))

        chats = Counter(call.chat_id for call in telegram.snapshot())
        request_ids = Counter(json.loads(hit.body)["request_id"] for hit in hits)

    reminders = {row["telegram_id"]: row["status"] for row in await sql.fetch("select * from scheduled_reminders")}
    requests = {str(row["id"]): row["status"] for row in await sql.fetch("select * from cron_run_requests")}
    assert len(reminders) == len(requests) == total + late
    counts.handled = len(chats) + len(request_ids)
    counts.lost = len(set(reminders) - set(chats)) + len(set(requests) - set(request_ids))
    counts.repeated = sum(n - 1 for n in chats.values()) + sum(n - 1 for n in request_ids.values())
    counts.stuck = sum(status != "sent" for status in reminders.values())
    counts.stuck += sum(status != "done" for status in requests.values())
    counts.stuck += sum(await left(sql))
    assert counts.handled == 2 * (total + late)
