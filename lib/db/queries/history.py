"""Run history retention: migrations' history concern (prune-history)."""

from __future__ import annotations

from dataclasses import dataclass

from lib.db.port import Database
from lib.db.queries._parse import first


@dataclass(frozen=True)
class Pruned:
    runs: int
    requests: int


async def prune_history(db: Database, *, retention_days: int, batch_size: int) -> Pruned:
    """Delete at most `batch_size` old ledger rows and as many old finished requests, in one short transaction."""
    rows = await db.call("prune_history", p_retention_days=retention_days, p_batch_size=batch_size)
    row = first(rows, "prune_history")
    return Pruned(runs=int(row["deleted_runs"]), requests=int(row["deleted_requests"]))


async def count_prunable_history(db: Database, *, retention_days: int, cap: int) -> Pruned:
    """How many ledger rows and finished requests are past retention, each counted up to `cap` (a dry run)."""
    rows = await db.call("count_prunable_history", p_retention_days=retention_days, p_cap=cap)
    row = first(rows, "count_prunable_history")
    return Pruned(runs=int(row["runs"]), requests=int(row["requests"]))
