"""docs/alerts.md stays true: its messages are what each stand-in receives, and its examples run as written."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from lib.alerts import discord, slack, telegram, webhook
from lib.alerts.model import Alert
from lib.alerts.send import post_json, verdict
from lib.cli.main import main
from lib.settings import get_settings, load_settings
from tests.fakes.alert_services import channel_settings, mount
from tests.test_readme import _check_sample, _execute, readme_db, readme_examples

__all__ = ["readme_db"]  # the fixture, used below

DOC = Path(__file__).resolve().parent.parent / "docs" / "alerts.md"
ALERT_URL = "https://alerts.example.com/hook"
_RECEIVED = re.compile(r"<!-- received: (\w+) -->\n```json\n(.*?)\n```", re.S)

# The failure the doc shows: a webhook job's request reached its final error.
DOC_ALERT = Alert(
    delivery_id=1,
    claim_token="token",
    channel="webhook",
    attempts=1,
    max_attempts=10,
    alert_id="5b0e1c2a-6f1d-4f3e-9a51-0c8f2e7d4b10",
    event="job.failed",
    job_id="b0ed1f37-562c-4338-9d4e-397bd1c9c459",
    repeat=0,
    payload={
        "job": "crm-sync",
        "job_id": "b0ed1f37-562c-4338-9d4e-397bd1c9c459",
        "project_id": "default",
        "kind": "webhook",
        "source": "request",
        "request_id": "6edac5f8-0e80-4c02-ad61-39ba220b8dc0",
        "requested_by": None,
        "attempts": 1,
        "error": "webhook answered HTTP 404",
        "failing_since": "2026-12-06T07:00:28.371528+00:00",
        "failures": 1,
    },
    created_at="",
)


def _documented() -> dict[str, Any]:
    return {channel: json.loads(body) for channel, body in _RECEIVED.findall(DOC.read_text())}


async def test_each_documented_message_is_what_its_stand_in_receives(http_mock: respx.MockRouter) -> None:
    services = mount(http_mock)
    generic: list[dict[str, Any]] = []

    def receive(request: httpx.Request) -> httpx.Response:
        generic.append(json.loads(request.content))
        return httpx.Response(204)

    http_mock.post(ALERT_URL).mock(side_effect=receive)
    settings = load_settings(_env_file=None, alert_webhook_url=ALERT_URL, **channel_settings())
    for build in (webhook.build, slack.build, discord.build, telegram.build):
        outgoing = build(DOC_ALERT, settings)
        answer = await post_json(outgoing.url, outgoing.body, outgoing.headers, 5)
        assert verdict(answer) == ("sent", None), (build, answer)
    received = {
        "webhook": generic[0],
        "slack": services.slack.received[0],
        "discord": services.discord.received[0],
        "telegram": {k: v for k, v in services.telegram.received[0].items() if k != "_token"},
    }
    documented = _documented()
    assert sorted(documented) == sorted(received)
    # sent_at is the moment of sending; everything else is exactly what arrived.
    documented["webhook"].pop("sent_at")
    received["webhook"].pop("sent_at")
    for channel, body in received.items():
        assert documented[channel] == body, f"docs/alerts.md's {channel} message is not what is sent now:\n{body}"


@pytest.fixture
def alerts_env(readme_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", ALERT_URL)
    get_settings.cache_clear()
    yield readme_db
    get_settings.cache_clear()


def test_every_example_in_the_alerts_doc_runs_as_written(alerts_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    examples = readme_examples(DOC.read_text())
    assert sum(len(e.commands) for e in examples) >= 3 and any(e.kind == "sql" for e in examples)
    arrived: list[dict[str, Any]] = []

    def receive(request: httpx.Request) -> httpx.Response:
        arrived.append(json.loads(request.content))
        return httpx.Response(200, text="ok")

    with respx.mock(assert_all_called=False) as outside:
        outside.route(host="127.0.0.1").pass_through()
        outside.route(method="POST", url=ALERT_URL).mock(side_effect=receive)
        for example in examples:
            where = f"docs/alerts.md line {example.line_number}"
            if example.kind == "sql":
                asyncio.run(_execute(alerts_env, example.sql, where))
                continue
            for command in example.commands:
                capsys.readouterr()
                code = main(command.argv)
                out, err = capsys.readouterr()
                assert code == 0, f"{where}: `{command.line}` exited {code}: {err.strip()}"
                _check_sample(command, out, where)
    assert [event["event"] for event in arrived] == ["alert.test"]
