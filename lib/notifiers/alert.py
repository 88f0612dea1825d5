"""The ALERT_WEBHOOK_URL event: one POST per batch of agents that went offline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from lib.deadline import Deadline
from lib.http import http_client

ALERT_TIMEOUT_SECONDS = 5.0


async def send_agents_offline(url: str, agents: list[dict[str, Any]], deadline: Deadline) -> str | None:
    """POST the `agents.offline` event. Returns None on success, else one line saying what failed."""
    body = {
        "event": "agents.offline",
        "sent_at": datetime.now(UTC).isoformat(),
        "count": len(agents),
        "agents": agents,
    }
    timeout = deadline.timeout(ALERT_TIMEOUT_SECONDS)
    if timeout <= 0:
        return "no time left in the run's budget to send the alert"
    client = await http_client()
    try:
        response = await client.post(url, json=body, timeout=timeout)
    except httpx.TimeoutException:
        return f"alert webhook timed out after {timeout:.1f}s"
    except httpx.HTTPError as error:
        return f"alert webhook unreachable: {type(error).__name__}"
    if not response.is_success:
        return f"alert webhook answered HTTP {response.status_code}"
    return None
