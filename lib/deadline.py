"""The time budget of one run.

Every run gets `RUN_TIME_BUDGET_SECONDS`. Loops ask `expired()` before claiming
more work; outside calls take `timeout()` so they end before the budget does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

# Time kept back at the end of the budget for settling and closing the run.
RESERVE_SECONDS = 1.0


@dataclass(frozen=True)
class Deadline:
    expires_at: float  # time.monotonic() value

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())

    def expired(self, reserve: float = 0.0) -> bool:
        return self.remaining() <= reserve

    def timeout(self, cap: float) -> float:
        """A timeout for one outside call: at most `cap`, and over before the budget is."""
        return max(0.0, min(cap, self.remaining() - RESERVE_SECONDS))


# The deadline of the run this task is working for. The database adapters read
# it so their retries and per-attempt timeouts end before the run's budget
# does. Outside a run (health checks, begin_run, the CLI) it is None and the
# adapters fall back to their own per-call cap. asyncio tasks copy the context
# when they are created, so work a job fans out inherits its run's deadline.
_current: ContextVar[Deadline | None] = ContextVar("cronrelay_run_deadline", default=None)


def current_deadline() -> Deadline | None:
    """The deadline of the run in progress in this context, if any."""
    return _current.get()


@contextmanager
def deadline_scope(deadline: Deadline) -> Iterator[Deadline]:
    """Make `deadline` the current one for the block (nested scopes keep the earlier one)."""
    outer = _current.get()
    effective = deadline if outer is None or deadline.expires_at <= outer.expires_at else outer
    token = _current.set(effective)
    try:
        yield effective
    finally:
        _current.reset(token)
