"""One claimed delivery, and the one line a person reads about its event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Agents named in a message; the count is always the full one.
AGENTS_SHOWN = 10
# An error quoted in a message: enough to act on, never a whole answer.
ERROR_SHOWN = 300


@dataclass(frozen=True)
class Alert:
    """A claimed delivery of one event to one channel."""

    delivery_id: int
    claim_token: str
    channel: str
    attempts: int
    max_attempts: int
    alert_id: str
    event: str
    job_id: str | None
    repeat: int
    payload: dict[str, Any]
    created_at: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Alert:
        payload = row.get("payload")
        return cls(
            delivery_id=int(row["id"]),
            claim_token=str(row["claim_token"]),
            channel=str(row["channel"]),
            attempts=int(row["attempts"]),
            max_attempts=int(row["max_attempts"]),
            alert_id=str(row["alert_id"]),
            event=str(row["event"]),
            job_id=None if row.get("job_id") is None else str(row["job_id"]),
            repeat=int(row.get("repeat") or 0),
            payload=payload if isinstance(payload, dict) else {},
            created_at=str(row.get("created_at") or ""),
        )

    @property
    def job(self) -> str:
        return str(self.payload.get("job") or "?")

    def document(self) -> dict[str, Any]:
        """The event as the generic webhook's JSON carries it: `alert_id` first, the payload's fields after."""
        document: dict[str, Any] = {"alert_id": self.alert_id, "event": self.event}
        if self.repeat:
            document["repeat"] = self.repeat
        return {**document, **{k: v for k, v in self.payload.items() if k not in ("alert_id", "event")}}


def _clip(text: Any, limit: int = ERROR_SHOWN) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _when(value: Any) -> str:
    """An ISO instant as `2026-11-24 12:00 UTC`; what it was when it cannot be read so."""
    text = str(value or "")
    if len(text) >= 16 and text[10] in "T ":
        return f"{text[:10]} {text[11:16]} UTC"
    return text or "unknown"


def headline(alert: Alert) -> str:
    """What happened, in one line: the event, which job, since when, the error."""
    fields = alert.payload
    again = f" (still open, reminder {alert.repeat})" if alert.repeat else ""
    project = fields.get("project_id")
    job = alert.job if project in (None, "default") else f"{alert.job} ({project})"
    if alert.event == "job.failed":
        error = fields.get("error")
        tail = f": {_clip(error)}" if error else ""
        return f"job.failed: {job} is failing since {_when(fields.get('failing_since'))}{again}{tail}"
    if alert.event == "job.overdue":
        last = fields.get("last_started_at")
        started = f"last started {_when(last)}" if last else "never started"
        return f"job.overdue: {job} has not run on schedule ({fields.get('schedule', '?')}), {started}{again}"
    if alert.event == "job.recovered":
        was = " and ".join(str(x) for x in fields.get("recovered_from") or []) or "failing"
        since = fields.get("failing_since") or fields.get("overdue_since")
        return f"job.recovered: {job} works again (was {was} since {_when(since)})"
    if alert.event == "agents.offline":
        count = int(fields.get("count") or 0)
        agents = fields.get("agents") or []
        names = [str(a.get("name") or a.get("id")) for a in agents if isinstance(a, dict)][:AGENTS_SHOWN]
        more = f" and {count - len(names)} more" if count > len(names) else ""
        listed = f": {', '.join(names)}{more}" if names else ""
        return f"agents.offline: {count} agent{'s' if count != 1 else ''} stopped sending heartbeats{listed}"
    if alert.event == "alert.test":
        who = fields.get("requested_by") or "an operator"
        return f"alert.test: a test alert from cronrelay, sent by {_clip(who, 100)}; this channel works"
    return f"{alert.event}: {job}"
