"""Noise control and visibility from every side: lib/manage, the console's API, and the CLI (`jobs`, `alerts`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from lib import manage
from lib.cli.main import main
from lib.db import Database
from lib.manage import JobInput
from lib.settings import get_settings
from tests.conftest import AUTH, app_client
from tests.factories import HOOK
from tests.fakes.webhook import local_receiver


async def _controls(sql: asyncpg.Connection, name: str) -> dict[str, Any]:
    row = await sql.fetchrow(
        "select alert_after_failures, extract(epoch from realert_after)::int as realert_after, "
        "extract(epoch from overdue_grace)::int as overdue_grace, alerts_enabled from cron_jobs where name = $1",
        name,
    )
    assert row is not None
    return dict(row)


async def test_a_new_job_takes_its_alert_controls_and_shows_them(db: Database, sql: asyncpg.Connection) -> None:
    job = await manage.create_job(
        db,
        JobInput(name="nightly", target=HOOK, alert_after_failures=3, realert_after="4h", overdue_grace="15m"),
    )
    assert (job.alert_after_failures, job.realert_after, job.overdue_grace, job.alerts_enabled) == (
        3,
        4 * 3600,
        900,
        True,
    )
    assert await _controls(sql, "nightly") == {
        "alert_after_failures": 3,
        "realert_after": 14400,
        "overdue_grace": 900,
        "alerts_enabled": True,
    }
    plain = await manage.create_job(db, JobInput(name="plain", target=HOOK))
    assert (plain.alert_after_failures, plain.realert_after, plain.overdue_grace, plain.alerts_enabled) == (
        1,
        None,
        300,
        True,
    )


async def test_any_job_can_be_muted_or_tuned_even_vercel_jsons(db: Database, sql: asyncpg.Connection) -> None:
    check_stale = await manage.find_job(db, "check-stale")
    muted = await manage.update_job(db, check_stale.id, {"alerts_enabled": False, "overdue_grace": 0})
    assert muted.alerts_enabled is False and muted.overdue_grace == 0
    # Its definition is still vercel.json's.
    refused = await _refused(manage.update_job(db, check_stale.id, {"alerts_enabled": True, "timezone": "UTC"}))
    assert refused.status == 409
    again = await manage.update_job(db, check_stale.id, {"realert_after": None, "alert_after_failures": 2})
    assert (again.realert_after, again.alert_after_failures, again.alerts_enabled) == (None, 2, False)


@pytest.mark.parametrize(
    "changes,field",
    [
        ({"alert_after_failures": 0}, "alert_after_failures"),
        ({"alert_after_failures": True}, "alert_after_failures"),
        ({"alert_after_failures": 5000}, "alert_after_failures"),
        ({"realert_after": "10s"}, "realert_after"),
        ({"realert_after": "soon"}, "realert_after"),
        ({"overdue_grace": "-5m"}, "overdue_grace"),
        ({"overdue_grace": 10**12}, "overdue_grace"),
        ({"alerts_enabled": "yes"}, "alerts_enabled"),
    ],
)
async def test_bad_alert_controls_are_422_naming_the_field(
    db: Database, sql: asyncpg.Connection, changes: dict[str, Any], field: str
) -> None:
    job = await manage.create_job(db, JobInput(name="nightly", target=HOOK))
    error = await _refused(manage.update_job(db, job.id, changes))
    assert (error.status, error.field) == (422, field)
    assert await _controls(sql, "nightly") == {
        "alert_after_failures": 1,
        "realert_after": None,
        "overdue_grace": 300,
        "alerts_enabled": True,
    }


async def _refused(call: Any) -> manage.ManageError:
    with pytest.raises(manage.ManageError) as caught:
        await call
    return caught.value


async def test_the_console_api_creates_and_edits_the_alert_controls(
    client: httpx.AsyncClient, sql: asyncpg.Connection
) -> None:
    created = await client.post(
        "/api/ops/jobs", headers=AUTH, json={"name": "nightly", "target": HOOK, "alert_after_failures": 2}
    )
    assert created.status_code == 201, created.text
    job = created.json()["job"]
    assert job["alert_after_failures"] == 2 and job["overdue_grace"] == 300
    edited = await client.patch(
        f"/api/ops/jobs/{job['id']}", headers=AUTH, json={"realert_after": "1h", "alerts_enabled": False}
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["job"]["realert_after"] == 3600 and edited.json()["job"]["alerts_enabled"] is False
    bad = await client.patch(f"/api/ops/jobs/{job['id']}", headers=AUTH, json={"overdue_grace": "forever"})
    assert bad.status_code == 422 and bad.json()["field"] == "overdue_grace"


async def test_send_test_alert_from_the_console_api_reaches_every_channel(make_settings, sql, http_mock) -> None:
    async with local_receiver() as (url, bodies):
        settings = make_settings(alert_webhook_url=url, allow_http_webhooks=True)
        async with app_client(settings) as http:
            sent = await http.post("/api/ops/alerts/test", headers=AUTH)
            listed = (await http.get("/api/ops/alerts", headers=AUTH)).json()
    assert sent.status_code == 201, sent.text
    alert = sent.json()["alert"]
    assert alert["event"] == "alert.test" and [d["status"] for d in alert["deliveries"]] == ["sent"]
    [body] = bodies
    assert json.loads(body)["alert_id"] == alert["alert_id"] and json.loads(body)["requested_by"] == "ops"
    assert listed["channels"] == ["webhook"] and listed["alerts"][0]["alert_id"] == alert["alert_id"]


async def test_send_test_alert_without_a_channel_says_which_settings(client: httpx.AsyncClient) -> None:
    answer = await client.post("/api/ops/alerts/test", headers=AUTH)
    assert answer.status_code == 409
    assert "ALERT_WEBHOOK_URL" in answer.json()["error"] and "ALERT_SLACK_WEBHOOK_URL" in answer.json()["error"]


# -- the CLI ------------------------------------------------------------------------------------------


@pytest.fixture
def cli_env(pg_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.chdir(tmp_path)
    for name in ("SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "ALLOW_HTTP_WEBHOOKS", "ALERT_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


async def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = await asyncio.to_thread(main, list(args))
    out, err = capsys.readouterr()
    return code, out, err


async def test_jobs_add_and_edit_take_the_alert_options(
    cli_env: pytest.MonkeyPatch, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await _cli(
        capsys, "jobs", "add", "nightly", "--target", HOOK, "--alert-after-failures", "3", "--realert-after", "2h",
        "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["job"]["alert_after_failures"] == 3
    code, out, err = await _cli(capsys, "jobs", "edit", "check-stale", "--alerts", "off", "--overdue-grace", "10m")
    assert code == 0, err
    assert await _controls(sql, "check-stale") == {
        "alert_after_failures": 1,
        "realert_after": None,
        "overdue_grace": 600,
        "alerts_enabled": False,
    }
    code, out, err = await _cli(capsys, "jobs", "edit", "nightly", "--realert-after", "never")
    assert code == 0 and (await _controls(sql, "nightly"))["realert_after"] is None
    code, out, err = await _cli(capsys, "jobs", "show", "nightly")
    assert "alerts     after 3 failures in a row, overdue grace 300s" in out
    code, out, err = await _cli(capsys, "jobs", "edit", "nightly", "--realert-after", "5s")
    assert code == 1 and err.startswith("invalid realert_after:")


async def test_alerts_test_and_list_from_a_shell(
    cli_env: pytest.MonkeyPatch, sql: asyncpg.Connection, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = await _cli(capsys, "alerts", "test")
    assert code == 1 and "no alert channel is configured" in err
    async with local_receiver() as (url, bodies):
        cli_env.setenv("ALERT_WEBHOOK_URL", url)
        cli_env.setenv("ALLOW_HTTP_WEBHOOKS", "true")
        get_settings.cache_clear()
        code, out, err = await _cli(capsys, "alerts", "test")
        assert code == 0, err
        assert out.splitlines()[0].startswith("alert.test ") and "webhook   sent" in out
        assert len(bodies) == 1
        code, out, err = await _cli(capsys, "alerts", "list")
    assert code == 0, err
    assert out.splitlines()[0] == "channels: webhook"
    assert "alert.test" in out and "webhook: sent" in out and url not in out


async def test_a_telegram_channel_without_a_bot_token_is_named_in_the_console_banner(make_settings, sql) -> None:
    settings = make_settings(alert_telegram_chat_id="-100123", webhook_signing_secret="whsec-0123456789abcdef")
    async with app_client(settings) as http:
        status = (await http.get("/api/ops/status", headers=AUTH)).json()
        listed = (await http.get("/api/ops/alerts", headers=AUTH)).json()
    assert (
        "the Telegram alert channel cannot send: ALERT_TELEGRAM_CHAT_ID is set but TELEGRAM_BOT_TOKEN is not"
        in status["problems"]
    )
    assert listed["channels"] == []
