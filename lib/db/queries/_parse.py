"""Parsing rows at the edge, defensively where other apps write the columns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class Unreadable:
    """A column value this service cannot use; `str()` says which and why, in one line."""

    column: str
    reason: str

    def __str__(self) -> str:
        return f"{self.column} {self.reason}"


def json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def instant(value: Any, column: str) -> datetime | Unreadable:
    """A timestamptz as both adapters return it (Postgres's own JSON text), as an aware datetime.

    Postgres stores times Python cannot hold (±infinity, BC dates, years past
    9999) and writes them as text `fromisoformat` refuses; such a value is
    bad data in one row, not a reason to stop a sweep.
    """
    if not isinstance(value, str):
        return Unreadable(column, f"is not a timestamp (got {json_type(value)})")
    if value in ("infinity", "-infinity"):
        return Unreadable(column, f"is {value}, not a finite time")
    if value.endswith(" BC"):
        return Unreadable(column, f"{value!r} is a BC date, outside the dates this service can handle")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return Unreadable(column, f"{value[:40]!r} is outside the dates this service can handle")
    if moment.tzinfo is None:
        return Unreadable(column, f"{value!r} has no time zone")
    try:
        # In UTC whatever the session's TimeZone, so instants compare and print alike.
        return moment.astimezone(UTC)
    except OverflowError:
        return Unreadable(column, f"{value[:40]!r} is outside the dates this service can handle")


def optional_instant(value: Any, column: str) -> datetime | Unreadable | None:
    return None if value is None else instant(value, column)


def timestamp(value: Any, column: str) -> datetime:
    """A timestamp the database itself set (now(), a default): unusable text is a bug, so it raises."""
    parsed = instant(value, column)
    if isinstance(parsed, Unreadable):
        raise ValueError(str(parsed))
    return parsed


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def first(rows: list[dict[str, Any]], function: str) -> dict[str, Any]:
    """The one row a single-row function answers with."""
    if not rows:
        raise ValueError(f"{function} returned no row")
    return rows[0]
