"""Outside faults: Telegram and webhook receivers that misbehave, each row ending where the README says.

One real local server (tests/fakes/webhook.py) plays Telegram or the
webhook receiver and answers every call the same bad way: 500, 429 with a
small or an absurd retry-after, too late, bad JSON, HTML, a redirect, a
closed connection. A host that does not resolve goes through a resolver stub
(`socket.getaddrinfo` for `*.invalid` fails as it would), never real DNS.
After one run the row is in the state of the README's tables (Reminders:
"What one send comes to"; Run requests: "what happened"), with a clear
error, no lease left on it, and the run's answer a 200 (`partial`) unless
the table says the run fails.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from lib.backoff import CAP_SECONDS
from lib.settings import Settings, load_settings
from tests.conftest import AUTH, SECRET, app_client
from tests.factories import add_job, add_reminder, add_request
from tests.fakes.telegram import TOKEN
from tests.fakes.webhook import WEBHOOK_SECRET, Hit, Reply, local_receiver
from tests.reliability.counts import Counts

NOWHERE = "nowhere.invalid"


def _telegram_error(status: int, description: str, **parameters: Any) -> bytes:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return json.dumps(body).encode()


@dataclass(frozen=True)
class Fault:
    reply: Reply | None  # None: the host does not resolve
    # Reminders: (status, attempts, last_error fragment, due in at least, due in at most) after one run.
    reminder: tuple[str, int, str, float, float]
    # Run requests: (status, attempts, result.error fragment, available in at least, at most).
    request: tuple[str, int, str | None, float, float]
    telegram_reply: Reply | None = None  # when Telegram's form of the fault differs
    sends: int = 1  # calls to the stand-in per row that the README allows in one run
    run_fails: bool = False  # the reminders run as a whole ends `error` (500)


HOUR = float(CAP_SECONDS)
DAY = 86400.0
FAULTS: dict[str, Fault] = {
    "500": Fault(
        Reply(500, b'{"error": "boom"}'),
        ("pending", 1, "HTTP 500", 1, HOUR),
        ("queued", 1, "webhook answered HTTP 500", 1, HOUR),
        telegram_reply=Reply(500, _telegram_error(500, "Internal Server Error")),
    ),
    "429 small retry_after": Fault(
        Reply(429, b"slow down", "text/plain", (("retry-after", "1"),)),
        # Telegram: paused for 1 s and sent again, up to 3 sends, then due again after retry_after.
        ("pending", 1, "HTTP 429", 0, 2),
        # The receiver's Retry-After is a floor under the backoff (30 s, jittered), not a replacement.
        ("queued", 1, "webhook answered HTTP 429", 1, 60),
        telegram_reply=Reply(429, _telegram_error(429, "Too Many Requests: retry after 1", retry_after=1)),
        sends=3,
    ),
    "429 absurd retry_after": Fault(
        Reply(429, b"slow down", "text/plain", (("retry-after", "99999999999999999999"),)),
        ("pending", 1, "HTTP 429", HOUR - 60, HOUR),
        ("queued", 1, "webhook answered HTTP 429", HOUR - 60, HOUR),
        telegram_reply=Reply(429, _telegram_error(429, "Too Many Requests", retry_after=1e13)),
    ),
    "timeout": Fault(
        Reply(delay=8),
        ("pending", 1, "did not answer within", 1, HOUR),
        ("queued", 1, "webhook timed out after", 1, HOUR),
    ),
    "bad JSON": Fault(
        Reply(200, b'{"ok": tru'),
        ("pending", 1, "not a Bot API answer", 1, HOUR),
        # A 2xx is delivered whatever its body says.
        ("done", 1, None, 0, 0),
    ),
    "HTML": Fault(
        Reply(200, b"<html><body>Welcome to nginx!</body></html>", "text/html"),
        ("pending", 1, "not a Bot API answer", 1, HOUR),
        ("done", 1, None, 0, 0),
    ),
    "HTML 502": Fault(
        Reply(502, b"<html><body>Bad Gateway</body></html>", "text/html"),
        ("pending", 1, "HTTP 502", 1, HOUR),
        ("queued", 1, "webhook answered HTTP 502", 1, HOUR),
    ),
    "302": Fault(
        Reply(302, b"", "text/plain", (("location", "https://elsewhere.example.test/"),)),
        # Telegram never redirects: a 3xx is a wrong TELEGRAM_API_BASE, no reminder's fault.
        ("pending", 0, "", -DAY, 0),
        ("queued", 1, "webhook answered HTTP 302", 1, HOUR),
        run_fails=True,
    ),
    "closed connection": Fault(
        Reply(close=True),
        ("pending", 1, "network error", 1, HOUR),
        ("queued", 1, "webhook unreachable", 1, HOUR),
    ),
    "unresolvable host": Fault(
        None,
        ("pending", 1, "network error: ConnectError", 1, HOUR),
        # Resolved once before the call (lib/outbound/policy.py): a name that does not resolve is tried again.
        ("queued", 1, "webhook unreachable: the target's host did not resolve", 1, HOUR),
    ),
    "404 (receiver refuses)": Fault(
        Reply(404, b"no such hook", "text/plain"),
        ("pending", 0, "", -DAY, 0),
        ("error", 1, "webhook answered HTTP 404", 0, 0),
        telegram_reply=Reply(404, _telegram_error(404, "Not Found")),
        run_fails=True,
    ),
}


def settings_for(pg_dsn: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "cron_secret": SECRET,
        "database_url": pg_dsn,
        "_env_file": None,
        "telegram_bot_token": TOKEN,
        "telegram_max_per_second": 1000,
        "webhook_signing_secret": WEBHOOK_SECRET,
        "webhook_timeout_seconds": 1,
        "allow_http_webhooks": True,
        "run_time_budget_seconds": 3,
    }
    return load_settings(**{**values, **overrides})


def _replier(reply: Reply) -> Callable[[Hit, int], Reply]:
    return lambda hit, index: reply


async def _row(sql: asyncpg.Connection, query: str, key: Any) -> asyncpg.Record:
    row = await sql.fetchrow(query, key)
    assert row is not None
    return row


@pytest.mark.parametrize("name", list(FAULTS))
async def test_telegram_fault_leaves_the_reminder_as_the_readme_says(
    name: str, pg_dsn: str, sql: asyncpg.Connection, resolver: list[str], counts: Counts
) -> None:
    fault = FAULTS[name]
    reply = fault.telegram_reply or fault.reply
    hits: list[Hit] = []
    async with local_receiver(hits=hits, reply=_replier(reply or Reply())) as (url, _):
        base = f"https://api.{NOWHERE}" if reply is None else url.removesuffix("/hook")
        budget = 5 if fault.sends > 1 else 3
        settings = settings_for(pg_dsn, telegram_api_base=base, run_time_budget_seconds=budget)
        reminder = await add_reminder(sql, telegram_id=4242, draft_text="call back")
        async with app_client(settings) as http:
            response = counts.answer(
                await http.get("/api/cron/reminders", headers=AUTH), allowed=(500,) if fault.run_fails else ()
            )
    body = response.json()
    if fault.run_fails:
        assert (response.status_code, body["status"]) == (500, "error"), body
        assert "TELEGRAM_API_BASE" in body["error"] and "TELEGRAM_BOT_TOKEN" in body["error"]
        counts.notes.append("the run ends error (500), as the README's table says")
    else:
        assert (response.status_code, body["status"]) == (200, "partial"), body
    row = await _row(
        sql,
        "select status, attempts, last_error, claim_token, locked_until,"
        " extract(epoch from due_at - now())::float8 as due_in from public.scheduled_reminders where id = $1",
        reminder,
    )
    status, attempts, fragment, due_min, due_max = fault.reminder
    assert (row["status"], row["attempts"]) == (status, attempts), dict(row)
    assert fragment in (row["last_error"] or ""), row["last_error"]
    if fragment:
        assert "Traceback" not in row["last_error"] and TOKEN not in row["last_error"]
    assert due_min - 1 <= row["due_in"] <= due_max + 1, row["due_in"]
    if reply is None:
        assert f"api.{NOWHERE}" in resolver
    else:
        assert 1 <= len(hits) <= fault.sends
    counts.handled = 1
    counts.repeated = max(0, len(hits) - fault.sends)
    counts.stuck = int(row["claim_token"] is not None or row["locked_until"] is not None)
    counts.text(row["last_error"] or "")


@pytest.mark.parametrize("name", list(FAULTS))
async def test_webhook_fault_leaves_the_request_as_the_readme_says(
    name: str, pg_dsn: str, sql: asyncpg.Connection, resolver: list[str], counts: Counts
) -> None:
    fault = FAULTS[name]
    hits: list[Hit] = []
    async with local_receiver(hits=hits, reply=_replier(fault.reply or Reply())) as (url, _):
        target = f"https://hooks.{NOWHERE}/run" if fault.reply is None else url
        request = await add_request(sql, await add_job(sql, "faulty-hook", target=target))
        async with app_client(settings_for(pg_dsn)) as http:
            response = counts.answer(await http.get("/api/cron/run-requests", headers=AUTH))
    body = response.json()
    status, attempts, fragment, available_min, available_max = fault.request
    assert (response.status_code, body["status"]) == (200, "ok" if status == "done" else "partial"), body
    row = await _row(
        sql,
        "select status, attempts, result, claim_token, locked_until,"
        " extract(epoch from available_at - now())::float8 as available_in"
        " from public.cron_run_requests where id = $1",
        request,
    )
    result = json.loads(row["result"])
    assert (row["status"], row["attempts"]) == (status, attempts), dict(row)
    if fragment is None:
        assert "error" not in result and result["status_code"] == 200
    else:
        assert fragment in result["error"], result
    if status == "queued":
        assert available_min - 1 <= row["available_in"] <= available_max + 1, row["available_in"]
    if fault.reply is None:
        assert f"hooks.{NOWHERE}" in resolver
    else:
        assert len(hits) == 1
    counts.handled = 1
    counts.repeated = max(0, len(hits) - 1)
    counts.stuck = int(row["claim_token"] is not None or row["locked_until"] is not None or row["status"] == "running")
    counts.text(row["result"])
