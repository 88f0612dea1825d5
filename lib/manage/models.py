"""The objects job management takes and gives, shaped exactly like the console API's JSON.

`model.model_dump(mode="json")` is the console's Job, Request and Run object
(docs: the README's "Managing jobs" and lib/ops), timestamps as ISO 8601 in UTC.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from lib.db.queries.manage import Instant, RequestRecord, RunRecord

JobFilter = Literal["all", "enabled", "paused", "failing"]
# Lists never return more than this per page, and never ask the database for more than 1000 rows.
MAX_PAGE = 200


class JobInput(BaseModel):
    """A database-defined job to create; `update_job` takes a partial dict of the same fields."""

    model_config = ConfigDict(extra="forbid")

    project_id: str = "default"
    name: str
    kind: Literal["builtin", "webhook"] = "webhook"
    # A builtin job's name (lib/jobs/registry.py), or the webhook's https URL.
    target: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    schedule_type: Literal["cron", "interval", "once", "manual"] = "manual"
    schedule: str | None = None
    timezone: str = "UTC"
    enabled: bool = True
    # Noise control: seconds or a duration (`30m`, `1h`); realert_after None: never.
    alert_after_failures: int = 1
    realert_after: int | str | None = None
    overdue_grace: int | str = 300
    alerts_enabled: bool = True


class WorkerOfJob(BaseModel):
    """A worker job's worker (online: seen in the last 2 minutes) and what the worker mirrors of the job."""

    model_config = ConfigDict(frozen=True)

    id: UUID | None
    name: str | None
    last_seen_at: Instant
    online: bool | None
    revoked: bool | None
    # The worker's own schedule, as it reports it, and in words ("every 2 hours (UTC)").
    schedule_kind: str | None
    schedule: str | None
    schedule_text: str
    timezone: str | None
    enabled: bool | None
    next_run_at: Instant
    instructions: str | None
    mirrored_at: Instant
    # Set when the worker's last complete sync no longer listed the job.
    removed_at: Instant


class JobView(BaseModel):
    """The console's Job object."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    project_id: str
    name: str
    kind: Literal["builtin", "webhook", "worker"]
    target: str | None
    payload: Any
    schedule_type: Literal["vercel", "cron", "interval", "once", "manual"]
    schedule: str | None
    timezone: str
    # The schedule in words, with its time zone: "every 5 minutes (UTC)".
    schedule_text: str
    enabled: bool
    source: str
    # False for vercel.json's jobs: only run, pause and resume apply to them.
    editable: bool
    # What an edit sends back (`If-Match` or "version"): a stale one is a 409.
    version: int
    # When it fires next: vercel rows from vercel.json, a resumed job at its
    # first tick after the resume; None when paused, manual, fired or broken.
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None
    last_duration_ms: int | None
    schedule_error: str | None
    fired_at: datetime | None
    created_at: datetime | None
    updated_at: datetime | None
    # Worker jobs only: their worker and mirrored fields.
    worker: WorkerOfJob | None = None
    # Noise control (DESIGN.md, Alerts; lib/manage/alert_controls.py), durations in seconds.
    alert_after_failures: int = 1
    realert_after: int | None = None
    overdue_grace: int = 300
    alerts_enabled: bool = True


class RequestView(RequestRecord):
    """The console's Request object: a run request, its job's name, `held` and `retry_of`."""


class RunView(RunRecord):
    """The console's Run object: one ledger row."""


class JobPage(BaseModel):
    jobs: list[JobView]
    # Every project that has a job, for the project switcher.
    projects: list[str]
    has_more: bool


class JobDetail(BaseModel):
    job: JobView
    # Its next fire times (up to five); empty when it will not fire.
    next_runs: list[datetime]
    # Its builtin job's ledger rows, newest first (empty for webhook jobs).
    runs: list[RunView]
    # Its run requests, newest first: a webhook job's history.
    requests: list[RequestView]


class RequestPage(BaseModel):
    requests: list[RequestView]
    has_more: bool


class RunPage(BaseModel):
    runs: list[RunView]
    has_more: bool
