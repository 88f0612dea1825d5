"""Settings name the variable they reject, and never echo its value."""

from __future__ import annotations

import pytest

from lib.settings import SettingsError, load_settings


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ({"cleanup_batch_size": "-1"}, "CLEANUP_BATCH_SIZE"),
        ({"run_time_budget_seconds": "abc"}, "RUN_TIME_BUDGET_SECONDS"),
        ({"lease_seconds": "30"}, "LEASE_SECONDS"),
        ({"supabase_url": "not a url"}, "SUPABASE_URL"),
        ({"database_url": "mysql://x"}, "DATABASE_URL"),
        ({"alert_webhook_url": "ftp://x"}, "ALERT_WEBHOOK_URL"),
        ({"alert_webhook_url": "http://alerts.example.com/hook"}, "ALERT_WEBHOOK_URL"),
        ({"alert_slack_webhook_url": "https://user:pw@hooks.slack.com/services/T/B/X"}, "ALERT_SLACK_WEBHOOK_URL"),
        ({"alert_discord_webhook_url": "discord.com/api/webhooks/1/x"}, "ALERT_DISCORD_WEBHOOK_URL"),
        ({"alert_discord_webhook_url": "http://localhost:9/hook"}, "ALERT_DISCORD_WEBHOOK_URL"),
        ({"alert_telegram_chat_id": "my chat"}, "ALERT_TELEGRAM_CHAT_ID"),
        ({"alert_max_attempts": "0"}, "ALERT_MAX_ATTEMPTS"),
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


def test_alert_channel_urls_are_https_without_credentials_and_never_echoed():
    secret = "slacktokenXYZ123"
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, alert_slack_webhook_url=f"https://hooks.slack.com:99999/services/{secret}")
    assert "ALERT_SLACK_WEBHOOK_URL" in str(caught.value) and secret not in str(caught.value)
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, alert_discord_webhook_url=f"https://bot:{secret}@discord.com/api/webhooks/1/x")
    assert "credentials" in str(caught.value) and secret not in str(caught.value)
    # Local development: plain http to localhost with ALLOW_HTTP_WEBHOOKS, nothing further.
    local = load_settings(_env_file=None, allow_http_webhooks=True, alert_slack_webhook_url="http://127.0.0.1:9/x")
    assert local.alert_slack_webhook_url == "http://127.0.0.1:9/x"
    with pytest.raises(SettingsError):
        load_settings(_env_file=None, allow_http_webhooks=True, alert_webhook_url="http://10.0.0.5/hook")
    chats = [
        load_settings(_env_file=None, alert_telegram_chat_id=chat).alert_telegram_chat_id
        for chat in ("-100123", "@ops_alerts")
    ]
    assert chats == ["-100123", "@ops_alerts"]


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


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://app:pw@db.example.com:5432,db2.example.com:5433/app",
        "postgresql://app:pw@[::1]:5432/app",
        "postgresql://postgres:@/postgres?host=/tmp/socket",
        "postgres://app:pw@db.example.com/app?sslmode=require",
    ],
)
def test_well_formed_database_urls_are_accepted(dsn):
    assert load_settings(_env_file=None, database_url=dsn).database_url is not None


@pytest.mark.parametrize(
    "dsn",
    [
        # libpq's `options` carries server settings (asyncpg took them as query parameters).
        "postgresql://app:pw@db.example.com/app?options=-c%20role%3Dservice_role",
        # A percent-encoded @ in the password, as libpq decodes it.
        "postgresql://app:p%40ss@db.example.com:6543/postgres",
        "postgresql://app:pw@db.example.com/app?sslmode=verify-full&application_name=cronrelay&connect_timeout=5",
    ],
)
def test_urls_libpq_reads_are_accepted(dsn):
    assert load_settings(_env_file=None, database_url=dsn).database_url is not None


@pytest.mark.parametrize(
    ("dsn", "wording"),
    [
        # Prisma's URL from Supabase's dashboard: libpq refuses the parameter, named as it is no secret.
        ("postgresql://app:hunter2@db.example.com:6543/postgres?pgbouncer=true", "(pgbouncer, from another client's"),
        ("postgresql://app:hunter2@db.example.com/app?connection_limit=1", "(connection_limit, from another client's"),
        # asyncpg took any other name as a server setting; libpq does not, and the name is not echoed.
        ("postgresql://app:hunter2@db.example.com/app?sk_live_tokenXYZ=1", "options=-c%20name%3Dvalue"),
        # libpq ends the credentials at the first @, which would make "ss@db..." the host.
        ("postgresql://app:hunter2@ss@db.example.com/app", "percent-encode it as %40"),
        ("postgresql://app:hunter2%zz@db.example.com/app", "malformed percent-encoding"),
        ("postgresql://app:hunter2@db.example.com/app?sslmode", "malformed query string"),
        ("postgresql://app:hunter2@[::1/app", "malformed host"),
        ("postgresql://app:hunter2@db.example.com:70000/app", "port that is not a number"),
        ("postgresql://app:hunter2@h1,h2,h3/app?port=5432,5433", "different number of ports and hosts"),
        ("postgresql://app:hunter2@db.example.com/app?sslmode=on", "unknown sslmode"),
        ("postgresql://app:hunter2@db.example.com/app?connect_timeout=soon", "connect_timeout"),
        ("postgresql://app:hunter2@/app", "no host"),
    ],
)
def test_urls_libpq_would_refuse_name_the_problem_not_the_value(dsn, wording):
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, database_url=dsn)
    message = str(caught.value)
    assert "DATABASE_URL" in message and wording in message
    assert "hunter2" not in message and "tokenXYZ" not in message and "db.example.com" not in message
