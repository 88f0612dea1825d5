"""Fire times of database-defined schedules: `cron`, `interval` and `once`.

Pure functions over timezone-aware datetimes; the `schedule` job feeds them
rows from `cron_jobs` and writes the answers back. Every problem with a row
(a bad expression, an unknown time zone, a malformed interval) is a
`ScheduleError` whose message is recorded on the job as is, so it names the
field and the value.

Formats (`cron_jobs.schedule`, by `schedule_type`):

- `cron`: five fields, `minute hour day-of-month month day-of-week`, read on
  the wall clock of the job's `timezone`; or one of @hourly, @daily
  (@midnight), @weekly, @monthly, @yearly (@annually).
- `interval`: a duration, optionally prefixed by `every `: a bare whole
  number of seconds (`90`), or one or more `<number><unit>` parts with units
  ms, s, m, h, d (`30s`, `5m`, `1h30m`, `1d`, `every 2h`, `3600000ms`). A bare
  number is always seconds, never milliseconds. A fixed amount of elapsed
  time: `1d` is 24 hours, also across DST. It must come to whole seconds.
- `once`: an ISO 8601 timestamp (without an offset it is read in the job's
  `timezone`), or `in <duration>` (`in 20m`), counted from the row's
  `created_at`.

Daylight saving time, for cron (the rule cronie follows):

- An expression whose hour field matches every hour (`*`) follows elapsed
  time: a wall-clock time the clock skips never happens, and one the clock
  repeats fires in both passes. `*/15 * * * *` stays 15 minutes apart.
- Any other expression follows the wall clock, once per matching time: a time
  the clock skips (02:30 on a spring-forward night) fires at the moment the
  clock jumps, and a time the clock repeats fires in its first pass only. A
  daily 02:30 job runs exactly once every day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from lib.clock.wall import first_instant

KINDS = ("cron", "interval", "once")

MIN_INTERVAL = timedelta(seconds=1)
# Far beyond any sensible interval, and far enough from datetime's limits
# that advancing a schedule can never overflow.
MAX_INTERVAL = timedelta(days=3650)

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# `ms` first, so "5ms" is not read as five minutes and a stray "s".
_INTERVAL_PART = re.compile(r"(\d+)\s*(ms|s|m|h|d)")
_INTERVAL = re.compile(r"(?:\d+\s*(?:ms|s|m|h|d)\s*)+")
_UNIT_MILLISECONDS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_EVERY = re.compile(r"^every\s+", re.IGNORECASE)
_IN = re.compile(r"^in\s+", re.IGNORECASE)
# Wall-clock times croniter may offer inside one repeated (fall-back) stretch
# of time; a bound, so a broken expression cannot loop for ever.
_MAX_CRON_STEPS = 10_000


class ScheduleError(ValueError):
    """A schedule that cannot be used. The message is recorded on the job."""


@dataclass(frozen=True)
class Schedule:
    kind: str  # cron | interval | once
    zone: ZoneInfo
    cron: str | None = None
    # The cron hour field matches every hour: follow elapsed time across DST.
    every_hour: bool = False
    every: timedelta | None = None
    at: datetime | None = None


def parse_schedule(kind: str, text: str | None, timezone: str | None, created_at: datetime | None = None) -> Schedule:
    """Validate one row's schedule; raises ScheduleError with a clear message.

    `created_at` is the row's: a relative `once` (`in 20m`) counts from it,
    and is refused without it.
    """
    if kind not in KINDS:
        raise ScheduleError(f"schedule_type {kind!r} is not one of {', '.join(KINDS)}")
    zone = parse_zone(timezone)
    text = (text or "").strip()
    if not text:
        raise ScheduleError(f"{kind} schedule is empty")
    if kind == "cron":
        expression, every_hour = parse_cron(text)
        return Schedule(kind, zone, cron=expression, every_hour=every_hour)
    if kind == "interval":
        return Schedule(kind, zone, every=parse_interval(text))
    return Schedule(kind, zone, at=parse_once(text, zone, created_at))


def parse_zone(name: str | None) -> ZoneInfo:
    if not name or not name.strip():
        raise ScheduleError("timezone is empty (use an IANA name such as UTC or Europe/Berlin)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ScheduleError(f"timezone {name!r} is not an IANA time zone such as UTC or Europe/Berlin") from None


def parse_cron(text: str) -> tuple[str, bool]:
    """The five-field expression, and whether its hour field matches every hour."""
    expression = " ".join(text.split())
    if expression.startswith("@"):
        if expression.lower() not in _MACROS:
            raise ScheduleError(f"cron schedule {text!r} is not valid: known macros are {', '.join(_MACROS)}")
        expression = _MACROS[expression.lower()]
    fields = expression.split(" ")
    if len(fields) != 5:
        # croniter would read a sixth field as seconds; schedules tick once a minute.
        raise ScheduleError(
            f"cron schedule {text!r} is not valid: it needs 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    _check_cron_fields(text, fields)
    # croniter (with dateutil) is imported where a cron is read, not with this
    # module: most routes load it for the other schedule types and never pay.
    from croniter import CroniterError, croniter

    try:
        parsed = croniter(expression, datetime(2000, 1, 1))
    except (CroniterError, ValueError, KeyError) as error:
        raise ScheduleError(f"cron schedule {text!r} is not valid: {error}") from None
    # croniter writes a field that matches everything (`*`, `0-23`) as ['*'].
    return expression, parsed.expanded[1] == ["*"]


def parse_interval(text: str) -> timedelta:
    value = _EVERY.sub("", text.strip().lower()).strip()
    if value.isdigit():
        milliseconds = int(value) * 1000
    elif _INTERVAL.fullmatch(value):
        milliseconds = sum(int(number) * _UNIT_MILLISECONDS[unit] for number, unit in _INTERVAL_PART.findall(value))
    else:
        raise ScheduleError(
            f"interval schedule {text!r} is not valid: use seconds (90) or a duration such as "
            "30s, 5m, 1h30m, 1d, every 2h or 3600000ms"
        )
    if milliseconds % 1000:
        # Fire times (and their dedup keys) fall on whole seconds.
        raise ScheduleError(f"interval schedule {text!r} is not a whole number of seconds")
    # Checked as a number first: timedelta overflows (a 500) long before an int does.
    if not _ms(MIN_INTERVAL) <= milliseconds <= _ms(MAX_INTERVAL):
        raise ScheduleError(f"interval schedule {text!r} is out of range: at least 1s and at most {MAX_INTERVAL.days}d")
    return timedelta(milliseconds=milliseconds)


def _ms(every: timedelta) -> int:
    return (every.days * 86_400 + every.seconds) * 1000 + every.microseconds // 1000


def parse_once(text: str, zone: ZoneInfo, created_at: datetime | None = None) -> datetime:
    if _IN.match(text.strip()):
        try:
            delay = parse_interval(_IN.sub("", text.strip()))
        except ScheduleError:
            raise ScheduleError(
                f"once schedule {text!r} is not valid: use an ISO 8601 timestamp or 'in <duration>' such as in 20m"
            ) from None
        if created_at is None:
            raise ScheduleError(f"once schedule {text!r} is relative, but the row has no created_at to count from")
        return created_at.astimezone(UTC) + delay
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ScheduleError(
            f"once schedule {text!r} is not an ISO 8601 timestamp such as 2026-05-01T09:00:00+02:00, "
            "nor 'in <duration>' such as in 20m"
        ) from None
    try:
        if moment.tzinfo is None:
            return resolve_wall_time(moment, zone, every_hour=False)[0]
        return moment.astimezone(UTC)
    except OverflowError:
        # 0001-01-01 or 9999-12-31 moved into UTC leaves the years Python can hold.
        raise ScheduleError(f"once schedule {text!r} is out of range: it falls outside the years 1 to 9999") from None


def parse_instant(value: str, column: str = "next_run_at") -> datetime:
    """A timestamptz as the database port returns it (an ISO string)."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ScheduleError(f"{column} {value!r} is not a finite timestamp") from None
    if moment.tzinfo is None:
        raise ScheduleError(f"{column} {value!r} has no time zone")
    return moment.astimezone(UTC)


