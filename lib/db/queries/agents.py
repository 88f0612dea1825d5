"""Agents going offline: migrations' agents concern (check-stale).

`record_heartbeat` is the agents' own write path and is not wrapped: the
service never calls it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lib.db.port import Database


@dataclass(frozen=True)
class StaleAgents:
    """A count and a capped sample, in one row: Supabase's API cuts a row per agent at 1000.

    Each sample entry is an object (`id`, `name`, `last_seen_at`, and
    `went_offline_at` once marked) passed on verbatim in the alert's JSON.
    """

    count: int
    agents: list[dict[str, Any]] = field(default_factory=list)


def _stale(rows: list[dict[str, Any]], count_column: str) -> StaleAgents:
    row = rows[0] if rows else {}
    return StaleAgents(count=int(row.get(count_column) or 0), agents=list(row.get("agents") or []))


async def mark_stale_agents_offline(
    db: Database, *, stale_after_seconds: int, limit: int | None, sample: int
) -> StaleAgents:
    """Mark `online` agents silent for longer than `stale_after_seconds` offline, in one statement."""
    rows = await db.call(
        "mark_stale_agents_offline", p_stale_after_seconds=stale_after_seconds, p_limit=limit, p_sample=sample
    )
    return _stale(rows, "marked")


async def list_stale_agents(db: Database, *, stale_after_seconds: int, limit: int | None, sample: int) -> StaleAgents:
    """The agents `mark_stale_agents_offline` would mark, untouched (a dry run)."""
    rows = await db.call("list_stale_agents", p_stale_after_seconds=stale_after_seconds, p_limit=limit, p_sample=sample)
    return _stale(rows, "stale")
