"""The one daylight-saving rule both schedules and quiet hours use.

A wall-clock time the clock skips (02:30 on a spring-forward night) happens
at the jump; one the clock repeats happens first in its first pass.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def first_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first instant (UTC) at which the wall clock in `zone` reads naive `wall` or later."""
    # fold=0 is the first occurrence of a repeated (fall-back) wall time.
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if reading(first, zone) == wall:
        return first
    # The wall time does not exist (spring-forward gap). The clock reads past
    # it first at the jump, which lies between zoneinfo's two readings of the
    # gap; offsets change on whole seconds, so a search over seconds finds it.
    low, high = sorted(int(wall.replace(tzinfo=zone, fold=f).timestamp()) for f in (0, 1))
    while high - low > 1:
        middle = (low + high) // 2
        if reading(datetime.fromtimestamp(middle, UTC), zone) >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def reading(moment: datetime, zone: ZoneInfo) -> datetime:
    """What the wall clock in `zone` reads at `moment`, as a naive datetime."""
    return moment.astimezone(zone).replace(tzinfo=None)