def first_fire(schedule: Schedule, now: datetime) -> datetime:
    """When a schedule that has never run fires first: its next tick after `now`, never `now` itself.

    For `once` it is the given instant, which may be past (it then fires at once).
    """
    if schedule.kind == "cron":
        return next_cron_fire(schedule, now)
    if schedule.kind == "interval":
        assert schedule.every is not None
        # Whole seconds keep every later fire (and its dedup key) on a whole second.
        return now.replace(microsecond=0) + schedule.every
    assert schedule.at is not None
    return schedule.at


def next_fire(schedule: Schedule, scheduled: datetime, now: datetime) -> datetime | None:
    """The fire after the one due at `scheduled`, strictly later than `now`; None once a `once` has fired.

    Ticks missed between `scheduled` and `now` are skipped, not caught up:
    they were collapsed into the one fire at `scheduled`.
    """
    if schedule.kind == "cron":
        return next_cron_fire(schedule, max(scheduled, now))
    if schedule.kind == "interval":
        assert schedule.every is not None
        # From the scheduled instant, not from now, so the cadence does not drift.
        steps = (now - scheduled) // schedule.every + 1 if now >= scheduled else 1
        return scheduled + steps * schedule.every
    return None


def next_cron_fire(schedule: Schedule, after: datetime) -> datetime:
    """The first fire of a cron schedule strictly after `after`, in UTC.

    croniter walks naive wall-clock times (pure calendar arithmetic, the same in
    every croniter version); resolve_wall_time then places each on the time
    line, which is where the DST rules live.
    """
    from croniter import CroniterBadDateError, croniter  # see parse_cron

    assert schedule.cron is not None
    zone = schedule.zone
    wall = after.astimezone(zone).replace(tzinfo=None, fold=0)
    # When `after` falls inside a repeated stretch, wall-clock times a little
    # before it still have a second pass ahead; start the walk before them.
    start = wall - _repeat_length(wall, zone) - timedelta(minutes=1)
    walls = croniter(schedule.cron, start)
    best: datetime | None = None
    try:
        for _ in range(_MAX_CRON_STEPS):
            candidate = walls.get_next(datetime)
            for instant in resolve_wall_time(candidate, zone, every_hour=schedule.every_hour):
                if instant > after and (best is None or instant < best):
                    best = instant
            # Outside a repeated stretch, wall-clock order is time order: no
            # later wall-clock time can fire earlier than `best`.
            if best is not None and not _repeat_length(candidate, zone):
                return best
    except CroniterBadDateError:
        raise ScheduleError(f"cron schedule {schedule.cron!r} never fires") from None
    if best is not None:
        return best
    raise ScheduleError(f"cron schedule {schedule.cron!r} has no fire time in reach")


