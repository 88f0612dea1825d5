"""The local stand-in for Vercel's cron scheduler.

It fires each vercel.json cron on its schedule (UTC, like Vercel) with the
same request Vercel sends: GET, `user-agent: vercel-cron/1.0`,
`x-vercel-cron-schedule` and the bearer secret.
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime

import httpx

from lib.clock.schedules import next_cron_fire, parse_schedule
from lib.local.say import say
from lib.migrate import VERCEL_JSON

_in_flight: set[asyncio.Task[int]] = set()


def _crons() -> list[tuple[str, str]]:
    return [(c["path"], c["schedule"]) for c in json.loads(VERCEL_JSON.read_text()).get("crons", [])]


async def fire(client: httpx.AsyncClient, base_url: str, secret: str, path: str, schedule: str) -> int:
    headers = {
        "authorization": f"Bearer {secret}",
        "user-agent": "vercel-cron/1.0",
        "x-vercel-cron-schedule": schedule,
    }
    try:
        response = await client.get(base_url + path, headers=headers)
    except httpx.HTTPError as error:
        say(f"cron-runner: {path} failed: {type(error).__name__}", sys.stderr)
        return 0
    say(f"cron-runner: {path} -> {response.status_code}", sys.stderr)
    return response.status_code


async def _loop_one(client: httpx.AsyncClient, base_url: str, secret: str, path: str, schedule: str) -> None:
    # The schedule job's cron arithmetic, in UTC like Vercel.
    cron = parse_schedule("cron", schedule, "UTC")
    while True:
        now = datetime.now(UTC)
        due = next_cron_fire(cron, now)
        await asyncio.sleep((due - now).total_seconds())
        # Like Vercel, a slow run does not delay the next tick.
        task = asyncio.create_task(fire(client, base_url, secret, path, schedule))
        _in_flight.add(task)
        task.add_done_callback(_in_flight.discard)


async def run_crons(base_url: str, secret: str) -> None:
    """Fire every vercel.json cron against `base_url` until cancelled."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(900.0)) as client:
        await asyncio.gather(*(_loop_one(client, base_url, secret, p, s) for p, s in _crons()))
