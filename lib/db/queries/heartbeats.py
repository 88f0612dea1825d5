"""Heartbeat retention: migrations' heartbeats concern (cleanup-heartbeats).

Heartbeats are partitioned by day (DESIGN.md Scale): `heartbeat_partitions`
makes partitions ahead and drops those wholly past retention, and the batched
delete takes what is left past the cutoff.
"""

from __future__ import annotations

from dataclasses import dataclass

from lib.db.port import Database
from lib.db.queries._parse import first


@dataclass(frozen=True)
class PartitionUpkeep:
    """What one call of the partition upkeep did."""

    created: int
    dropped: int
    # From the planner's statistics: counting the rows would read what the drop saves reading.
    dropped_rows_estimate: int
    # The table was locked by a long query past lock_timeout: nothing changed, the next run tries again.
    busy: bool
    # Partitions still wholly past retention after this call's drop (None when busy: not looked at).
    left_to_drop: int | None


async def maintain_heartbeat_partitions(
    db: Database, *, retention_days: int, days_ahead: int, drop_megabytes: int | None = None
) -> PartitionUpkeep:
    """Drop daily partitions wholly past retention, oldest first and at most `drop_megabytes` of them (the
    function's default, 1 GB, when None), and make those up to `days_ahead` days ahead."""
    bound = {} if drop_megabytes is None else {"p_drop_megabytes": drop_megabytes}
    rows = await db.call("heartbeat_partitions", p_retention_days=retention_days, p_days_ahead=days_ahead, **bound)
    row = first(rows, "heartbeat_partitions")
    left = row["left_to_drop"]
    return PartitionUpkeep(
        created=int(row["created"]),
        dropped=int(row["dropped"]),
        dropped_rows_estimate=int(row["dropped_rows_estimate"]),
        busy=bool(row["busy"]),
        left_to_drop=None if left is None else int(left),
    )


async def delete_expired_heartbeats(db: Database, *, retention_days: int, batch_size: int) -> int:
    """Delete at most `batch_size` heartbeats older than the retention, in one short transaction; how many."""
    rows = await db.call("delete_expired_heartbeats", p_retention_days=retention_days, p_batch_size=batch_size)
    return int(first(rows, "delete_expired_heartbeats")["deleted"])


async def count_expired_heartbeats(db: Database, *, retention_days: int, cap: int) -> int:
    """How many heartbeats are past retention, counted up to `cap` (a dry run)."""
    rows = await db.call("count_expired_heartbeats", p_retention_days=retention_days, p_cap=cap)
    return int(first(rows, "count_expired_heartbeats")["expired"])
