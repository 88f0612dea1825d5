"""Schedules in words, and when a job fires next, as the `schedule` job and vercel.json will fire it."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Protocol

from lib.clock.schedules import (
    Schedule,
    ScheduleError,
    first_fire,
    next_cron_fire,
    next_fire,
    parse_cron,
    parse_interval,
    parse_schedule,
    parse_zone,
)
from lib.migrate import VERCEL_JSON, vercel_crons

_DAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_UNITS = (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1))


class Firing(Protocol):
    """What the next fire depends on (a JobRecord, or the fields of one)."""

    @property
    def name(self) -> str: ...
    @property
    def target(self) -> str | None: ...
    @property
    def schedule_type(self) -> str: ...
    @property
    def schedule(self) -> str | None: ...
    @property
    def timezone(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def schedule_error(self) -> str | None: ...
    @property
    def fired_at(self) -> datetime | None: ...
    @property
    def next_run_at(self) -> datetime | None: ...
    @property
    def created_at(self) -> datetime | None: ...


@lru_cache(maxsize=4096)
def describe_schedule(schedule_type: str, schedule: str | None, timezone: str | None) -> str:
    """The schedule in words with its time zone, e.g. "every 5 minutes (UTC)"; never raises."""
    zone = timezone or "UTC"
    try:
        if schedule_type == "manual":
            return "on request only"
        if schedule_type == "vercel":
            return f"{describe_cron(schedule or '')} (UTC, vercel.json)"
        if schedule_type == "cron":
            return f"{describe_cron(schedule or '')} ({zone})"
        if schedule_type == "interval":
            return f"every {duration_words(parse_interval(schedule or ''))} ({zone})"
        if schedule_type == "once":
            return f"{_describe_once(schedule or '', zone)} ({zone})"
    except (ScheduleError, ValueError):
        pass
    return f"{schedule_type} {schedule or ''} (not a valid schedule)".replace("  ", " ")


def describe_mirrored(mirror: Mapping[str, Any]) -> str:
    """A worker's own schedule of a job in words: cron, interval and once as ours, anything else as it says."""
    kind, text = mirror.get("schedule_kind"), mirror.get("schedule")
    if not isinstance(text, str) or not text.strip():
        return "no schedule of its own"
    if kind in ("cron", "interval", "once"):
        return describe_schedule(
            kind, text, mirror.get("timezone") if isinstance(mirror.get("timezone"), str) else None
        )
    return f"{text.strip()[:200]} (as the worker says)"


def describe_cron(text: str) -> str:
    """A five-field cron expression (or @daily ...) in words; the expression itself when no simple words fit."""
    expression, _ = parse_cron(text)
    minute, hour, day, month, weekday = expression.split(" ")
    if minute == "*" and hour == "*" and (day, month, weekday) == ("*", "*", "*"):
        return "every minute"
    if hour == "*" and (day, month, weekday) == ("*", "*", "*"):
        if minute.startswith("*/") and minute[2:].isdigit():
            return f"every {_count(int(minute[2:]), 'minute')}"
        if minute.isdigit():
            return f"every hour at :{int(minute):02d}"
    if minute.isdigit() and (day, month) == ("*", "*"):
        if hour.startswith("*/") and hour[2:].isdigit() and weekday == "*":
            return f"every {_count(int(hour[2:]), 'hour')} at :{int(minute):02d}"
        if hour.isdigit():
            at = f"at {int(hour):02d}:{int(minute):02d}"
            if weekday == "*":
                return f"{at} every day"
            days = _weekdays(weekday)
            if days:
                return f"{at} on {days}"
    if minute.isdigit() and hour.isdigit() and day.isdigit() and (month, weekday) == ("*", "*"):
        return f"at {int(hour):02d}:{int(minute):02d} on day {int(day)} of every month"
    return f"cron {expression}"


def duration_words(every: timedelta) -> str:
    """2 hours, 90 minutes, minute (for "every minute")."""
    seconds = int(every.total_seconds())
    for unit, size in _UNITS:
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"


