"""Plain-text tables for the operator CLI (`python -m lib runs`, `python -m lib requests`)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from lib.db.queries.run_requests import RequestRow
from lib.db.queries.runs import RunRow

# A row to show: any mapping of column names to JSON values.
Record = Mapping[str, Any]

# Postgres's JSON form of a timestamptz: 2026-11-23T10:00:00.012345+00:00
_TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?([+-]\d{2}:?\d{2}|Z)$")


@dataclass(frozen=True)
class Column:
    title: str
    value: Callable[[Record], Any]
    # Longer cells are cut, so one huge result does not wreck the table.
    width: int = 40


def cell(value: Any, width: int = 40) -> str:
    """One value as table text: timestamps shortened, JSON compact, one line, at most `width` characters."""
    if value is None:
        text = "-"
    elif isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), default=str)
    else:
        text = str(value)
        match = _TIMESTAMP.match(text)
        if match:
            zone = match[4]
            text = f"{match[1]} {match[2]}" + ("Z" if zone in ("Z", "+00:00", "+0000") else zone)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def render(rows: Sequence[Record], columns: Sequence[Column]) -> str:
    """A header line, a rule, and one line per row; '(none)' when there are no rows."""
    if not rows:
        return "(none)"
    grid = [[cell(column.value(row), column.width) for column in columns] for row in rows]
    widths = [max(len(column.title), *(len(line[i]) for line in grid)) for i, column in enumerate(columns)]
    lines = [
        "  ".join(column.title.ljust(widths[i]) for i, column in enumerate(columns)),
        "  ".join("-" * width for width in widths),
        *("  ".join(text.ljust(widths[i]) for i, text in enumerate(line)) for line in grid),
    ]
    return "\n".join(line.rstrip() for line in lines)


def _outcome(row: Record) -> Any:
    """A run's stats, or its error when it failed."""
    return row.get("error") or row.get("stats")


def _request_result(row: Record) -> Any:
    if row.get("status") == "queued" and row.get("held_reason"):
        # Held for a missing setting: why it waits is what the operator needs.
        return f"held: {row['held_reason']}"
    result = row.get("result") or None
    if isinstance(result, dict) and result.get("error"):
        return result["error"]
    return result


RUN_COLUMNS = (
    Column("id", lambda r: r["id"]),
    Column("job", lambda r: r["job"]),
    Column("trigger", lambda r: r["trigger"]),
    Column("status", lambda r: r["status"]),
    Column("started", lambda r: r["started_at"]),
    Column("ms", lambda r: r["duration_ms"]),
    Column("more", lambda r: r.get("has_more")),
    Column("stats / error", _outcome, width=60),
)

REQUEST_COLUMNS = (
    Column("id", lambda r: r["id"]),
    Column("job", lambda r: r["job_name"] if r["project_id"] == "default" else f"{r['project_id']}/{r['job_name']}"),
    Column("status", lambda r: r["status"]),
    Column("tries", lambda r: f"{r['attempts']}/{r['max_attempts']}"),
    Column("requested", lambda r: r["requested_at"]),
    Column("next try", lambda r: r["available_at"] if r["status"] == "queued" else None),
    Column("completed", lambda r: r["completed_at"]),
    Column("result / error", _request_result, width=60),
)


def runs_table(rows: Sequence[RunRow]) -> str:
    return render([asdict(row) for row in rows], RUN_COLUMNS)


def requests_table(rows: Sequence[RequestRow]) -> str:
    return render([asdict(row) for row in rows], REQUEST_COLUMNS)
