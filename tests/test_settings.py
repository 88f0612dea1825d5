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


# -- a bad value is named, never echoed ---------------------------------------
# A settings error is served before authorization (503) and logged, and a URL
# can carry a token: neither the answer nor the log may show the value.

FAKE_TOKEN = "xoxb-FAKE-7f3a9c-TOKEN"

BAD_VALUES = [
    ("DATABASE_URL", f"postgresql://app:{FAKE_TOKEN}@db.example.com:5432:5433/app", "/api/cron/check-stale"),
    ("DATABASE_URL", f"{FAKE_TOKEN}@garbage", "/api/cron/check-stale"),
    ("DATABASE_URL", f"postgresql://app:{FAKE_TOKEN}@db.example.com:70000/app", "/api/cron/check-stale"),
    ("DATABASE_URL", f"postgresql://app:pw@db.example.com/app?sslmode={FAKE_TOKEN}", "/api/cron/check-stale"),
    ("DATABASE_URL", f"postgresql://app:{FAKE_TOKEN}@[::1/app", "/api/cron/check-stale"),
    ("SUPABASE_URL", f"htps://{FAKE_TOKEN}.supabase.co", "/api/cron/check-stale"),
    ("ALERT_WEBHOOK_URL", f"hooks.slack.com/services/T000/B000/{FAKE_TOKEN}", "/api/cron/check-stale"),
    ("ALERT_WEBHOOK_URL", f"https://hooks.slack.com:99999/services/{FAKE_TOKEN}", "/api/cron/check-stale"),
    ("TELEGRAM_API_BASE", f"api.telegram.org/bot{FAKE_TOKEN}", "/api/cron/reminders"),
    ("TELEGRAM_BOT_TOKEN", f"https://t.me/{FAKE_TOKEN}", "/api/cron/reminders"),
    ("REMINDER_TIMEZONE", f"{FAKE_TOKEN}/Zone", "/api/cron/reminders"),
    ("REMINDER_ACTIVE_HOURS", f"{FAKE_TOKEN}-22:00", "/api/cron/reminders"),
    ("WEBHOOK_TIMEOUT_SECONDS", FAKE_TOKEN, "/api/cron/run-requests"),
]


@pytest.mark.parametrize(
    ("name", "value", "route"), BAD_VALUES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(BAD_VALUES)]
)
def test_a_bad_setting_is_named_but_never_echoed(name, value, route, pg_dsn, monkeypatch, tmp_path, caplog, capsys):
    import asyncio
    import logging

    from lib.settings import get_settings
    from tests.conftest import AUTH, SECRET, app_client

    monkeypatch.chdir(tmp_path)  # no developer .env
    for variable in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CRON_SECRET", SECRET)
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:local-test-token-abcdefghij")
    if name == "SUPABASE_URL":
        monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", "sb_secret_test_service_role_key")
    monkeypatch.setenv(name, value)
    caplog.set_level(logging.DEBUG)
    get_settings.cache_clear()

    async def calls():
        async with app_client(get_settings) as http:
            return [
                await http.get("/api/health"),
                await http.get(route),
                await http.post(route, headers=AUTH),
            ]

    try:
        responses = asyncio.run(calls())
    finally:
        get_settings.cache_clear()

    out, err = capsys.readouterr()
    # A job's own setting (the bot token) is checked after authorization; the rest before.
    expected = [200, 401, 503] if name == "TELEGRAM_BOT_TOKEN" else [503, 503, 503]
    assert [r.status_code for r in responses] == expected, [r.text for r in responses]
    for response in responses:
        assert response.headers["content-type"].startswith("application/json")
        assert FAKE_TOKEN not in response.text
        if response.status_code == 503:
            assert name in response.json()["error"], response.text
    assert FAKE_TOKEN not in caplog.text
    assert FAKE_TOKEN not in out + err


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


def test_redact_cuts_out_configured_secrets_and_urls():
    settings = load_settings(
        _env_file=None,
        database_url=f"postgresql://app:{FAKE_TOKEN}@db.example.com:5432/app",
        alert_webhook_url="https://hooks.slack.com/services/T0/B0/slackslackslack",
    )
    line = f"connect failed: password {FAKE_TOKEN}; posting to https://hooks.slack.com/services/T0/B0/slackslackslack"
    redacted = settings.redact(line)
    assert FAKE_TOKEN not in redacted and "slackslackslack" not in redacted
    assert redacted.startswith("connect failed")
