"""Deliveries for a channel no deployment has end `dead` after a safe horizon, and not before.

A slack delivery stays pending while `ALERT_SLACK_WEBHOOK_URL` is unset in
the process that works the queue: another deployment that has it may send
it. Only once nobody has claimed it for the horizon (48 h) does the
`schedule` tick end it, with an error naming the setting. "Time passes" by
ageing the rows in SQL.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from lib.alerts.abandon import DAILY_TICK_SECONDS, HORIZON_SECONDS, abandon_stranded, horizon_seconds
from lib.alerts.retry import CAP_SECONDS, honoured, retry_delay
from lib.cli.doctor import check_unconfigured_channels
from lib.cli.main import main
from lib.db import database_for
from lib.settings import get_settings
from tests.conftest import AUTH, app_client
from tests.fakes.webhook import local_receiver

MESSAGE = "channel slack is not configured (ALERT_SLACK_WEBHOOK_URL unset) anywhere this queue ran for 48 h"


async def _delivery(sql: asyncpg.Connection, channel: str, *, idle_hours: float) -> int:
    """A routed alert.test with one pending delivery on `channel`, due and untouched for `idle_hours`."""
    event = await sql.fetchval(
        "insert into cron_alert_events (event, payload, fanned_out_at) values ('alert.test', '{}', now()) returning id"
    )
    delivery: int = await sql.fetchval(
        "insert into cron_alert_deliveries (event_id, channel, available_at, updated_at, created_at) "
        "values ($1, $2, now() - make_interval(secs => $3), now() - make_interval(secs => $3), "
        "now() - make_interval(secs => $3)) returning id",
        event,
        channel,
        idle_hours * 3600,
    )
    return delivery


async def _rows(sql: asyncpg.Connection) -> dict[int, tuple[str, str | None]]:
    rows = await sql.fetch("select id, status, last_error from cron_alert_deliveries order by id")
    return {row["id"]: (row["status"], row["last_error"]) for row in rows}


def test_the_horizon_covers_the_longest_wait_a_deployment_with_the_channel_can_leave(make_settings) -> None:
    # Every retry wait, whatever ALERT_MAX_ATTEMPTS (at most 50) and whatever a service asks, is at most 8 h.
    assert max(retry_delay(attempt) for attempt in range(1, 51) for _ in range(20)) <= CAP_SECONDS
    assert honoured(10**8, 3) == CAP_SECONDS
    settings = make_settings()
    worst = CAP_SECONDS + DAILY_TICK_SECONDS + 2 * settings.lease_seconds
    assert horizon_seconds(settings) == HORIZON_SECONDS > worst
    # A lease so long that 48 h would not cover it lengthens the horizon.
    slow = make_settings(lease_seconds=20 * 3600)
    assert horizon_seconds(slow) > CAP_SECONDS + DAILY_TICK_SECONDS + 2 * slow.lease_seconds


async def test_a_tick_ends_only_old_deliveries_of_unconfigured_channels(
    make_settings, sql: asyncpg.Connection, db, capsys: pytest.CaptureFixture[str]
) -> None:
    async with local_receiver() as (url, bodies):
        settings = make_settings(alert_webhook_url=url, allow_http_webhooks=True)
        old_slack = await _delivery(sql, "slack", idle_hours=49)
        young_slack = await _delivery(sql, "slack", idle_hours=47)
        old_discord = await _delivery(sql, "discord", idle_hours=72)
        old_webhook = await _delivery(sql, "webhook", idle_hours=49)
        async with app_client(settings) as http:
            before = (await http.get("/api/health")).json()
            capsys.readouterr()
            tick = (await http.get("/api/cron/schedule", headers=AUTH)).json()
            logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"cron_run"' in line]
            after = (await http.get("/api/health")).json()
    assert (before["alerts_pending"], before["alerts_dead"]) == (4, 0)
    assert tick["stats"]["alerts"]["abandoned"] == 2
    assert tick["stats"]["alerts"]["abandoned_channels"] == ["discord", "slack"]
    # The configured channel's old delivery was sent, not ended.
    assert tick["stats"]["alerts"]["sent"] == 1 and len(bodies) == 1
    [line] = [entry for entry in logged if entry["job"] == "schedule"]
    assert line["stats"]["alerts"]["abandoned"] == 2
    rows = await _rows(sql)
    assert rows[old_slack] == ("dead", MESSAGE)
    assert rows[old_discord] == (
        "dead",
        "channel discord is not configured (ALERT_DISCORD_WEBHOOK_URL unset) anywhere this queue ran for 48 h",
    )
    assert rows[young_slack] == ("pending", None)
    assert rows[old_webhook] == ("sent", None)
    assert (after["alerts_pending"], after["alerts_dead"]) == (1, 2)
    # The ledger row keeps the count too.
    stats = await sql.fetchval("select stats from cron_runs where job = 'schedule' order by id desc limit 1")
    assert json.loads(stats)["alerts"]["abandoned"] == 2


async def test_a_delivery_claimed_recently_is_not_ended_however_old(make_settings, sql: asyncpg.Connection, db) -> None:
    delivery = await _delivery(sql, "slack", idle_hours=100)
    # Another deployment, with slack, tried it an hour ago and waits out its backoff.
    await sql.execute(
        "update cron_alert_deliveries set updated_at = now() - interval '1 hour', attempts = 3,"
        " available_at = now() - interval '50 hours' where id = $1",
        delivery,
    )
    assert await abandon_stranded(db, make_settings()) == {}
    assert (await _rows(sql))[delivery] == ("pending", None)


async def test_two_ticks_at_once_end_each_delivery_once(make_settings, sql: asyncpg.Connection, db) -> None:
    settings = make_settings()
    for _ in range(60):
        await _delivery(sql, "slack", idle_hours=50)
    others = [database_for(settings) for _ in range(3)]
    try:
        ended = await asyncio.gather(*(abandon_stranded(database, settings) for database in [db, *others]))
    finally:
        for database in others:
            await database.close()
    assert sum(counts.get("slack", 0) for counts in ended) == 60
    assert await sql.fetchval("select count(*) from cron_alert_deliveries where status = 'dead'") == 60


async def test_doctor_names_pending_deliveries_for_channels_not_configured_here(
    make_settings, sql: asyncpg.Connection, db
) -> None:
    await _delivery(sql, "slack", idle_hours=2)
    await _delivery(sql, "slack", idle_hours=1)
    await _delivery(sql, "webhook", idle_hours=1)
    lines = await check_unconfigured_channels(db, make_settings(alert_webhook_url="https://hooks.example.test/x"))
    [line] = lines
    assert line.outcome == "FAIL" and line.name == "alert queue slack"
    assert "2 pending slack deliveries" in line.detail and "ALERT_SLACK_WEBHOOK_URL is not set here" in line.detail
    assert "within 48 h they end dead" in line.detail and "set ALERT_SLACK_WEBHOOK_URL" in line.fix
    configured = make_settings(
        alert_webhook_url="https://hooks.example.test/x",
        alert_slack_webhook_url="https://hooks.slack.com/services/T/B/X",
    )
    assert await check_unconfigured_channels(db, configured) == []


@pytest.fixture
def cli_env(pg_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.chdir(tmp_path)
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "ALERT_WEBHOOK_URL", "ALERT_SLACK_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


async def test_alerts_list_says_which_channels_wait_on_a_setting_missing_here(
    cli_env: pytest.MonkeyPatch, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    await _delivery(sql, "telegram", idle_hours=3)
    code: Any = await asyncio.to_thread(main, ["alerts", "list"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[1].startswith("note: 1 pending telegram delivery (oldest "), out
    assert "ALERT_TELEGRAM_CHAT_ID with TELEGRAM_BOT_TOKEN is not set here" in out
