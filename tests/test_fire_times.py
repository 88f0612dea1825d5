"""Next fire times of database-defined schedules, without a database: formats, validation, DST."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lib.clock.schedules import (
    ScheduleError,
    first_fire,
    next_cron_fire,
    next_fire,
    parse_instant,
    parse_interval,
    parse_schedule,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def fires(expression: str, timezone: str, after: datetime, count: int) -> list[str]:
    """`count` consecutive fires, as local wall-clock times with their UTC offset."""
    schedule = parse_schedule("cron", expression, timezone)
    zone = ZoneInfo(timezone)
    out = []
    for _ in range(count):
        after = next_cron_fire(schedule, after)
        out.append(after.astimezone(zone).strftime("%Y-%m-%d %H:%M%z"))
    return out


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


# -- cron across DST -----------------------------------------------------------


def test_daily_0230_runs_once_on_the_spring_forward_day_at_the_jump() -> None:
    # Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST; 02:30 never happens.
    assert fires("30 2 * * *", BERLIN, utc(2026, 3, 27), 4) == [
        "2026-03-27 02:30+0100",
        "2026-03-28 02:30+0100",
        "2026-03-29 03:00+0200",
        "2026-03-30 02:30+0200",
    ]


def test_daily_0230_runs_once_on_the_fall_back_day_in_the_first_pass() -> None:
    # Berlin, 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
    assert fires("30 2 * * *", BERLIN, utc(2026, 10, 23), 4) == [
        "2026-10-23 02:30+0200",
        "2026-10-24 02:30+0200",
        "2026-10-25 02:30+0200",
        "2026-10-26 02:30+0100",
    ]


def test_daily_jobs_in_new_york_around_both_transitions() -> None:
    # 2026-03-08: 02:00 EST -> 03:00 EDT. 2026-11-01: 02:00 EDT -> 01:00 EST.
    assert fires("30 2 * * *", NEW_YORK, utc(2026, 3, 7), 3) == [
        "2026-03-07 02:30-0500",
        "2026-03-08 03:00-0400",
        "2026-03-09 02:30-0400",
    ]
    assert fires("30 1 * * *", NEW_YORK, utc(2026, 10, 31), 3) == [
        "2026-10-31 01:30-0400",
        "2026-11-01 01:30-0400",
        "2026-11-02 01:30-0500",
    ]


def test_hourly_job_follows_elapsed_time_on_the_spring_forward_day() -> None:
    assert fires("0 * * * *", BERLIN, utc(2026, 3, 28, 23), 3) == [
        "2026-03-29 01:00+0100",
        "2026-03-29 03:00+0200",
        "2026-03-29 04:00+0200",
    ]
    # :30 past every hour stays one real hour apart across the jump.
    got = fires("30 * * * *", BERLIN, utc(2026, 3, 28, 23), 3)
    assert got == ["2026-03-29 00:30+0100", "2026-03-29 01:30+0100", "2026-03-29 03:30+0200"]


def test_hourly_job_runs_in_both_passes_of_the_repeated_hour() -> None:
    assert fires("0 * * * *", BERLIN, utc(2026, 10, 24, 22, 30), 5) == [
        "2026-10-25 01:00+0200",
        "2026-10-25 02:00+0200",
        "2026-10-25 02:00+0100",
        "2026-10-25 03:00+0100",
        "2026-10-25 04:00+0100",
    ]


def test_every_20_minutes_stays_20_minutes_apart_through_the_repeated_hour() -> None:
    schedule = parse_schedule("cron", "*/20 * * * *", NEW_YORK)
    moment = utc(2026, 11, 1, 4, 50)  # 00:50 EDT
    gaps = set()
    for _ in range(12):
        following = next_cron_fire(schedule, moment)
        gaps.add(following - moment)
        moment = following
    assert gaps <= {timedelta(minutes=20), timedelta(minutes=10)}  # 10: the first step from 00:50
    assert moment == utc(2026, 11, 1, 8, 40)  # 12 fires later: 03:40 EST


def test_next_fire_from_inside_the_repeated_hour() -> None:
    hourly = parse_schedule("cron", "30 * * * *", NEW_YORK)
    daily = parse_schedule("cron", "30 1 * * *", NEW_YORK)
    first_pass_0140 = utc(2026, 11, 1, 5, 40)  # 01:40 EDT
    second_pass_0110 = utc(2026, 11, 1, 6, 10)  # 01:10 EST
    assert next_cron_fire(hourly, first_pass_0140) == utc(2026, 11, 1, 6, 30)  # 01:30 EST
    assert next_cron_fire(hourly, second_pass_0110) == utc(2026, 11, 1, 6, 30)
    assert next_cron_fire(daily, first_pass_0140) == utc(2026, 11, 2, 6, 30)  # not again at 01:30 EST


def test_cron_is_read_in_the_jobs_timezone() -> None:
    noon = utc(2025, 12, 31, 12)  # 21:00 in Tokyo
    assert fires("0 9 * * *", "Asia/Tokyo", noon, 1) == ["2026-01-01 09:00+0900"]
    assert next_cron_fire(parse_schedule("cron", "0 9 * * *", "Asia/Tokyo"), noon) == utc(2026, 1, 1, 0)
    assert next_cron_fire(parse_schedule("cron", "0 9 * * *", "UTC"), noon) == utc(2026, 1, 1, 9)


def test_next_cron_fire_is_strictly_after() -> None:
    schedule = parse_schedule("cron", "*/5 * * * *", "UTC")
    assert next_cron_fire(schedule, utc(2026, 1, 1, 10, 0)) == utc(2026, 1, 1, 10, 5)
    assert next_cron_fire(schedule, utc(2026, 1, 1, 10, 4, 59)) == utc(2026, 1, 1, 10, 5)


def test_macros_and_extended_syntax() -> None:
    assert fires("@daily", "UTC", utc(2026, 1, 1, 12), 1) == ["2026-01-02 00:00+0000"]
    assert fires("@hourly", "UTC", utc(2026, 1, 1, 12, 1), 1) == ["2026-01-01 13:00+0000"]
    assert fires("0 0 L * *", "UTC", utc(2026, 2, 1), 1) == ["2026-02-28 00:00+0000"]


# -- missed ticks and the first fire ---------------------------------------------


def test_missed_cron_ticks_collapse_into_one_fire() -> None:
    schedule = parse_schedule("cron", "*/5 * * * *", "UTC")
    scheduled, now = utc(2026, 1, 1, 8, 0), utc(2026, 1, 1, 10, 2, 30)
    assert next_fire(schedule, scheduled, now) == utc(2026, 1, 1, 10, 5)


def test_interval_advances_from_the_scheduled_instant_and_skips_missed_ticks() -> None:
    schedule = parse_schedule("interval", "10m", "UTC")
    scheduled = utc(2026, 1, 1, 10, 0, 7)
    # On time (a little late): the next fire keeps the cadence, not now + 10m.
    assert next_fire(schedule, scheduled, utc(2026, 1, 1, 10, 1)) == utc(2026, 1, 1, 10, 10, 7)
    # An hour and 5 minutes late: one fire now, the next on the cadence after now.
    assert next_fire(schedule, scheduled, utc(2026, 1, 1, 11, 5)) == utc(2026, 1, 1, 11, 10, 7)
    # Exactly on a later tick: that tick is collapsed too, the next is strictly after now.
    assert next_fire(schedule, scheduled, utc(2026, 1, 1, 10, 20, 7)) == utc(2026, 1, 1, 10, 30, 7)


def test_interval_is_elapsed_time_across_dst() -> None:
    schedule = parse_schedule("interval", "1d", BERLIN)
    before = utc(2026, 3, 28, 1, 30)  # 02:30 CET
    assert next_fire(schedule, before, before) == utc(2026, 3, 29, 1, 30)  # 03:30 CEST: 24 h later


def test_first_fire_is_the_next_tick_not_now() -> None:
    now = utc(2026, 1, 1, 10, 0, 0) + timedelta(microseconds=250_000)
    assert first_fire(parse_schedule("cron", "*/15 * * * *", "UTC"), now) == utc(2026, 1, 1, 10, 15)
    assert first_fire(parse_schedule("interval", "90", "UTC"), now) == utc(2026, 1, 1, 10, 1, 30)


def test_once_fires_at_its_instant_and_then_never() -> None:
    once = parse_schedule("once", "2026-05-01T09:00:00+02:00", "UTC")
    assert first_fire(once, utc(2026, 1, 1)) == utc(2026, 5, 1, 7)
    assert next_fire(once, utc(2026, 5, 1, 7), utc(2026, 5, 1, 7, 1)) is None


def test_once_without_offset_is_read_in_the_jobs_timezone() -> None:
    assert parse_schedule("once", "2026-07-01T09:00", BERLIN).at == utc(2026, 7, 1, 7)
    assert parse_schedule("once", "2026-07-01 09:00:00Z", BERLIN).at == utc(2026, 7, 1, 9)
    # Skipped: at the jump. Repeated: the first pass.
    assert parse_schedule("once", "2026-03-29T02:30", BERLIN).at == utc(2026, 3, 29, 1)
    assert parse_schedule("once", "2026-10-25T02:30", BERLIN).at == utc(2026, 10, 25, 0, 30)


# -- formats and validation ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90", 90), ("30s", 30), ("5m", 300), ("1h", 3600), ("1d", 86400), ("1h30m", 5400), (" 2H 15M ", 8100),
        # The plans' forms: `every ...`, and a mirrored executor's milliseconds.
        ("every 2h", 7200), ("every 90m", 5400), ("Every 30s", 30), ("3600000ms", 3600), ("1m30000ms", 90),
        # A bare number stays seconds, even when it looks like milliseconds.
        ("3600000", 3_600_000),
    ],
)  # fmt: skip
def test_interval_formats(text: str, seconds: int) -> None:
    assert parse_interval(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("kind", "schedule", "timezone", "message"),
    [
        ("cron", "61 * * * *", "UTC", "cron schedule '61 * * * *' is not valid"),
        ("cron", "* * * *", "UTC", "needs 5 fields"),
        ("cron", "0 * * * * *", "UTC", "needs 5 fields"),
        ("cron", "every minute", "UTC", "needs 5 fields"),
        ("cron", "@reboot", "UTC", "known macros"),
        ("cron", "H * * * *", "UTC", "is not valid"),
        ("cron", "0 9 * * *", "Mars/Olympus", "timezone 'Mars/Olympus' is not an IANA time zone"),
        ("cron", "0 9 * * *", "Europe", "timezone 'Europe' is not an IANA time zone"),
        ("cron", "0 9 * * *", "", "timezone is empty"),
        ("cron", None, "UTC", "cron schedule is empty"),
        ("interval", "5x", "UTC", "interval schedule '5x' is not valid"),
        ("interval", "-5", "UTC", "is not valid"),
        ("interval", "0", "UTC", "out of range"),
        ("interval", "99999d", "UTC", "out of range"),
        ("interval", "every two hours", "UTC", "interval schedule 'every two hours' is not valid"),
        ("interval", "1500ms", "UTC", "not a whole number of seconds"),
        ("interval", "every", "UTC", "is not valid"),
        ("once", "next tuesday", "UTC", "once schedule 'next tuesday' is not an ISO 8601 timestamp"),
        ("once", "in 20 minutes", "UTC", "once schedule 'in 20 minutes' is not valid"),
        ("vercel", "* * * * *", "UTC", "schedule_type 'vercel' is not one of"),
    ],
)
def test_invalid_schedules_say_what_is_wrong(kind: str, schedule: str | None, timezone: str, message: str) -> None:
    with pytest.raises(ScheduleError, match=message.replace("*", r"\*").replace("(", r"\(")):
        parse_schedule(kind, schedule, timezone)


def test_cron_that_never_fires_is_an_error() -> None:
    schedule = parse_schedule("cron", "0 0 30 2 *", "UTC")
    with pytest.raises(ScheduleError, match="never fires"):
        next_cron_fire(schedule, utc(2026, 1, 1))


def test_in_duration_counts_from_created_at() -> None:
    created = utc(2026, 5, 1, 9, 0)
    assert parse_schedule("once", "in 20m", BERLIN, created).at == utc(2026, 5, 1, 9, 20)
    assert parse_schedule("once", "IN 1h30m", "UTC", created).at == utc(2026, 5, 1, 10, 30)
    with pytest.raises(ScheduleError, match="no created_at"):
        parse_schedule("once", "in 20m", "UTC")


def test_non_finite_next_run_at_is_an_error() -> None:
    assert parse_instant("2026-01-01T00:00:00+00:00") == utc(2026, 1, 1)
    with pytest.raises(ScheduleError, match="not a finite timestamp"):
        parse_instant("-infinity")
