"""Heartbeat retention: migrations' heartbeats concern (cleanup-heartbeats)."""

from __future__ import annotations

from lib.db.port import Database
from lib.db.queries._parse import first


async def delete_expired_heartbeats(db: Database, *, retention_days: int, batch_size: int) -> int:
    """Delete at most `batch_size` heartbeats older than the retention, in one short transaction; how many."""
    rows = await db.call("delete_expired_heartbeats", p_retention_days=retention_days, p_batch_size=batch_size)
    return int(first(rows, "delete_expired_heartbeats")["deleted"])


async def count_expired_heartbeats(db: Database, *, retention_days: int, cap: int) -> int:
    """How many heartbeats are past retention, counted up to `cap` (a dry run)."""
    rows = await db.call("count_expired_heartbeats", p_retention_days=retention_days, p_cap=cap)
    return int(first(rows, "count_expired_heartbeats")["expired"])
