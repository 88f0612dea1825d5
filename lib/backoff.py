"""Retry delays, shared by every job that retries: exponential, capped, jittered."""

from __future__ import annotations

import random

# Defaults for every retry in the service: 30 s, doubling, never past an hour.
BASE_SECONDS = 30.0
CAP_SECONDS = 3600.0


def backoff_seconds(attempt: int, *, base: float = BASE_SECONDS, cap: float = CAP_SECONDS) -> float:
    """Delay before retry number `attempt` (1 = first retry).

    "Equal jitter": half the exponential step is kept, half is random, so
    retries never bunch up and never come back sooner than half the step.
    """
    # The exponent is bounded: an attempts column another app set to 2**31 must
    # not build a 2**31-bit integer (and then overflow a float) on the way to the cap.
    step = min(cap, base * 2.0 ** min(max(0, attempt - 1), 64))
    return float(step / 2 + random.uniform(0, step / 2))
