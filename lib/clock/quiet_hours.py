"""Quiet hours: deliver only inside REMINDER_ACTIVE_HOURS, in REMINDER_TIMEZONE.

A window is `start-end` in local wall-clock time; `22:00-07:00` runs overnight
and `24:00` means the end of the day. Each local day has exactly one window.
Its bounds are turned into real instants one day at a time, which is what
keeps DST honest:
- a bound that falls in a spring-forward gap (02:30 on the night the clocks
  jump from 02:00 to 03:00) is the first instant the wall clock reads past it,
  the jump itself, so the window is neither skipped nor moved an hour late;
- a bound that the fall-back hour repeats is its first occurrence, so the
  window opens once, not twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from lib.clock.wall import first_instant

_MINUTES_PER_DAY = 24 * 60


@dataclass(frozen=True)
class ActiveHours:
    start_minute: int  # minutes after local midnight, 0..1439
    end_minute: int  # 1..1440; at or before start means "the next day"
    zone: ZoneInfo

    @property
    def always(self) -> bool:
        return self.start_minute % _MINUTES_PER_DAY == self.end_minute % _MINUTES_PER_DAY


def parse_active_hours(spec: str | None, timezone: str = "UTC") -> ActiveHours | None:
    """The window, or None when there are no quiet hours. Raises ValueError naming the variable."""
    if spec is None or not spec.strip():
        return None
    try:
        start_text, end_text = spec.replace(" ", "").split("-")
        start, end = _minutes(start_text), _minutes(end_text)
    except ValueError:
        raise ValueError("REMINDER_ACTIVE_HOURS must look like 08:00-22:00") from None
    if start >= _MINUTES_PER_DAY or end > _MINUTES_PER_DAY:
        raise ValueError("REMINDER_ACTIVE_HOURS: times run from 00:00 to 24:00")
    try:
        zone = ZoneInfo(timezone)
    except (KeyError, ValueError):
        raise ValueError("REMINDER_TIMEZONE is not an IANA time zone such as Europe/Berlin") from None
    hours = ActiveHours(start, end, zone)
    return None if hours.always else hours


def _minutes(text: str) -> int:
    hour, minute = text.split(":")
    if len(hour) != 2 or len(minute) != 2 or not (hour + minute).isdigit() or int(minute) > 59:
        raise ValueError(text)
    return int(hour) * 60 + int(minute)


def deferral(hours: ActiveHours | None, now: datetime) -> datetime | None:
    """When a send due at `now` may go: None if now is inside a window, else the next window's start (UTC)."""
    if hours is None:
        return None
    today = now.astimezone(hours.zone).date()
    for day in (today - timedelta(days=1), today):
        start, end = window(hours, day)
        if start <= now < end:
            return None
    return next_window_start(hours, now)


def next_window_start(hours: ActiveHours, now: datetime) -> datetime:
    """The first window start strictly after `now`."""
    today = now.astimezone(hours.zone).date()
    starts = (window(hours, today + timedelta(days=offset))[0] for offset in range(-1, 3))
    return min(start for start in starts if start > now)


def window(hours: ActiveHours, day: date) -> tuple[datetime, datetime]:
    """The window that opens on local date `day`, as UTC instants [start, end)."""
    start = _first_instant(hours.zone, day, hours.start_minute)
    end_day = day if hours.end_minute > hours.start_minute else day + timedelta(days=1)
    end = _first_instant(hours.zone, end_day, hours.end_minute)
    return start, end


def _first_instant(zone: ZoneInfo, day: date, minute: int) -> datetime:
    """The first instant at which the wall clock in `zone` reads `day` at `minute` or later."""
    day, minute = day + timedelta(days=minute // _MINUTES_PER_DAY), minute % _MINUTES_PER_DAY
    return first_instant(datetime.combine(day, time(minute // 60, minute % 60)), zone)
