"""Workers: migrations' workers concern (the worker API, and managing workers).

The four worker moves (sync, claim, extend, settle) take the worker's own
token; the SQL hashes it, finds the worker, records its heartbeat and scopes
the move to that worker's jobs. An unknown or revoked token is a
`DatabaseError` with code PT401; a bad argument PT422.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from lib.db.port import Database, Row
from lib.db.queries._parse import first, timestamp

REFUSED = "PT401"


@dataclass(frozen=True)
class SyncOutcome:
    upserted: int
    removed: int
    # {job_id, name, reason} of the jobs not written (a name another job has), at most 100.
    rejected: list[dict[str, Any]]


@dataclass(frozen=True)
class ClaimedRequest:
    """A run request handed to a worker, with what it needs to run and settle it."""

    id: str
    job_id: str
    # The worker's own id for the job (cron_jobs.target).
    job_key: str
    job_name: str
    payload: Any
    instructions: str | None
    attempt: int
    max_attempts: int
    requested_at: datetime
    requested_by: str | None
    locked_until: datetime
    claim_token: str
    recovered: bool

    @classmethod
    def from_row(cls, row: Row) -> ClaimedRequest:
        return cls(
            id=str(row["id"]),
            job_id=str(row["job_id"]),
            job_key=str(row["job_key"]),
            job_name=str(row["job_name"]),
            payload=row["payload"],
            instructions=row["instructions"],
            attempt=int(row["attempt"]),
            max_attempts=int(row["max_attempts"]),
            requested_at=timestamp(row["requested_at"], "requested_at"),
            requested_by=row["requested_by"],
            locked_until=timestamp(row["locked_until"], "locked_until"),
            claim_token=str(row["claim_token"]),
            recovered=bool(row["recovered"]),
        )


@dataclass(frozen=True)
class Settled:
    id: str
    status: str
    outcome: str


async def worker_sync(db: Database, *, token: str, jobs: list[dict[str, Any]], complete: bool) -> SyncOutcome:
    """Upsert the worker's mirrored jobs (at most 1000); with `complete`, mark the missing ones removed."""
    row = first(await db.call("worker_sync", p_token=token, p_jobs=jobs, p_complete=complete), "worker_sync")
    return SyncOutcome(int(row["upserted"]), int(row["removed"]), list(row["rejected"] or []))


async def worker_claim(db: Database, *, token: str, limit: int, lease_seconds: int) -> list[ClaimedRequest]:
    """Claim up to `limit` (1-50) of the worker's due requests, recovered ones first; [] when none waits."""
    rows = await db.call("worker_claim", p_token=token, p_limit=limit, p_lease_seconds=lease_seconds)
    return [ClaimedRequest.from_row(row) for row in rows]


async def worker_extend(
    db: Database, *, token: str, request_id: UUID, claim_token: UUID, lease_seconds: int
) -> datetime | None:
    """The request's new lease end, or None when the claim token is stale (nothing changed)."""
    rows = await db.call(
        "worker_extend",
        p_token=token,
        p_request_id=request_id,
        p_claim_token=claim_token,
        p_lease_seconds=lease_seconds,
    )
    return timestamp(rows[0]["locked_until"], "locked_until") if rows else None


async def worker_settle(db: Database, *, token: str, outcomes: list[dict[str, Any]]) -> list[Settled]:
    """Settle up to 50 outcomes; the answer lists those whose claim token still held."""
    rows = await db.call("worker_settle", p_token=token, p_outcomes=outcomes)
    return [Settled(str(row["id"]), str(row["status"]), str(row["outcome"])) for row in rows]


async def ops_add_worker(db: Database, *, project_id: str, name: str, token_hash: str) -> dict[str, Any]:
    """A new worker's Worker object (PT409 when the name is taken in the project)."""
    row = first(
        await db.call("ops_add_worker", p_project_id=project_id, p_name=name, p_token_hash=token_hash),
        "ops_add_worker",
    )
    worker: dict[str, Any] = row["worker"]
    return worker


async def ops_list_workers(db: Database, *, project: str | None = None) -> list[dict[str, Any]]:
    """Every worker's Worker object (of `project`, or all), in (project, name) order, at most 1000."""
    row = first(await db.call("ops_list_workers", p_project=project), "ops_list_workers")
    return list(row["workers"] or [])


async def ops_revoke_worker(
    db: Database, *, worker_id: UUID | None = None, project: str | None = None, name: str | None = None
) -> dict[str, Any]:
    """Revoke a worker by id, or by project and name (PT404 when there is none); a repeat is harmless."""
    row = first(
        await db.call("ops_revoke_worker", p_worker_id=worker_id, p_project=project, p_name=name),
        "ops_revoke_worker",
    )
    worker: dict[str, Any] = row["worker"]
    return worker