def next_fire_times(job: Firing, count: int = 5, now: datetime | None = None) -> list[datetime]:
    """The job's next `count` fire times (UTC), the first as `next_run_at` shows it; [] when it will not fire.

    A paused job, a manual one, a `once` that fired and a schedule in error do
    not fire. Ticks a resumed job missed while paused are not among them.
    """
    moment = now or datetime.now(UTC)
    first = next_run(job, moment)
    if first is None or count < 1:
        return []
    try:
        schedule = _schedule_of(job)
    except ScheduleError:
        return [first]
    times = [first]
    while len(times) < count:
        following = next_fire(schedule, times[-1], times[-1])
        if following is None:
            break
        times.append(following)
    return times


def next_run(job: Firing, now: datetime, resumed_at: datetime | None = None) -> datetime | None:
    """When the job fires next, or None when it will not (paused, manual, fired, schedule in error).

    Database-defined rows: the stored next_run_at, which the `schedule` job
    keeps; a row it has not scheduled yet fires at its first tick after now;
    a resumed row whose stored tick came before `resumed_at` skips to its
    first tick after the resume, as the `schedule` job will. vercel rows: the
    next tick of their vercel.json cron, in UTC.
    """
    if not job.enabled or job.schedule_error or job.fired_at or job.schedule_type == "manual":
        return None
    listed = job.next_run_at
    if job.schedule_type != "vercel" and listed is not None and (resumed_at is None or listed >= resumed_at):
        # What the schedule job stored: no need to parse the schedule again.
        return listed
    try:
        if job.schedule_type == "vercel" or (listed is None and job.schedule_type == "cron"):
            text = _vercel_or_own(job) if job.schedule_type == "vercel" else job.schedule
            zone = "UTC" if job.schedule_type == "vercel" else job.timezone
            return _next_cron_after(text or "", zone, now.replace(second=0, microsecond=0))
        schedule = _schedule_of(job)
        if listed is None:
            return first_fire(schedule, now)
        if resumed_at is not None and schedule.kind != "once" and listed < resumed_at:
            return next_fire(schedule, listed, resumed_at) or listed
        return listed
    except ScheduleError:
        return None


def vercel_schedule(job_name: str) -> str | None:
    """The schedule vercel.json gives a builtin job (its cron's path ends in the job's name)."""
    return _vercel_table(VERCEL_JSON.stat().st_mtime_ns).get(job_name)


@lru_cache(maxsize=1)
def _vercel_table(_mtime_ns: int) -> dict[str, str]:
    # Read once per version of the file: a page of jobs asks for each vercel row.
    return dict(vercel_crons())


def _vercel_or_own(job: Firing) -> str | None:
    return vercel_schedule(job.target or job.name) or job.schedule


@lru_cache(maxsize=4096)
def _next_cron_after(text: str, timezone: str, minute: datetime) -> datetime:
    """The first fire of a cron schedule after `minute`, a whole minute.

    Cron fires fall on whole minutes, so the first one after any moment of a
    minute is the first one after the minute's start: one answer per minute,
    cached, however many rows share the schedule (a page of jobs is mostly a
    few schedules).
    """
    return next_cron_fire(parse_schedule("cron", text, timezone), minute)


def _schedule_of(job: Firing) -> Schedule:
    if job.schedule_type == "vercel":
        expression, every_hour = parse_cron(_vercel_or_own(job) or "")
        return Schedule("cron", parse_zone("UTC"), cron=expression, every_hour=every_hour)
    return parse_schedule(job.schedule_type, job.schedule, job.timezone, job.created_at)


def _describe_once(text: str, zone_name: str) -> str:
    stripped = text.strip()
    if stripped.lower().startswith("in "):
        return f"once, {duration_words(parse_interval(stripped[3:]))} after creation"
    zone = parse_zone(zone_name)
    # created_at only matters for the relative form, handled above.
    at = parse_schedule("once", stripped, zone_name, datetime.now(UTC)).at
    assert at is not None
    wall = at.astimezone(zone)
    return f"once at {wall:%Y-%m-%d %H:%M}" + (f":{wall:%S}" if wall.second else "")


def _count(number: int, unit: str) -> str:
    return unit if number == 1 else f"{number} {unit}s"


def _weekdays(field: str) -> str | None:
    """`1-5` -> Mon-Fri, `1,3` -> Mon, Wed; None for anything else."""
    parts = []
    for part in field.split(","):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()) or int(low) > 7 or (high and int(high) > 7):
            return None
        parts.append(f"{_DAYS[int(low)]}-{_DAYS[int(high)]}" if high else _DAYS[int(low)])
    return ", ".join(parts)
