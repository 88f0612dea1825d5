"""Every channel's message, checked by a stand-in that enforces its service's rules (tests/fakes/alert_services.py)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from lib.alerts import discord, slack, telegram
from lib.alerts.model import Alert
from lib.alerts.send import post_json, verdict
from lib.db.statuses import Trigger
from lib.deadline import Deadline
from lib.jobs.base import Job, JobContext, JobResult
from lib.runner import run_job
from tests.fakes.alert_services import (
    DISCORD_URL,
    SLACK_URL,
    TELEGRAM_CHAT,
    Discord,
    Telegram,
    channel_settings,
    mount,
    telegram_visible_text,
)

# An error text written to break every format: markup, entities, mentions, and length.
HOSTILE = "<script>alert(1)</script> & <@here> @everyone <b>bold</b> &amp; " + "x" * 9000


async def _fail(ctx: JobContext) -> JobResult:
    raise RuntimeError(ctx.payload.get("error", HOSTILE))


FAILING = Job(name="check-stale", run=_fail, summary="fails", max_limit=10)


def _alert(event: str = "job.failed", **payload: Any) -> Alert:
    fields = {"job": "crm-sync", "project_id": "default", "failing_since": "2026-11-24T12:00:28+00:00", **payload}
    return Alert(1, "token", "slack", 1, 10, "8f0c5bde-8a0e-4c4e-9a55-2d1f0f4e0a11", event, "job-id", 0, fields, "")


async def test_a_failure_reaches_slack_discord_and_telegram_within_the_run(make_settings, sql, db, http_mock):
    services = mount(http_mock)
    settings = make_settings(**channel_settings())
    report = await run_job(FAILING, db=db, settings=settings, trigger=Trigger.MANUAL)
    assert report.status == "error"
    # Delivered before the run answered: three channels, three messages, each accepted by its service.
    assert report.stats["alerts"] == {"sent": 3, "failed": 0, "pending": 0}
    [to_slack] = services.slack.received
    [to_discord] = services.discord.received
    [to_telegram] = services.telegram.received
    alert_id = await sql.fetchval("select alert_id::text from cron_alert_events")
    for body in (json.dumps(to_slack), to_discord["content"], to_telegram["text"]):
        assert alert_id in body and "check-stale" in body
    # Nothing in an error text can ping anyone on Discord, or become markup anywhere.
    assert to_discord["allowed_mentions"] == {"parse": []} and len(to_discord["content"]) <= 2000
    assert "<script>" not in to_slack["text"] and "&lt;script&gt;" in to_slack["text"]
    visible, problem = telegram_visible_text(to_telegram["text"])
    assert problem is None and visible is not None and "<script>" in visible
    assert (
        to_telegram["chat_id"] == int(TELEGRAM_CHAT)
        and to_telegram["_token"] == channel_settings()["telegram_bot_token"]
    )
    statuses = await sql.fetch("select channel, status from cron_alert_deliveries order by channel")
    assert [(row["channel"], row["status"]) for row in statuses] == [
        ("discord", "sent"),
        ("slack", "sent"),
        ("telegram", "sent"),
    ]


@pytest.mark.parametrize(
    "event,payload",
    [
        ("job.failed", {"error": HOSTILE}),
        ("job.overdue", {"schedule": "*/5 * * * *", "last_started_at": None}),
        ("job.recovered", {"recovered_from": ["failed"]}),
        ("agents.offline", {"count": 250, "agents": [{"id": f"a{i}", "name": f"<agent {i}>"} for i in range(100)]}),
        ("alert.test", {"requested_by": "ops:<ana>"}),
    ],
)
async def test_every_event_is_a_message_each_service_accepts(event, payload, http_mock):
    services = mount(http_mock)
    alert = _alert(event, **payload)
    for build, url in (
        (lambda a: slack.message(a), SLACK_URL),
        (lambda a: discord.message(a), DISCORD_URL),
    ):
        answer = await post_json(url, json.dumps(build(alert)).encode(), {}, 5)
        assert verdict(answer) == ("sent", None), answer
    body = telegram.message(alert, TELEGRAM_CHAT)
    answer = await post_json(
        f"https://telegram-alerts.test/bot{channel_settings()['telegram_bot_token']}/sendMessage",
        json.dumps(body).encode(),
        {},
        5,
    )
    assert verdict(answer) == ("sent", None), answer
    assert len(services.slack.received) == len(services.discord.received) == 1


async def test_the_stand_ins_refuse_what_the_services_refuse(http_mock):
    # A formatter that broke a rule would meet these answers, and its delivery would be dead.
    mount(http_mock)
    token = channel_settings()["telegram_bot_token"]
    cases = [
        (SLACK_URL, {"blocks": []}, "HTTP 400: no_text"),
        (SLACK_URL, {"text": "x", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}]},
         "HTTP 400: invalid_blocks"),
        (DISCORD_URL, {"username": "cronrelay"}, "HTTP 400: Cannot send an empty message"),
        (DISCORD_URL, {"content": "z" * 2001}, "HTTP 400: Invalid Form Body"),
        (f"https://telegram-alerts.test/bot{token}/sendMessage",
         {"chat_id": 1, "text": "a <b> & c", "parse_mode": "HTML"}, "HTTP 400: Bad Request: can't parse entities"),
        (f"https://telegram-alerts.test/bot{token}/sendMessage", {"chat_id": 1, "text": "é" * 4097},
         "HTTP 400: Bad Request: message is too long"),
    ]  # fmt: skip
    for url, body, said in cases:
        outcome, error = verdict(await post_json(url, json.dumps(body).encode(), {}, 5))
        assert outcome == "dead" and error is not None and error.startswith(said), (body, error)


def test_telegram_cuts_by_utf16_units_after_escaping_is_parsed():
    alert = _alert(error="😀" * 5000 + "&<>")
    text = telegram.message(alert, TELEGRAM_CHAT)["text"]
    visible, problem = telegram_visible_text(text)
    assert problem is None and visible is not None
    assert len(visible.encode("utf-16-le")) // 2 <= 4096


async def test_a_rate_limit_is_honoured_and_the_message_arrives_later(make_settings, sql, db, http_mock):
    services = mount(http_mock)
    services.discord.scripted.append(Discord.rate_limited(42.5))
    services.telegram.scripted.append(Telegram.rate_limited(17))
    settings = make_settings(**channel_settings())
    report = await run_job(FAILING, db=db, settings=settings, trigger=Trigger.MANUAL)
    assert report.stats["alerts"] == {
        "sent": 1,
        "failed": 2,
        "pending": 2,
        "errors": report.stats["alerts"]["errors"],
    }
    waits = {
        row["channel"]: row["wait"]
        for row in await sql.fetch(
            "select channel, extract(epoch from available_at - updated_at)::float as wait, status, last_error "
            "from cron_alert_deliveries where status = 'pending'"
        )
    }
    # Each service's own retry_after, not the backoff: Discord's JSON, Telegram's parameters.
    assert waits["discord"] == pytest.approx(42.5, abs=1) and waits["telegram"] == pytest.approx(17, abs=1)
    # Due again (as if the wait had passed): the next delivery round sends both, once.
    await sql.execute("update cron_alert_deliveries set available_at = now() where status = 'pending'")
    from lib.alerts.deliver import deliver_due

    again = await deliver_due(db, settings, Deadline.after(30))
    assert again is not None and again.sent == 2
    assert len(services.discord.received) == 2 and len(services.telegram.received) == 2
    assert await sql.fetchval("select count(*) from cron_alert_deliveries where status = 'sent'") == 3


async def test_a_hook_that_is_gone_is_dead_at_once_with_its_answer(make_settings, sql, db, http_mock):
    services = mount(http_mock)
    services.slack.scripted.append((410, "channel_is_archived", {}))
    settings = make_settings(alert_slack_webhook_url=SLACK_URL)
    report = await run_job(FAILING, db=db, settings=settings, trigger=Trigger.MANUAL)
    assert report.stats["alerts"]["dead"] == 1 and report.stats["alerts"]["pending"] == 0
    row = await sql.fetchrow("select status, attempts, last_error, status_code from cron_alert_deliveries")
    assert dict(row) == {
        "status": "dead",
        "attempts": 1,
        "last_error": "HTTP 410: channel_is_archived",
        "status_code": 410,
    }
    # The hook's token never reaches a stored error or the run's answer.
    assert "XXXXXXXX" not in json.dumps(report.stats)


async def test_an_outage_is_retried_not_dropped(make_settings, sql, db, http_mock):
    http_mock.post(SLACK_URL).mock(side_effect=httpx.ConnectError("refused"))
    settings = make_settings(alert_slack_webhook_url=SLACK_URL)
    report = await run_job(FAILING, db=db, settings=settings, trigger=Trigger.MANUAL)
    assert report.stats["alerts"]["pending"] == 1
    row = await sql.fetchrow(
        "select status, attempts, last_error, extract(epoch from available_at - now())::float as wait "
        "from cron_alert_deliveries"
    )
    assert row["status"] == "pending" and row["attempts"] == 1 and row["last_error"] == "unreachable: ConnectError"
    assert 10 <= row["wait"] <= 31  # the first retry: about 30 s
