"""Settling outcomes as they complete, in groups, alongside the work.

A sweep claims a batch, works through it item by item, and must write each
item's outcome back. Writing the whole batch at its end means a crash repeats
the whole batch after the lease; writing each outcome on its own costs a
round trip per item. `Settler` sits between: outcomes are queued as they
complete and written in groups, one call per group, by a background task, so
sending never waits for the database. A group goes out once its oldest outcome
is `every` seconds old, or once it is `max_group` long, whichever is first; so
a crash leaves unsettled only the work in flight and what finished in the last
`every` seconds (plus one round trip), never a whole batch.

Every group is written by the same task, one after the other, so settles of
one run never contend with each other, and `close()` writes whatever is left
before the run ends, on error paths too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

log = logging.getLogger("cronrelay.settling")

T = TypeVar("T")

# DESIGN.md's window is 0.5 s from an outcome to its settle; the group leaves
# earlier so the round trip, and a busy event loop, fit inside that. (At 0.3 s
# a loaded machine let one outcome of 50 miss the window: a group write still
# in progress delays the next group by its own duration.)
EVERY_SECONDS = 0.2
# Settle functions return the rows they changed, and PostgREST returns at most
# 1000 rows per call: a group stays well below that, and well inside the 8 s
# statement timeout.
MAX_GROUP = 500


class Settler(Generic[T]):
    """Queue outcomes with `add`; they are written by `write(group)` in the background."""

    def __init__(
        self,
        write: Callable[[list[T]], Awaitable[None]],
        *,
        every: float = EVERY_SECONDS,
        max_group: int = MAX_GROUP,
    ) -> None:
        if every <= 0 or max_group < 1:
            raise ValueError("a settler needs a positive interval and group size")
        self._write = write
        self.every = every
        self.max_group = max_group
        self.groups = 0
        self.errors: list[Exception] = []
        # (when it was added, outcome), oldest first
        self._pending: list[tuple[float, T]] = []
        self._closing = False
        self._nudge = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def unsettled(self) -> int:
        return len(self._pending)

    def add(self, outcome: T) -> None:
        """Queue one outcome (from synchronous code too: it never waits)."""
        if self._closing:
            raise RuntimeError("outcome added after the settler was closed")
        if not self._pending:
            self._nudge.set()
        self._pending.append((time.monotonic(), outcome))
        if len(self._pending) >= self.max_group:
            self._nudge.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> list[Exception]:
        """Write everything queued and stop; the errors of groups that could not be written."""
        self._closing = True
        self._nudge.set()
        if self._task is not None:
            # Shielded: a run being cancelled must still write what it has done.
            await asyncio.shield(self._task)
        return self.errors

    async def _run(self) -> None:
        while True:
            if not self._pending:
                if self._closing:
                    return
                self._nudge.clear()
                await self._nudge.wait()
                continue
            wait = self._pending[0][0] + self.every - time.monotonic()
            if wait > 0 and not self._closing and len(self._pending) < self.max_group:
                self._nudge.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._nudge.wait()
                continue
            group = [outcome for _, outcome in self._pending[: self.max_group]]
            del self._pending[: self.max_group]
            self.groups += 1
            try:
                await self._write(group)
            except Exception as error:
                # The group's rows keep their lease and come back when it
                # expires; the other groups are still written.
                log.warning("settling %d outcome(s) failed: %s", len(group), error)
                self.errors.append(error)
