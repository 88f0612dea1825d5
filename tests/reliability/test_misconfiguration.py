"""Misconfiguration: a bad setting is named, never echoed, in the answer or the log.

A settings error is served before authorization (503) and logged, and a value
can carry a token (a database password, a Slack hook, a bot token): neither
the answer nor the log may show it. The cases below are the known shapes;
the last test draws more with hypothesis, for every setting that can hold a
secret or a URL, valid-looking ones included (those reach a host that does
not resolve, through the resolver stub: never real DNS).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from hypothesis import strategies as st

from lib.settings import Settings, SettingsError, get_settings, load_settings
from tests.conftest import AUTH, SECRET, app_client
from tests.reliability.counts import Counts, size, watch
from tests.reliability.test_fuzz import draw

FAKE_TOKEN = "xoxb-FAKE-7f3a9c-TOKEN"
watch(FAKE_TOKEN)

BAD_VALUES = [
    ("DATABASE_URL", f"postgresql://app:{FAKE_TOKEN}@db.example.com:5432:5433/app", "/api/cron/check-stale"),
    ("DATABASE_URL", f"{FAKE_TOKEN}@garbage", "/api/cron/check-stale"),
    ("DATABASE_URL", f"postgresql://app:{FAKE_TOKEN}@db.example.com:70000/app", "/api/cron/check-stale"),
    ("DATABASE_URL", f"postgresql://app:pw@db.example.com/app?sslmode={FAKE_TOKEN}", "/api/cron/check-stale"),
    ("DATABASE_URL", f"postgresql://app:{FAKE_TOKEN}@[::1/app", "/api/cron/check-stale"),
    ("SUPABASE_URL", f"htps://{FAKE_TOKEN}.supabase.co", "/api/cron/check-stale"),
    ("ALERT_WEBHOOK_URL", f"hooks.slack.com/services/T000/B000/{FAKE_TOKEN}", "/api/cron/check-stale"),
    ("ALERT_WEBHOOK_URL", f"https://hooks.slack.com:99999/services/{FAKE_TOKEN}", "/api/cron/check-stale"),
    ("ALERT_SLACK_WEBHOOK_URL", f"http://hooks.slack.com/services/T000/B000/{FAKE_TOKEN}", "/api/cron/check-stale"),
    ("ALERT_DISCORD_WEBHOOK_URL", f"https://x:{FAKE_TOKEN}@discord.com/api/webhooks/1/y", "/api/cron/check-stale"),
    ("ALERT_TELEGRAM_CHAT_ID", f"chat {FAKE_TOKEN}", "/api/cron/check-stale"),
    ("TELEGRAM_API_BASE", f"api.telegram.org/bot{FAKE_TOKEN}", "/api/cron/reminders"),
    ("TELEGRAM_BOT_TOKEN", f"https://t.me/{FAKE_TOKEN}", "/api/cron/reminders"),
    ("REMINDER_TIMEZONE", f"{FAKE_TOKEN}/Zone", "/api/cron/reminders"),
    ("REMINDER_ACTIVE_HOURS", f"{FAKE_TOKEN}-22:00", "/api/cron/reminders"),
    ("WEBHOOK_TIMEOUT_SECONDS", FAKE_TOKEN, "/api/cron/run-requests"),
    # Not header-safe: httpx used to fail on it at every call (a 500 from /api/health).
    ("SUPABASE_SERVICE_ROLE_KEY", f"sb_secret_\u00fc{FAKE_TOKEN}", "/api/cron/check-stale"),
]


@pytest.mark.parametrize(
    ("name", "value", "route"), BAD_VALUES, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(BAD_VALUES)]
)
def test_a_bad_setting_is_named_but_never_echoed(
    name, value, route, pg_dsn, monkeypatch, tmp_path, caplog, capsys, counts: Counts
):
    monkeypatch.chdir(tmp_path)  # no developer .env
    for variable in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "TELEGRAM_BOT_TOKEN", "TELEGRAM_API_BASE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CRON_SECRET", SECRET)
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:local-test-token-abcdefghij")
    if name == "SUPABASE_URL":
        monkeypatch.setenv("SUPABASE_SERVICE_ROLE_KEY", "sb_secret_test_service_role_key")
    if name == "SUPABASE_SERVICE_ROLE_KEY":
        monkeypatch.setenv("SUPABASE_URL", "https://project.nowhere.invalid")
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
        counts.answer(response, allowed=(503,))
        counts.handled += 1
        assert response.headers["content-type"].startswith("application/json")
        assert FAKE_TOKEN not in response.text
        if response.status_code == 503:
            assert name in response.json()["error"], response.text
    assert FAKE_TOKEN not in caplog.text
    assert FAKE_TOKEN not in out + err


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


# -- drawn values ---------------------------------------------------------------------------------

PREFIXES = [
    "", " ", "https://", "htps://", "ftp://", "http://[", "bot", "postgresql://app:", "postgresql://",
    "https://hooks.nowhere.invalid/services/", "postgresql://app:pw@db.nowhere.invalid/app?sslmode=",
]  # fmt: skip
SUFFIXES = [
    "", "\n", ":", "/Zone", "-22:00", ".nowhere.invalid", "@db.nowhere.invalid:5432/app",
    "@db.nowhere.invalid:99999/app", "@[::1/app", ":5432:5433/app", "/x?token=1",
]  # fmt: skip
# The setting, and the route that reads it after authorization.
SETTINGS = {
    "database_url": "/api/cron/check-stale",
    "supabase_url": "/api/cron/check-stale",
    "supabase_service_role_key": "/api/cron/check-stale",
    "alert_webhook_url": "/api/cron/check-stale",
    "alert_slack_webhook_url": "/api/cron/check-stale",
    "alert_discord_webhook_url": "/api/cron/check-stale",
    "telegram_api_base": "/api/cron/reminders",
    "telegram_bot_token": "/api/cron/reminders",
    "reminder_timezone": "/api/cron/reminders",
    "reminder_active_hours": "/api/cron/reminders",
    "webhook_timeout_seconds": "/api/cron/run-requests",
    "webhook_signing_secret": "/api/cron/run-requests",
    "cron_secret_next": "/api/cron/check-stale",
}
VALUE = st.one_of(
    st.builds(lambda a, b: a + FAKE_TOKEN + b, st.sampled_from(PREFIXES), st.sampled_from(SUFFIXES)),
    st.builds(lambda a, b: a + FAKE_TOKEN + b, st.text(max_size=12), st.text(max_size=12)),
)
CASE = st.tuples(st.sampled_from(sorted(SETTINGS)), VALUE)


def settings_with(pg_dsn: str, name: str, value: str) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "cron_secret": SECRET,
        "database_url": pg_dsn,
        "telegram_bot_token": "123456:local-test-token-abcdefghij",
        "telegram_api_base": "https://telegram.nowhere.invalid",
        "webhook_signing_secret": "whsec-misconfiguration-0123",
        name: value,
    }
    if name == "supabase_url":
        values["supabase_service_role_key"] = "sb_secret_test_service_role_key"
    if name == "supabase_service_role_key":
        values["supabase_url"] = "https://project.nowhere.invalid"
    return load_settings(**values)


async def test_no_drawn_setting_value_is_ever_echoed(pg_dsn: str, resolver: list[str], counts: Counts) -> None:
    cases = draw(CASE, size(40, 400))
    refused = 0
    for name, value in cases:
        try:
            settings_with(pg_dsn, name, value)
        except SettingsError as error:
            refused += 1
            assert FAKE_TOKEN not in str(error), (name, value)
            assert name.upper() in str(error), (name, str(error))

        def source(name: str = name, value: str = value) -> Settings:
            return settings_with(pg_dsn, name, value)

        async with app_client(source) as http:
            answers = [
                await http.get("/api/health"),
                await http.post(SETTINGS[name], headers=AUTH),
                await http.get("/api/cron/runs", headers=AUTH),
            ]
        for response in answers:
            counts.answer(response, allowed=(503,))
            counts.handled += 1
            assert FAKE_TOKEN not in response.text, (name, value, response.text)
            assert response.status_code < 500 or response.status_code == 503, (name, value, response.text)
    counts.notes.append(f"{len(cases)} values, {refused} refused at load")
