"""A sweep killed mid-batch: nothing lost, nothing stuck, and only a small window repeated.

Each test runs the job as a real process (`python -m lib run <job>`, settings
from the environment) against a slow stand-in on 127.0.0.1 that logs when
each call arrived and when it was answered, SIGKILLs it mid-sweep, waits out
the lease, and sweeps again until nothing is left. DESIGN.md's promise is the
bound: a crash repeats at most the sends in flight at the kill plus those
finished in the last half second before it, never a whole batch. Both figures
come from the stand-in's own log, on its own clock.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from lib.jobs.settling import Settler
from tests.fakes.crash import Crash, drain_crash, reminder_crash
from tests.reliability.counts import Counts, size


def assert_only_the_window_repeated(crash: Crash, counts: Counts) -> None:
    window = crash.kill.in_flight + crash.kill.recent
    counts.handled = len(crash.expected)
    counts.lost = crash.lost
    counts.stuck = crash.stuck
    # Repeats beyond in flight + the last 0.5 s: the figure that must be 0.
    counts.repeated = max(0, crash.repeated - window)
    counts.repeated_in_window = min(crash.repeated, window)
    counts.notes.append(f"{crash.kill.in_flight} in flight, {crash.kill.recent} in the last 0.5 s at the kill")
    print("\n" + crash.line())
    assert set(crash.counts) == crash.expected  # every item reached the stand-in
    assert crash.lost == 0 and crash.stuck == 0
    assert crash.kill.handled >= 10, "killed too early to say anything about the window"
    assert crash.repeated <= window
    assert crash.repeated < crash.kill.handled  # never the whole batch


async def test_a_reminder_sweep_killed_mid_batch_repeats_only_the_crash_window(
    pg_dsn: str, sql: asyncpg.Connection, tmp_path: Path, counts: Counts
) -> None:
    crash = await reminder_crash(pg_dsn, sql, tmp_path, total=size(60, 120))
    assert_only_the_window_repeated(crash, counts)


async def test_a_drain_killed_mid_batch_repeats_only_the_crash_window(
    pg_dsn: str, sql: asyncpg.Connection, tmp_path: Path, counts: Counts
) -> None:
    crash = await drain_crash(pg_dsn, sql, tmp_path, total=size(50, 100))
    assert_only_the_window_repeated(crash, counts)


# -- the settler itself -------------------------------------------------------------------------


async def test_the_settler_writes_every_outcome_once_in_capped_groups_even_when_one_group_fails(
    counts: Counts,
) -> None:
    written: list[list[int]] = []
    attempts = 0

    async def write(group: list[int]) -> None:
        nonlocal attempts
        attempts += 1
        if attempts == 2:
            raise RuntimeError("connection lost")
        written.append(group)

    settler: Settler[int] = Settler(write, every=60, max_group=4)
    for outcome in range(10):
        settler.add(outcome)
        await asyncio.sleep(0)  # let the background task take full groups as they fill

    errors = await settler.close()

    # Full groups left at once, the rest at close; the failed group is reported, the others still written.
    assert [str(error) for error in errors] == ["connection lost"]
    assert written == [[0, 1, 2, 3], [8, 9]]
    assert settler.groups == 3 and settler.unsettled == 0
    counts.handled = sum(map(len, written))
    with pytest.raises(RuntimeError, match="after the settler was closed"):
        settler.add(10)
