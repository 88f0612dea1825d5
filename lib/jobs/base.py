"""What a job is: a plain async function over a context, plus how to call it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lib.db import Database
from lib.deadline import Deadline
from lib.settings import Settings


@dataclass(frozen=True)
class JobContext:
    db: Database
    settings: Settings
    deadline: Deadline
    run_id: int
    trigger: str
    request_id: str
    dry_run: bool = False
    # The caller's cap on items this run handles; None means "as many as the budget allows".
    limit: int | None = None
    # The run request's payload, for jobs run by the drain; {} otherwise.
    payload: dict[str, Any] = field(default_factory=dict)
    # The registry this run was started from: the drain runs builtin jobs from
    # it, so no job module imports the registry (which imports every job).
    jobs: Mapping[str, Job] = field(default_factory=dict)
    # Requests begin_run_if_due held for a missing setting: {reason naming it: how many wait}.
    held: Mapping[str, int] = field(default_factory=dict)


@dataclass
class JobResult:
    stats: dict[str, Any]
    # Work is left for the next run (the budget or `limit` ended this one).
    has_more: bool = False
    # Some items failed while others succeeded: the run is `partial`.
    failures: int = 0


JobFunction = Callable[[JobContext], Awaitable[JobResult]]


def no_requirements(settings: Settings) -> str | None:
    return None


@dataclass(frozen=True)
class Job:
    name: str
    run: JobFunction
    summary: str
    # The largest `limit` a caller may ask for.
    max_limit: int
    # A setting the job cannot run without, as a 503 message; None when all is there.
    config_problem: Callable[[Settings], str | None] = no_requirements
    # What a run that finds nothing to do reports, for a job whose "nothing
    # to do" SQL can tell (begin_run_if_due): such a run is begun, found
    # empty, recorded and closed in one database call. None: always run.
    empty_stats: Mapping[str, Any] | None = None
    # What this deployment cannot run for want of a setting, for begin_run_if_due to hold:
    # {kind or "builtin:<target>": reason naming the setting}.
    blocked: Callable[[Settings, Mapping[str, Job]], Mapping[str, str]] | None = None
