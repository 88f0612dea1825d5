"""Quiet hours: which instants are inside REMINDER_ACTIVE_HOURS, and when the next window opens, across DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lib.clock.quiet_hours import ActiveHours, deferral, next_window_start, parse_active_hours, window

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def hours(spec: str, zone: str = "UTC") -> ActiveHours:
    parsed = parse_active_hours(spec, zone)
    assert parsed is not None
    return parsed


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, micro, tzinfo=UTC)


def local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int = 0, minute: int = 0, *, fold: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=zone, fold=fold).astimezone(UTC)


def test_no_spec_or_a_full_day_means_no_quiet_hours() -> None:
    assert parse_active_hours(None) is None
    assert parse_active_hours("") is None
    assert parse_active_hours("00:00-24:00") is None
    assert parse_active_hours("08:00-08:00") is None
    assert deferral(None, utc(2026, 1, 1, 3)) is None


@pytest.mark.parametrize("spec", ["8-22", "08:00", "08:60-22:00", "24:00-08:00", "08:00-24:30", "ab:cd-ef:gh"])
def test_a_malformed_window_names_the_variable(spec: str) -> None:
    with pytest.raises(ValueError, match="REMINDER_ACTIVE_HOURS"):
        parse_active_hours(spec)


def test_an_unknown_zone_names_the_variable() -> None:
    with pytest.raises(ValueError, match="REMINDER_TIMEZONE"):
        parse_active_hours("08:00-22:00", "Mars/Olympus_Mons")


def test_a_day_window() -> None:
    active = hours("08:00-22:00")
    assert deferral(active, utc(2026, 5, 4, 8)) is None
    assert deferral(active, utc(2026, 5, 4, 21, 59, 59)) is None
    assert deferral(active, utc(2026, 5, 4, 7, 59)) == utc(2026, 5, 4, 8)
    assert deferral(active, utc(2026, 5, 4, 22)) == utc(2026, 5, 5, 8)  # the end is exclusive
    assert deferral(active, utc(2026, 5, 4, 23, 30)) == utc(2026, 5, 5, 8)


def test_an_overnight_window() -> None:
    active = hours("22:00-06:00")
    assert deferral(active, utc(2026, 5, 4, 23)) is None
    assert deferral(active, utc(2026, 5, 5, 5, 59)) is None
    assert deferral(active, utc(2026, 5, 5, 6)) == utc(2026, 5, 5, 22)
    assert deferral(active, utc(2026, 5, 5, 12)) == utc(2026, 5, 5, 22)


def test_a_window_in_a_local_zone() -> None:
    active = hours("09:00-17:00", "America/New_York")
    # 13:00 UTC in May is 09:00 EDT.
    assert deferral(active, utc(2026, 5, 4, 12, 59)) == utc(2026, 5, 4, 13)
    assert deferral(active, utc(2026, 5, 4, 13)) is None
    assert deferral(active, utc(2026, 5, 4, 21)) == utc(2026, 5, 5, 13)


def test_a_start_in_the_spring_forward_gap_opens_at_the_jump() -> None:
    # Berlin, 2026-03-29: clocks go from 02:00 CET straight to 03:00 CEST (01:00 UTC).
    active = hours("02:30-22:00", "Europe/Berlin")
    start, end = window(active, date(2026, 3, 29))
    assert start == utc(2026, 3, 29, 1)
    assert start.astimezone(BERLIN).strftime("%H:%M %Z") == "03:00 CEST"
    assert end == local(BERLIN, 2026, 3, 29, 22)
    assert deferral(active, utc(2026, 3, 29, 0, 45)) == utc(2026, 3, 29, 1)
    assert deferral(active, utc(2026, 3, 29, 1, 0, 1)) is None


def test_a_start_in_the_repeated_fall_back_hour_opens_once() -> None:
    # Berlin, 2026-10-25: 02:00-03:00 happens twice (CEST, then CET).
    active = hours("02:30-04:00", "Europe/Berlin")
    first = local(BERLIN, 2026, 10, 25, 2, 30, fold=0)
    start, end = window(active, date(2026, 10, 25))
    assert start == first == utc(2026, 10, 25, 0, 30)
    assert end == utc(2026, 10, 25, 3)  # 04:00 CET: the window is 2.5 real hours that day
    # Inside the second 02:30 the window is still open, not opening again.
    second = local(BERLIN, 2026, 10, 25, 2, 30, fold=1)
    assert deferral(active, second) is None
    assert next_window_start(active, first) == local(BERLIN, 2026, 10, 26, 2, 30)


@pytest.mark.parametrize(
    ("zone", "spec"), [(BERLIN, "08:00-22:00"), (NEW_YORK, "01:30-03:00"), (NEW_YORK, "22:00-07:00")]
)
def test_every_local_day_has_exactly_one_window_start_across_dst(zone: ZoneInfo, spec: str) -> None:
    active = hours(spec, zone.key)
    start_minute = int(spec[:2]) * 60 + int(spec[3:5])
    moment = utc(2026, 2, 1)
    starts: list[datetime] = []
    while moment < utc(2026, 12, 1):
        moment = next_window_start(active, moment)
        starts.append(moment)
    days = [start.astimezone(zone).date() for start in starts]
    assert days == [days[0] + timedelta(days=i) for i in range(len(days))]  # none skipped, none doubled
    for start in starts:
        wall = start.astimezone(zone)
        # On the wall clock, the window opens at its time, or at the jump when that time does not exist.
        assert wall.hour * 60 + wall.minute >= start_minute
        assert (start - timedelta(seconds=1)).astimezone(zone).replace(tzinfo=None) < wall.replace(
            hour=start_minute // 60, minute=start_minute % 60, tzinfo=None
        )


def test_deferral_is_always_inside_the_next_window() -> None:
    active = hours("07:15-07:45", "Europe/Berlin")
    moment = utc(2026, 3, 27)
    while moment < utc(2026, 4, 2):
        opens = deferral(active, moment)
        if opens is not None:
            assert opens > moment
            assert deferral(active, opens) is None
        moment += timedelta(minutes=7)
