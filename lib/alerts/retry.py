"""When a delivery that failed is tried again: about 30 s after the first try, about a day after it at the last.

Each step triples from 30 s and stops at 8 hours, through the shared
jittered backoff (lib/backoff.py): with ALERT_MAX_ATTEMPTS at 10 the nine
waits add up to 13-25 hours, so a receiver down for a night still gets the
alert in the morning, and one down for minutes gets it within minutes.
"""

from __future__ import annotations

from lib.backoff import backoff_seconds

FIRST_SECONDS = 30.0
GROWTH = 3.0
CAP_SECONDS = 8 * 3600.0


def retry_delay(attempt: int) -> float:
    """Seconds before the retry that follows failed attempt number `attempt` (1 = the first try)."""
    step = min(CAP_SECONDS, FIRST_SECONDS * GROWTH ** min(max(0, attempt - 1), 32))
    return backoff_seconds(1, base=step, cap=CAP_SECONDS)


def honoured(retry_after: float | None, attempt: int) -> float:
    """The wait after a failure: the service's own `retry_after` when it gave one (capped), else the backoff."""
    if retry_after is not None and retry_after >= 0:
        return min(retry_after, CAP_SECONDS)
    return retry_delay(attempt)
