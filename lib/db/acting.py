"""A port that acts for someone: each call is decided first (refused, sent as is, or sent through `ops_act`).

lib/manage/acting.py holds the decisions (roles, which calls are writes and
what the audit calls them); this is only the mechanics, here because only
lib/db calls the port. A write goes through `ops_act`
(lib/db/queries/operators.py), which runs it in one transaction with its
audit rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lib.db.port import Database, Row
from lib.db.queries.operators import ops_act


@dataclass
class ActingDatabase:
    """`decide(function, args)` raises to refuse, answers None to call directly, or the audit's name for a write."""

    inner: Database
    # What the audit records as who did it: `ops:<name>`, `cron-secret`, `cli`.
    who: str
    decide: Callable[[str, dict[str, Any]], str | None]
    # Whoever the decisions are about (lib.manage's Actor), for the callers that need it.
    actor: Any = None
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.inner.name

    async def call(self, function: str, /, **args: Any) -> list[Row]:
        action = self.decide(function, args)
        if action is None:
            return await self.inner.call(function, **args)
        return await ops_act(self.inner, actor=self.who, action=action, function=function, args=args)

    async def close(self) -> None:
        await self.inner.close()
