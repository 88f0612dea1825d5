"""The words the database and the service share: statuses, triggers, kinds.

Each is a `StrEnum`, so a member is the very string stored in its column and
sent in JSON (`RunStatus.OK == "ok"`), and Python and the tests name the same
values. The SQL in migrations/ checks the same sets.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """cron_runs.status: a run starts `running` and ends in one of the others."""

    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"
    SKIPPED = "skipped"
    ERROR = "error"


class RequestStatus(StrEnum):
    """cron_run_requests.status."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"


class ReminderStatus(StrEnum):
    """scheduled_reminders.status."""

    PENDING = "pending"
    SENT = "sent"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    FAILED = "failed"
    EXHAUSTED = "exhausted"


class AgentStatus(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


class Trigger(StrEnum):
    """What started a run (cron_runs.trigger)."""

    VERCEL_CRON = "vercel-cron"
    MANUAL = "manual"
    RUN_REQUEST = "run-request"
    SCHEDULE = "schedule"
    CLI = "cli"
    SUPABASE_CRON = "supabase-cron"


class ScheduleType(StrEnum):
    """cron_jobs.schedule_type."""

    VERCEL = "vercel"
    CRON = "cron"
    INTERVAL = "interval"
    ONCE = "once"
    MANUAL = "manual"


class JobKind(StrEnum):
    """cron_jobs.kind: a job from the registry, or a signed POST to a URL."""

    BUILTIN = "builtin"
    WEBHOOK = "webhook"


class RequestOutcome(StrEnum):
    """How one claimed run request settles (settle_run_requests)."""

    DONE = "done"
    ERROR = "error"
    RETRY = "retry"
    RELEASE = "release"


class ReminderOutcome(StrEnum):
    """How one claimed reminder settles (settle_reminders)."""

    DELIVERED = "delivered"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    RELEASED = "released"
    DEFERRED = "deferred"
