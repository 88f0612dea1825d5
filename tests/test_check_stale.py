"""check-stale: the right agents go offline, once, and someone is told."""

from __future__ import annotations

import json
import uuid

import httpx

from tests.conftest import AUTH, app_client
from tests.factories import add_agent

ALERT_URL = "https://alerts.example.test/hook"


async def _agents(sql):
    rows = await sql.fetch("select name, status, went_offline_at is not null as gone from agents order by name")
    return {r["name"]: (r["status"], r["gone"]) for r in rows}


async def _arrange(sql):
    day, hour = 86400, 3600
    await add_agent(sql, "fresh", heartbeat_ago=10, created_ago=day)
    await add_agent(sql, "stale", heartbeat_ago=600, created_ago=day)
    await add_agent(sql, "never-old", created_ago=hour)
    await add_agent(sql, "never-new", created_ago=60)
    await add_agent(sql, "already-off", status="offline", heartbeat_ago=day)


async def test_marks_exactly_the_stale_agents_offline(client, sql):
    await _arrange(sql)
    body = (await client.get("/api/cron/check-stale", headers=AUTH)).json()
    assert body["status"] == "ok"
    assert body["stats"]["marked_offline"] == 2
    assert await _agents(sql) == {
        "already-off": ("offline", False),
        "fresh": ("online", False),
        "never-new": ("online", False),
        "never-old": ("offline", True),
        "stale": ("offline", True),
    }
    again = (await client.get("/api/cron/check-stale", headers=AUTH)).json()
    assert again["stats"]["marked_offline"] == 0


async def test_stale_after_setting_is_honoured(make_settings, sql, db):
    await _arrange(sql)
    async with app_client(make_settings(stale_after_seconds=5)) as http:
        body = (await http.get("/api/cron/check-stale", headers=AUTH)).json()
    assert body["stats"]["marked_offline"] == 4  # fresh (10 s) is stale at 5 s too


async def test_heartbeat_brings_an_agent_back_online(client, sql, db):
    agent = uuid.uuid4()
    await add_agent(sql, "a", agent_id=str(agent), heartbeat_ago=3600)
    await client.get("/api/cron/check-stale", headers=AUTH)
    assert await sql.fetchval("select status from agents where id = $1", agent) == "offline"
    rows = await db.call("record_heartbeat", agent_id=str(agent), payload={"cpu": 0.5})
    assert rows[0]["status"] == "online"
    row = await sql.fetchrow("select status, went_offline_at, last_heartbeat_at > now() - interval '5 s' as fresh "
                             "from agents where id = $1", agent)  # fmt: skip
    assert dict(row) == {"status": "online", "went_offline_at": None, "fresh": True}
    payload = await sql.fetchval("select payload from heartbeats where agent_id = $1", agent)
    assert json.loads(payload) == {"cpu": 0.5}


async def test_first_heartbeat_registers_an_unknown_agent(db, sql):
    agent = uuid.uuid4()
    await db.call("record_heartbeat", agent_id=str(agent))
    assert await sql.fetchval("select status from agents where id = $1", agent) == "online"
    assert await sql.fetchval("select count(*) from heartbeats where agent_id = $1", agent) == 1


async def test_alert_webhook_gets_the_list(make_settings, sql, db, http_mock):
    await _arrange(sql)
    hook = http_mock.post(ALERT_URL).mock(return_value=httpx.Response(204))
    async with app_client(make_settings(alert_webhook_url=ALERT_URL)) as http:
        body = (await http.get("/api/cron/check-stale", headers=AUTH)).json()
    assert body["status"] == "ok"
    # agents.offline goes through the delivery queue, delivered before the run answers.
    assert body["stats"]["alerts"] == {"sent": 1, "failed": 0, "pending": 0}
    assert hook.call_count == 1
    event = json.loads(hook.calls.last.request.content)
    assert event["event"] == "agents.offline" and event["alert_id"] == body["stats"]["alert_id"]
    assert sorted(a["name"] for a in event["agents"]) == ["never-old", "stale"]
    assert event["count"] == 2


async def test_no_alert_when_nobody_went_offline(make_settings, sql, db, http_mock):
    hook = http_mock.post(ALERT_URL).mock(return_value=httpx.Response(204))
    async with app_client(make_settings(alert_webhook_url=ALERT_URL)) as http:
        await http.get("/api/cron/check-stale", headers=AUTH)
    assert hook.call_count == 0


async def test_failing_alert_leaves_run_ok_and_reports_it(make_settings, sql, db, http_mock):
    await _arrange(sql)
    http_mock.post(ALERT_URL).mock(return_value=httpx.Response(500))
    async with app_client(make_settings(alert_webhook_url=ALERT_URL)) as http:
        body = (await http.get("/api/cron/check-stale", headers=AUTH)).json()
    assert body["status"] == "ok"
    assert body["stats"]["alerts"]["failed"] == 1 and body["stats"]["alerts"]["pending"] == 1
    assert body["stats"]["alerts"]["errors"] == ["agents.offline for ? via webhook: HTTP 500"]
    assert (await _agents(sql))["stale"] == ("offline", True)
    stats = json.loads(await sql.fetchval("select stats from cron_runs where id = $1", body["run_id"]))
    assert stats["alerts"]["pending"] == 1
    # Not dropped: it waits for its retry.
    assert await sql.fetchval("select status from cron_alert_deliveries") == "pending"