def resolve_wall_time(wall: datetime, zone: ZoneInfo, *, every_hour: bool) -> list[datetime]:
    """The instants (UTC) at which a naive wall-clock time in `zone` fires, per the DST rules above."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    before, after = first.utcoffset(), second.utcoffset()
    assert before is not None and after is not None
    if before == after:
        return [first.astimezone(UTC)]
    if before > after:
        # The clock falls back: this wall-clock time happens twice.
        passes = [first, second] if every_hour else [first]
        return [moment.astimezone(UTC) for moment in passes]
    # The clock springs forward over this wall-clock time: it never happens.
    return [] if every_hour else [first_instant(wall, zone)]


def _repeat_length(wall: datetime, zone: ZoneInfo) -> timedelta:
    """How much the clock fell back, when `wall` is a repeated wall-clock time; zero otherwise."""
    before = wall.replace(tzinfo=zone, fold=0).utcoffset()
    after = wall.replace(tzinfo=zone, fold=1).utcoffset()
    assert before is not None and after is not None
    return max(before - after, timedelta(0))


# The five fields and their ranges; a number outside one is named with its field.
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day-of-month", 1, 31), ("month", 1, 12), ("day-of-week", 0, 7))
_CRON_PART = re.compile(r"^(?:\*|\?|(\d+)(?:-(\d+))?)(?:/(\d+))?$")


def _check_cron_fields(text: str, fields: list[str]) -> None:
    """A number out of its field's range as one line naming the field: `hour 25 is out of range 0-23`.

    Only plain numbers, ranges and steps are checked here; names (jan, mon)
    and croniter's extensions (L, #) are left to croniter.
    """
    for (name, low, high), field in zip(_CRON_FIELDS, fields, strict=True):
        for part in field.split(","):
            match = _CRON_PART.match(part)
            if match is None:
                continue
            start, end, step = match.groups()
            for number in (start, end):
                if number is not None and not low <= int(number) <= high:
                    raise ScheduleError(
                        f"cron schedule {text!r} is not valid: {name} {int(number)} is out of range {low}-{high}"
                    )
            if start is not None and end is not None and int(start) > int(end):
                raise ScheduleError(f"cron schedule {text!r} is not valid: {name} range {start}-{end} runs backwards")
            if step is not None and not 1 <= int(step) <= high + 1:
                raise ScheduleError(f"cron schedule {text!r} is not valid: {name} step /{int(step)} is out of range")
