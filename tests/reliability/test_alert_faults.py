"""Alerts under faults: a receiver that is down, failing or hanging, and an app killed mid-delivery.

Counted like every reliability test (tests/reliability/counts.py): alerts
handled, lost (an alert_id that never arrived), repeated beyond the window
(an alert_id that arrived more than once, beyond what was in flight or
finished in the last 0.5 s at a kill), stuck and dead (a delivery given up
on, though the receiver came back).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import pytest

import lib.alerts.deliver
from lib.alerts.deliver import deliver_due
from lib.db import database_for
from lib.deadline import Deadline
from lib.settings import load_settings
from tests.conftest import SECRET
from tests.fakes.crash import BUDGET_SECONDS, LEASE_SECONDS, WEBHOOK_SECRET, Crash
from tests.fakes.webhook import Hit, Reply, local_receiver
from tests.reliability.app_process import app_env
from tests.reliability.counts import Counts, size
from tests.reliability.test_kill import _http_crash, assert_only_the_window_repeated


async def _queue(sql: asyncpg.Connection, total: int) -> None:
    await sql.execute(
        "select public.queue_alert_event('alert.test', jsonb_build_object('n', i)) from generate_series(1, $1) i",
        total,
    )


async def _final_counts(sql: asyncpg.Connection, seen: Counter[str], counts: Counts) -> None:
    rows = await sql.fetch(
        "select e.alert_id::text as alert_id, d.status, d.claim_token from cron_alert_events e "
        "join cron_alert_deliveries d on d.event_id = e.id"
    )
    expected = {row["alert_id"] for row in rows}
    counts.handled = len(expected)
    counts.lost = len(expected - set(seen))
    counts.dead = sum(1 for row in rows if row["status"] == "dead")
    counts.stuck = sum(1 for row in rows if row["status"] != "sent" or row["claim_token"] is not None)


@pytest.mark.parametrize("fault", ["refused", "500", "hang"])
async def test_a_receiver_down_for_a_while_gets_every_alert_once_after(
    pg_dsn: str, sql: asyncpg.Connection, counts: Counts, fault: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A hanging receiver costs each tick one call's whole timeout; a shorter one
    # is the same fault (the receiver still answers 30 s late) in a fifth of the time.
    monkeypatch.setattr(lib.alerts.deliver, "CALL_SECONDS", 1.0)
    total = size(20, 200)
    await _queue(sql, total)
    down = True
    accepted: list[Hit] = []

    def reply(hit: Hit, index: int) -> Reply:
        if not down:
            accepted.append(hit)
            return Reply(200)
        if fault == "refused":
            return Reply(close=True)
        if fault == "hang":
            return Reply(200, delay=30)  # longer than a call may take: a timeout, then a retry
        return Reply(500)

    async with local_receiver(reply=reply) as (url, _):
        settings = load_settings(
            _env_file=None,
            cron_secret=SECRET,
            database_url=pg_dsn,
            alert_webhook_url=url,
            allow_http_webhooks=True,
            webhook_signing_secret=WEBHOOK_SECRET,
        )
        db = database_for(settings)
        try:
            for _ in range(2):  # two ticks during the outage
                await deliver_due(db, settings, Deadline.after(12))
                await sql.execute("update cron_alert_deliveries set available_at = now() where status = 'pending'")
            down = False
            for _ in range(4):
                await deliver_due(db, settings, Deadline.after(12))
                await sql.execute("update cron_alert_deliveries set available_at = now() where status = 'pending'")
        finally:
            await db.close()
    seen = Counter(json.loads(hit.body)["alert_id"] for hit in accepted)
    counts.repeated = sum(n - 1 for n in seen.values() if n > 1)
    await _final_counts(sql, seen, counts)
    counts.notes.append(f"receiver {fault} for two ticks")


async def test_an_app_process_killed_mid_delivery_repeats_only_the_crash_window(
    pg_dsn: str, sql: asyncpg.Connection, tmp_path: Path, counts: Counts
) -> None:
    total = size(60, 120)
    await _queue(sql, total)
    hits: list[Hit] = []

    async def left() -> int:
        return int(
            await sql.fetchval(
                "select count(*) from cron_alert_deliveries where status <> 'sent' or claim_token is not null"
            )
        )

    async with local_receiver(delay=0.3, hits=hits) as (url, _):
        # The first schedule tick routes the events; then every delivery is pending and due.
        env: dict[str, Any] = app_env(
            database_url=pg_dsn,
            cron_secret=SECRET,
            lease_seconds=LEASE_SECONDS,
            run_time_budget_seconds=BUDGET_SECONDS,
            webhook_signing_secret=WEBHOOK_SECRET,
            allow_http_webhooks="true",
            alert_webhook_url=url,
        )
        kill = await _http_crash(
            "schedule",
            env,
            tmp_path,
            sql,
            "cron_alert_deliveries",
            lambda: len(hits) >= 25,
            lambda: [(hit.arrived, hit.answered) for hit in list(hits)],
            left,
            counts,
        )
        seen = Counter(str(json.loads(hit.body)["alert_id"]) for hit in hits)
    rows = await sql.fetch(
        "select e.alert_id::text as alert_id, d.status, d.claim_token from cron_alert_events e "
        "join cron_alert_deliveries d on d.event_id = e.id"
    )
    stuck = sum(1 for r in rows if r["status"] != "sent" or r["claim_token"] is not None)
    counts.dead = sum(1 for r in rows if r["status"] == "dead")
    crash = Crash("schedule", "alerts", kill, seen, frozenset(r["alert_id"] for r in rows), stuck)
    assert_only_the_window_repeated(crash, counts)
