"""The run queue: migrations' run_requests concern (the drain, `python -m lib request`, the CLI listing).

A request's payload and its job's row are written by other apps, so claimed
rows are not validated here: the drain checks each one (`preflight`) and
fails it alone with the reason. Only what the database itself guarantees
(ids, counters, flags) is converted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from lib.db.port import Database
from lib.db.queries._parse import first
from lib.db.statuses import RequestOutcome, RequestStatus


@dataclass(frozen=True)
class QueuedRequest:
    """A run request with its job's row, as the claim (or its dry-run twin) returns it."""

    id: str
    project_id: str
    requested_by: str | None
    # The database's own text: it goes verbatim into the signed webhook body.
    requested_at: str
    # Any JSON value, or None: the request's own payload, which overrides the job's.
    payload: Any
    attempts: int
    max_attempts: int
    # Taken over from a drain whose lease expired.
    recovered: bool
    # Recovered with every attempt used: it fails instead of running again.
    exhausted: bool
    job_name: str | None
    job_kind: str | None
    job_target: str | None
    job_payload: Any
    # None for a dry run, which claims nothing.
    claim_token: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> QueuedRequest:
        return cls(
            id=str(row["id"]),
            project_id=str(row["project_id"]),
            requested_by=row.get("requested_by"),
            requested_at=str(row["requested_at"]),
            payload=row.get("payload"),
            attempts=int(row["attempts"]),
            max_attempts=int(row["max_attempts"]),
            recovered=bool(row.get("recovered")),
            exhausted=bool(row.get("exhausted")),
            job_name=row.get("job_name"),
            job_kind=row.get("job_kind"),
            job_target=row.get("job_target"),
            job_payload=row.get("job_payload"),
            claim_token=str(row["claim_token"]) if row.get("claim_token") is not None else None,
        )


@dataclass(frozen=True)
class RequestSettle:
    """How one claimed request settles: one element of settle_run_requests' array."""

    id: str
    # None only for a row that was never claimed, which then matches nothing.
    claim_token: str | None
    outcome: RequestOutcome
    result: dict[str, Any] | None = None
    delay_seconds: float = 0.0
    duration_ms: int | None = None
    # The job's last_status when it is more than ok/error (a builtin run's `partial`).
    job_status: str | None = None


@dataclass(frozen=True)
class SettledRequest:
    id: str
    status: RequestStatus
    outcome: RequestOutcome


@dataclass(frozen=True)
class RequestedRun:
    """What `request_run` answers (its `project` column holds the request's project_id)."""

    id: str
    job_id: str
    project: str
    status: RequestStatus
    requested_at: str


@dataclass(frozen=True)
class RequestRow:
    """One request as `list_run_requests` gives it; timestamps stay the database's text, for display."""

    id: str
    project_id: str
    job_name: str | None
    job_kind: str | None
    status: RequestStatus
    requested_by: str | None
    requested_at: str
    picked_up_at: str | None
    completed_at: str | None
    attempts: int
    max_attempts: int
    available_at: str | None
    locked_until: str | None
    result: Any
    # Queued for a paused job (it waits for the resume), or held for a missing setting.
    held: bool
    # The missing setting a held request waits for, named; None otherwise.
    held_reason: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RequestRow:
        return cls(**{**row, "status": RequestStatus(row["status"])})


async def claim_run_requests(
    db: Database, *, batch_size: int, lease_seconds: int, blocked: Mapping[str, str] | None = None
) -> list[QueuedRequest]:
    """Lease up to `batch_size` available requests (and expired leases: crash recovery) with fresh tokens.

    `blocked` ({kind or "builtin:<target>": reason}) is what this drain cannot
    run for want of a setting: those requests are left alone (see hold_run_requests).
    """
    args: dict[str, Any] = {"p_batch_size": batch_size, "p_lease_seconds": lease_seconds}
    if blocked:
        args["p_blocked"] = dict(blocked)
    rows = await db.call("claim_run_requests", **args)
    return [QueuedRequest.from_row(row) for row in rows]


async def claim_run_requests_by_id(
    db: Database, *, ids: Sequence[str], limit: int, lease_seconds: int, blocked: Mapping[str, str] | None = None
) -> list[QueuedRequest]:
    """Lease up to `limit` of the named requests still queued and due (fires, Run now, Retry), as the claim does."""
    args: dict[str, Any] = {"p_ids": list(ids), "p_lease_seconds": lease_seconds, "p_limit": limit}
    if blocked:
        args["p_blocked"] = dict(blocked)
    rows = await db.call("claim_run_requests_by_id", **args)
    return [QueuedRequest.from_row(row) for row in rows]


@dataclass(frozen=True)
class Held:
    """Requests waiting for the deployment: the reason (naming the setting) and how many wait for it."""

    reason: str
    waiting: int


async def hold_run_requests(db: Database, *, blocked: Mapping[str, str], limit: int = 1000) -> list[Held]:
    """Mark the requests `blocked` names as held (no attempt spent); how many wait, per reason."""
    rows = await db.call("hold_run_requests", p_blocked=dict(blocked), p_limit=limit)
    return [Held(reason=str(row["reason"]), waiting=int(row["waiting"])) for row in rows]


async def list_due_run_requests(db: Database, *, limit: int) -> list[QueuedRequest]:
    """What `claim_run_requests` would take, in the same order, untouched (a dry run)."""
    rows = await db.call("list_due_run_requests", p_limit=limit)
    return [QueuedRequest.from_row(row) for row in rows]


async def settle_run_requests(db: Database, *, outcomes: Sequence[RequestSettle]) -> list[SettledRequest]:
    """Apply a group of outcomes in one statement; the rows it changed (a row whose token moved on is left out)."""
    rows = await db.call("settle_run_requests", p_outcomes=[asdict(outcome) for outcome in outcomes])
    return [
        SettledRequest(id=str(row["id"]), status=RequestStatus(row["status"]), outcome=RequestOutcome(row["outcome"]))
        for row in rows
    ]


async def request_run(
    db: Database,
    *,
    job_name: str,
    project_id: str,
    requested_by: str | None,
    payload: dict[str, Any] | None,
    dedup_key: str | None,
) -> RequestedRun:
    """Queue a run of a job; with `dedup_key`, a repeat returns the first request instead of a second."""
    rows = await db.call(
        "request_run",
        job_name=job_name,
        project_id=project_id,
        requested_by=requested_by,
        payload=payload,
        dedup_key=dedup_key,
    )
    row = first(rows, "request_run")
    return RequestedRun(
        id=str(row["id"]),
        job_id=str(row["job_id"]),
        project=str(row["project"]),
        status=RequestStatus(row["status"]),
        requested_at=str(row["requested_at"]),
    )


async def list_run_requests(db: Database, *, status: RequestStatus | None, limit: int) -> list[RequestRow]:
    """Requests, newest first, optionally of one status."""
    rows = await db.call("list_run_requests", p_status=str(status) if status else None, p_limit=limit)
    return [RequestRow.from_row(row) for row in rows]
