"""migrate is ordered, recorded and idempotent; settings name the variable they reject."""

from __future__ import annotations

import pytest

from lib.migrate import migrate, migration_files, vercel_crons
from lib.settings import SettingsError, load_settings


async def test_migrations_are_recorded_and_rerun_is_a_no_op(pg_dsn, sql):
    versions = [r["version"] for r in await sql.fetch("select version from schema_migrations order by version")]
    assert versions == [p.stem for p in migration_files()]
    before = await sql.fetchval("select max(applied_at) from schema_migrations")
    assert await migrate(pg_dsn) == []
    assert await sql.fetchval("select max(applied_at) from schema_migrations") == before


async def test_migrate_upserts_one_builtin_job_per_vercel_cron(pg_dsn, sql):
    await migrate(pg_dsn)
    rows = await sql.fetch("select name, kind, target, schedule, schedule_type from cron_jobs order by name")
    expected = sorted(vercel_crons())
    assert [(r["name"], r["schedule"]) for r in rows] == expected
    assert all(r["kind"] == "builtin" and r["target"] == r["name"] and r["schedule_type"] == "vercel" for r in rows)


async def test_every_vercel_cron_has_a_job(sql):
    from lib.jobs import JOBS

    assert {job for job, _ in vercel_crons()} <= set(JOBS)


def test_the_local_cron_runner_can_schedule_every_vercel_cron():
    from datetime import UTC, datetime

    from lib.schedules import next_cron_fire, parse_schedule

    now = datetime(2026, 11, 23, 10, 2, 30, tzinfo=UTC)
    fires = {job: next_cron_fire(parse_schedule("cron", s, "UTC"), now) for job, s in vercel_crons()}
    assert fires["check-stale"] == datetime(2026, 11, 23, 10, 5, tzinfo=UTC)
    assert all(now < fire <= datetime(2026, 11, 24, 10, 2, 30, tzinfo=UTC) for fire in fires.values())


async def test_rows_with_only_identifying_columns_are_valid(sql):
    agent = await sql.fetchrow("insert into agents default values returning status, metadata")
    assert agent["status"] == "online"
    job = await sql.fetchrow(
        "insert into cron_jobs (name) values ('x') returning project_id, payload, enabled, timezone, id"
    )
    assert (job["project_id"], job["payload"], job["enabled"], job["timezone"]) == ("default", "{}", True, "UTC")
    request = await sql.fetchrow(
        "insert into cron_run_requests (job_id) values ($1) "
        "returning status, attempts, max_attempts, available_at is not null as a, payload",
        job["id"],
    )
    assert dict(request) == {"status": "queued", "attempts": 0, "max_attempts": 5, "a": True, "payload": None}
    reminder = await sql.fetchrow(
        "insert into scheduled_reminders (lead_id, telegram_id) values ('l', 1) "
        "returning status, attempts, snooze_count, reminder_count"
    )
    assert dict(reminder) == {"status": "pending", "attempts": 0, "snooze_count": 0, "reminder_count": 0}


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"cleanup_batch_size": "-1"}, "CLEANUP_BATCH_SIZE"),
        ({"run_time_budget_seconds": "abc"}, "RUN_TIME_BUDGET_SECONDS"),
        ({"lease_seconds": "30"}, "LEASE_SECONDS"),
        ({"supabase_url": "not a url"}, "SUPABASE_URL"),
        ({"database_url": "mysql://x"}, "DATABASE_URL"),
        ({"alert_webhook_url": "ftp://x"}, "ALERT_WEBHOOK_URL"),
        ({"reminder_timezone": "Mars/Olympus"}, "REMINDER_TIMEZONE"),
        ({"reminder_active_hours": "8-22"}, "REMINDER_ACTIVE_HOURS"),
        ({"telegram_max_per_second": "0"}, "TELEGRAM_MAX_PER_SECOND"),
        ({"allow_http_webhooks": "perhaps"}, "ALLOW_HTTP_WEBHOOKS"),
    ],
)
def test_bad_setting_names_the_variable(overrides, name):
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **overrides)
    assert name in str(caught.value)


def test_database_url_is_not_echoed_in_errors():
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, database_url="mysql://user:hunter2@host/db")
    assert "hunter2" not in str(caught.value)


def test_blank_values_mean_defaults():
    settings = load_settings(_env_file=None, cleanup_batch_size="  ", cron_secret="\n")
    assert settings.cleanup_batch_size == 10_000
    assert settings.cron_secret is None


def test_environment_is_read(monkeypatch):
    monkeypatch.setenv("STALE_AFTER_SECONDS", "42")
    monkeypatch.setenv("CRON_SECRET", "  from-the-environment-123 \n")
    settings = load_settings(_env_file=None)
    assert settings.stale_after_seconds == 42
    assert settings.cron_secrets() == ["from-the-environment-123"]


def test_bad_setting_is_a_503_naming_it(monkeypatch):
    import asyncio

    from lib.settings import get_settings
    from tests.conftest import AUTH, app_client

    monkeypatch.setenv("RUN_TIME_BUDGET_SECONDS", "-1")
    get_settings.cache_clear()

    async def call():
        async with app_client(get_settings) as http:
            return await http.get("/api/cron/check-stale", headers=AUTH)

    try:
        response = asyncio.run(call())
    finally:
        get_settings.cache_clear()
    assert response.status_code == 503
    assert "RUN_TIME_BUDGET_SECONDS" in response.json()["error"]
