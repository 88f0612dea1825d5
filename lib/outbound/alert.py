"""ALERT_WEBHOOK_URL events: one signed JSON POST per event.

Signed like job webhooks (`X-Cronrelay-Signature`, lib/outbound/webhooks.py) when
WEBHOOK_SIGNING_SECRET is set, so a receiver can tell our alerts from anyone
else's POST to a URL that is often guessable.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import httpx

from lib.deadline import Deadline
from lib.outbound.http import http_client
from lib.outbound.webhooks import SIGNATURE_HEADER, signature_header

ALERT_TIMEOUT_SECONDS = 5.0


async def send_event(
    url: str, event: str, fields: dict[str, Any], deadline: Deadline, signing_secret: str | None = None
) -> str | None:
    """POST one event. Returns None on success, else one line saying what failed (never the URL)."""
    body = json.dumps({"event": event, "sent_at": datetime.now(UTC).isoformat(), **fields}).encode()
    headers = {"content-type": "application/json"}
    if signing_secret:
        # Sign the exact bytes sent, as a receiver verifies the raw body.
        headers[SIGNATURE_HEADER] = signature_header(signing_secret, body)
    timeout = deadline.timeout(ALERT_TIMEOUT_SECONDS)
    if timeout <= 0:
        return "no time left in the run's budget to send the alert"
    client = await http_client()
    try:
        response = await client.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.TimeoutException:
        return f"alert webhook timed out after {timeout:.1f}s"
    except httpx.HTTPError as error:
        return f"alert webhook unreachable: {type(error).__name__}"
    if not response.is_success:
        return f"alert webhook answered HTTP {response.status_code}"
    return None


async def send_agents_offline(
    url: str, count: int, agents: list[dict[str, Any]], deadline: Deadline, signing_secret: str | None = None
) -> str | None:
    """The `agents.offline` event: the full count, and a capped list of the agents (oldest first)."""
    fields = {"count": count, "agents": agents, "truncated": count > len(agents)}
    return await send_event(url, "agents.offline", fields, deadline, signing_secret)


# job.failed, job.overdue and job.recovered (DESIGN.md, Alerts): the events the
# database queued when an episode opened or closed, sent one POST each.
JOB_EVENTS = ("job.failed", "job.overdue", "job.recovered")


async def send_job_events(
    url: str, events: list[tuple[str, dict[str, Any]]], deadline: Deadline, signing_secret: str | None = None
) -> list[str]:
    """POST each (event, fields) in order; one line per event that could not be sent (never the URL)."""
    problems = []
    for event, fields in events:
        problem = await send_event(url, event, fields, deadline, signing_secret)
        if problem is not None:
            problems.append(f"{event} for {fields.get('job', '?')}: {problem}")
    return problems
