"""The database port, counting round trips per function (tests and benchmarks)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lib.db import Database, Row


@dataclass
class CountingDatabase:
    inner: Database
    calls: Counter[str] = field(default_factory=Counter)
    # A plain attribute, as the port declares it, so this is a Database to mypy.
    name: str = field(init=False)

    def __post_init__(self) -> None:
        self.name = self.inner.name

    async def call(self, function: str, /, **args: Any) -> list[Row]:
        self.calls[function] += 1
        return await self.inner.call(function, **args)

    async def close(self) -> None:
        await self.inner.close()
