"""The one registry of jobs. Routes, the CLI and benchmarks read it, and hand it
to each run (JobContext.jobs), so the run-request drain finds builtin jobs
without importing this module back."""

from __future__ import annotations

from lib.jobs import check_stale, cleanup_heartbeats, prune_history, reminders, run_requests, schedule
from lib.jobs.base import Job

JOBS: dict[str, Job] = {
    module.JOB.name: module.JOB
    for module in (
        check_stale,
        cleanup_heartbeats,
        prune_history,
        reminders,
        run_requests,
        schedule,
    )
}
