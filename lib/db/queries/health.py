"""Reachability: migrations' health concern."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lib.db.port import Database
from lib.db.queries._parse import first, timestamp


@dataclass(frozen=True)
class Health:
    ok: bool
    server_time: datetime


async def health_check(db: Database) -> Health:
    """One round trip that proves the database answers and the migrations are applied."""
    row = first(await db.call("health_check"), "health_check")
    return Health(ok=bool(row["ok"]), server_time=timestamp(row["server_time"], "server_time"))
