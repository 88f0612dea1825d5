"""Alert channels under the outbound policy (DESIGN.md, Outbound calls; issue 16).

A webhook, Slack or Discord URL is one someone pasted: its host is resolved
once at call time, and an address the policy refuses (link-local with the
cloud metadata service, private, loopback) ends the delivery `dead` at once,
with no HTTP call, while the run that queued it answers as usual. A name
that does not resolve now is retried. A URL whose host is written as such an
address is refused when the settings load, naming the variable, not the value.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
import pytest
import respx

from lib.outbound import policy
from lib.settings import SettingsError, load_settings
from tests.conftest import AUTH, app_client
from tests.factories import add_job, add_request
from tests.fakes.webhook import WEBHOOK_SECRET, hook_route

TOKEN = "pathTOKEN0123456789"
# One URL per channel, each on a host the resolver stub below points where a test says.
CHANNELS = {
    "webhook": ("alert_webhook_url", f"https://alerts.customer.test/hook/{TOKEN}"),
    "slack": ("alert_slack_webhook_url", f"https://hooks.slack.test/services/T0/B0/{TOKEN}"),
    "discord": ("alert_discord_webhook_url", f"https://discord.test/api/webhooks/1/{TOKEN}"),
}
REFUSED = {"169.254.169.254": "link-local", "10.0.0.5": "private", "::1": "loopback"}


def _host(url: str) -> str:
    return httpx.URL(url).host


def _resolve(monkeypatch: pytest.MonkeyPatch, answers: dict[str, Sequence[str] | OSError]) -> list[str]:
    """Point `answers`' hosts at their addresses (or fail them); every other name resolves as the suite's stub says.

    Answers the hosts the policy asked about, in order.
    """
    asked: list[str] = []
    outside: Callable[[str, int], Awaitable[Sequence[str]]] = policy.RESOLVER[0]

    async def resolve(host: str, port: int) -> Sequence[str]:
        asked.append(host)
        answer = answers.get(host)
        if isinstance(answer, OSError):
            raise answer
        return answer if answer is not None else await outside(host, port)

    monkeypatch.setattr(policy, "RESOLVER", [resolve])
    return asked


def _settings(make_settings: Callable[..., Any], **channels: Any) -> Any:
    return make_settings(webhook_signing_secret=WEBHOOK_SECRET, **channels)


async def _fail_a_request(sql: Any, http_mock: respx.MockRouter, settings: Any) -> httpx.Response:
    """A run request whose target answers 404 fails for good; job.failed is queued and delivered by the same drain."""
    hook_route(http_mock, return_value=httpx.Response(404))
    job_id = await add_job(sql, "crm-sync")
    await add_request(sql, job_id)
    async with app_client(settings) as http:
        return await http.get("/api/cron/run-requests", headers=AUTH)


@pytest.mark.parametrize("address", list(REFUSED))
@pytest.mark.parametrize("channel", list(CHANNELS))
async def test_a_channel_whose_host_resolves_to_a_refused_address_is_dead_at_once_without_a_call(
    channel: str, address: str, make_settings, sql, http_mock, monkeypatch
):
    setting, url = CHANNELS[channel]
    asked = _resolve(monkeypatch, {_host(url): [address]})
    receiver = http_mock.post(url__startswith=f"https://{_host(url)}/").mock(return_value=httpx.Response(200))

    answer = await _fail_a_request(sql, http_mock, _settings(make_settings, **{setting: url}))

    # The run answers as any run does: its own outcome, the alert's fate in stats.alerts.
    assert answer.status_code == 200
    stats = answer.json()["stats"]
    assert stats["error"] == 1
    [error] = stats["alerts"].pop("errors")
    assert stats["alerts"] == {"sent": 0, "failed": 1, "pending": 0, "dead": 1}
    assert _host(url) in asked and receiver.call_count == 0
    row = await sql.fetchrow("select channel, status, attempts, last_error, status_code from cron_alert_deliveries")
    assert (row["channel"], row["status"], row["attempts"], row["status_code"]) == (channel, "dead", 1, None)
    # The error names the address and its class, never the URL's path (a hook's token lives there).
    said = row["last_error"]
    assert f"resolves to {address}, a {REFUSED[address]} address" in said, said
    assert f"a {REFUSED[address]} address" in error and TOKEN not in said and TOKEN not in error


async def test_a_host_that_does_not_resolve_is_retried_not_dead(make_settings, sql, http_mock, monkeypatch):
    setting, url = CHANNELS["webhook"]
    _resolve(monkeypatch, {_host(url): OSError("Name or service not known")})
    receiver = http_mock.post(url__startswith=f"https://{_host(url)}/").mock(return_value=httpx.Response(200))

    answer = await _fail_a_request(sql, http_mock, _settings(make_settings, **{setting: url}))

    assert answer.status_code == 200
    alerts = answer.json()["stats"]["alerts"]
    assert alerts["failed"] == 1 and alerts["pending"] == 1 and "dead" not in alerts
    row = await sql.fetchrow(
        "select status, attempts, last_error, available_at > now() as later from cron_alert_deliveries"
    )
    assert dict(row) == {
        "status": "pending",
        "attempts": 1,
        "last_error": "the target's host did not resolve (OSError)",
        "later": True,
    }
    assert receiver.call_count == 0


async def test_allow_private_targets_lets_a_private_channel_through_but_never_link_local(
    make_settings, sql, http_mock, monkeypatch
):
    _, private = CHANNELS["webhook"]
    _, metadata = CHANNELS["slack"]
    _resolve(monkeypatch, {_host(private): ["10.0.0.5"], _host(metadata): ["169.254.169.254"]})
    to_private = http_mock.post(url__startswith=f"https://{_host(private)}/").mock(return_value=httpx.Response(200))
    to_metadata = http_mock.post(url__startswith=f"https://{_host(metadata)}/").mock(return_value=httpx.Response(200))
    settings = _settings(
        make_settings, alert_webhook_url=private, alert_slack_webhook_url=metadata, allow_private_targets=True
    )

    answer = await _fail_a_request(sql, http_mock, settings)

    assert answer.status_code == 200
    statuses = await sql.fetch("select channel, status from cron_alert_deliveries order by channel")
    assert [tuple(row) for row in statuses] == [("slack", "dead"), ("webhook", "sent")]
    assert to_private.call_count == 1 and to_metadata.call_count == 0


@pytest.mark.parametrize(
    ("host", "refused_as"),
    [
        ("169.254.169.254", "a link-local address"),
        ("10.0.0.5", "a private address"),
        ("[::1]", "a loopback address"),
        ("2130706433", "a loopback address"),  # 127.0.0.1 in the old decimal form
        ("[fd00::1]", "a private address"),
        ("100.64.0.1", "a CGNAT address"),
        ("localhost", "a loopback name"),
    ],
)
@pytest.mark.parametrize("setting", [setting for setting, _ in CHANNELS.values()])
def test_a_literal_refused_address_in_an_alert_url_stops_the_settings_naming_the_variable(
    setting: str, host: str, refused_as: str
):
    url = f"https://{host}/hook/{TOKEN}"
    with pytest.raises(SettingsError) as caught:
        load_settings(_env_file=None, **{setting: url})
    said = str(caught.value)
    assert setting.upper() in said and refused_as in said, said
    assert TOKEN not in said and host.strip("[]") not in said, said


def test_the_allow_settings_open_what_they_name_and_nothing_more():
    private = "https://10.0.0.5/hook"
    assert load_settings(_env_file=None, allow_private_targets=True, alert_webhook_url=private).alert_webhook_url
    with pytest.raises(SettingsError, match=r"ALERT_WEBHOOK_URL .*private address"):
        load_settings(_env_file=None, allow_http_webhooks=True, alert_webhook_url=private)
    loopback = "https://127.0.0.1:8443/hook"
    assert load_settings(_env_file=None, allow_http_webhooks=True, alert_slack_webhook_url=loopback)
    with pytest.raises(SettingsError, match=r"ALERT_SLACK_WEBHOOK_URL .*loopback address"):
        load_settings(_env_file=None, allow_private_targets=True, alert_slack_webhook_url=loopback)
    # Link-local holds the metadata service: no setting allows it.
    with pytest.raises(SettingsError, match=r"ALERT_DISCORD_WEBHOOK_URL .*link-local address"):
        load_settings(
            _env_file=None,
            allow_http_webhooks=True,
            allow_private_targets=True,
            alert_discord_webhook_url="https://169.254.169.254/latest/meta-data",
        )
    # A name is left to call time, where it is resolved and checked on each call.
    assert load_settings(_env_file=None, alert_webhook_url="https://alerts.customer.test/hook").alert_webhook_url