async def test_unreachable_alert_is_reported(make_settings, sql, db, http_mock):
    await _arrange(sql)
    http_mock.post(ALERT_URL).mock(side_effect=httpx.ConnectError("refused"))
    async with app_client(make_settings(alert_webhook_url=ALERT_URL)) as http:
        body = (await http.get("/api/cron/check-stale", headers=AUTH)).json()
    assert body["status"] == "ok"
    assert body["stats"]["alerts"]["errors"] == ["agents.offline for ? via webhook: unreachable: ConnectError"]


async def test_dry_run_changes_nothing(client, sql):
    await _arrange(sql)
    body = (await client.get("/api/cron/check-stale?dry_run=true", headers=AUTH)).json()
    assert body["dry_run"] is True
    assert body["stats"]["would_mark_offline"] == 2
    assert (await _agents(sql))["stale"] == ("online", False)


async def test_limit_bounds_the_run_and_reports_more(client, sql):
    await sql.execute(
        "insert into agents (name, last_heartbeat_at) "
        "select 'agent-' || i, now() - interval '1 hour' from generate_series(1, 5) i"
    )
    body = (await client.get("/api/cron/check-stale?limit=3", headers=AUTH)).json()
    assert body["stats"]["marked_offline"] == 3
    assert body["has_more"] is True
    assert body["status"] == "partial"
    rest = (await client.get("/api/cron/check-stale", headers=AUTH)).json()
    assert rest["stats"]["marked_offline"] == 2
    assert rest["status"] == "ok"


async def _many_stale(sql, count: int) -> None:
    await sql.execute(
        "insert into agents (name, last_heartbeat_at) "
        "select 'agent-' || lpad(i::text, 5, '0'), now() - interval '1 hour' - i * interval '1 second' "
        "from generate_series(1, $1) i",
        count,
    )


async def test_counts_past_the_1000_row_cap_and_alerts_a_capped_list(make_settings, sql, db, http_mock, postgrest):
    # Through the supabase adapter every answer is capped at 1000 rows (db-max-rows).
    await _many_stale(sql, 1500)
    hook = http_mock.post(ALERT_URL).mock(return_value=httpx.Response(204))
    async with app_client(make_settings(alert_webhook_url=ALERT_URL)) as http:
        dry = (await http.get("/api/cron/check-stale?dry_run=1", headers=AUTH)).json()
        body = (await http.get("/api/cron/check-stale", headers=AUTH)).json()
    assert dry["stats"]["would_mark_offline"] == 1500
    assert len(dry["stats"]["agents"]) == 100
    assert body["status"] == "ok"
    assert body["stats"]["marked_offline"] == 1500
    assert await sql.fetchval("select count(*) from agents where status = 'offline'") == 1500
    event = json.loads(hook.calls.last.request.content)
    assert event["count"] == 1500
    assert event["truncated"] is True
    assert len(event["agents"]) == 100
    # Oldest first: the agents that have been silent longest lead the list.
    assert event["agents"][0]["name"] == "agent-01500"
    assert set(event["agents"][0]) == {"id", "name", "last_seen_at", "went_offline_at"}


async def test_alert_is_signed_when_a_signing_secret_is_set(make_settings, sql, db, http_mock):
    from lib.outbound.webhooks import SIGNATURE_HEADER, verify_signature

    await _arrange(sql)
    hook = http_mock.post(ALERT_URL).mock(return_value=httpx.Response(204))
    secret = "alert-signing-secret-0123456789"
    async with app_client(make_settings(alert_webhook_url=ALERT_URL, webhook_signing_secret=secret)) as http:
        await http.get("/api/cron/check-stale", headers=AUTH)
    request = hook.calls.last.request
    assert verify_signature(secret, request.content, request.headers[SIGNATURE_HEADER])
    assert not verify_signature("another-secret-0123456789", request.content, request.headers[SIGNATURE_HEADER])
    assert json.loads(request.content)["event"] == "agents.offline"


async def test_alert_is_unsigned_without_a_signing_secret(make_settings, sql, db, http_mock):
    from lib.outbound.webhooks import SIGNATURE_HEADER

    await _arrange(sql)
    hook = http_mock.post(ALERT_URL).mock(return_value=httpx.Response(204))
    async with app_client(make_settings(alert_webhook_url=ALERT_URL)) as http:
        await http.get("/api/cron/check-stale", headers=AUTH)
    assert SIGNATURE_HEADER.lower() not in {name.lower() for name in hook.calls.last.request.headers}


async def test_marks_in_batches_oldest_first_and_alerts_once(make_settings, sql, db, http_mock, monkeypatch):
    """Each statement marks at most a batch (Supabase's 8 s statement timeout at fleet scale); one run marks
    them all, and the one alert lists the oldest first."""
    from lib.jobs import check_stale

    monkeypatch.setattr(check_stale, "BATCH_SIZE", 2)
    await _many_stale(sql, 5)
    hook = http_mock.post(ALERT_URL).mock(return_value=httpx.Response(204))
    async with app_client(make_settings(alert_webhook_url=ALERT_URL)) as http:
        body = (await http.get("/api/cron/check-stale", headers=AUTH)).json()
    assert body["status"] == "ok" and body["has_more"] is False
    assert body["stats"]["marked_offline"] == 5
    assert await sql.fetchval("select count(*) from agents where status = 'offline'") == 5
    assert hook.call_count == 1
    event = json.loads(hook.calls.last.request.content)
    assert event["count"] == 5
    assert [agent["name"] for agent in event["agents"]] == [f"agent-{i:05}" for i in range(5, 0, -1)]
