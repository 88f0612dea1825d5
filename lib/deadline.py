"""The time budget of one run.

Every run gets `RUN_TIME_BUDGET_SECONDS`. Loops ask `expired()` before claiming
more work; outside calls take `timeout()` so they end before the budget does.
"""

from __future__ import annotations

import time
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
