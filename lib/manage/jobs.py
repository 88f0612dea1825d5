"""Jobs: list, show, create, edit, delete, pause, resume and run now."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from lib.clock.schedules import ScheduleError, first_fire, parse_schedule
from lib.db.port import Database
from lib.db.queries import manage as queries
from lib.db.queries.manage import JobRecord
from lib.manage import alert_controls
from lib.manage.describe import describe_mirrored, describe_schedule, next_fire_times, next_run, vercel_schedule
from lib.manage.errors import ManageError, id_of, translated
from lib.manage.models import MAX_PAGE, JobDetail, JobFilter, JobInput, JobPage, JobView, RequestView, RunView
from lib.manage.validate import SCHEDULE_FIELDS, TARGET_FIELDS, check_definition, check_payload, invalid
from lib.outbound.policy import without_credentials

# Fields of a job's definition (JobInput's, less the alert controls, which have their own write).
FIELDS = tuple(field for field in JobInput.model_fields if field not in alert_controls.ALERT_FIELDS)
DETAIL_HISTORY = 20


def view(record: JobRecord, now: datetime | None = None) -> JobView:
    """The Job object for a row: its schedule in words and when it fires next."""
    moment = now or datetime.now(UTC)
    # From the parsed record's values (validating those is cheap; model_construct is slower). A copy of
    # the model's own dict, not a getattr per field: the jobs panel's hottest line (bench/console.py).
    # JobView ignores what it has no field for (resumed_at).
    fields = dict(record.__dict__)
    # Credentials a stored URL may carry (written before the outbound policy, or by SQL) are never shown.
    fields["target"] = without_credentials(record.target)
    fields["schedule_text"] = describe_schedule(record.schedule_type, _schedule_text_of(record), record.timezone)
    fields["next_run_at"] = next_run(record, moment, record.resumed_at)
    if record.worker is not None:
        fields["worker"] = {**record.worker, "schedule_text": describe_mirrored(record.worker)}
    return JobView.model_validate(fields)


def _schedule_text_of(record: JobRecord) -> str | None:
    """The schedule to describe: vercel.json's own for its jobs (what Vercel fires), else the row's."""
    if record.schedule_type == "vercel":
        return vercel_schedule(record.target or record.name) or record.schedule
    return record.schedule


def page_bounds(limit: int, offset: int) -> tuple[int, int]:
    if limit < 1:
        raise invalid("limit", "limit must be a positive integer")
    if offset < 0:
        raise invalid("offset", "offset must be 0 or more")
    return min(limit, MAX_PAGE), offset


def job_id_of(ref: UUID | str) -> UUID:
    return id_of(ref, "job")


async def list_jobs(
    db: Database,
    *,
    project: str | None = None,
    q: str | None = None,
    filter: JobFilter = "all",
    limit: int = 50,
    offset: int = 0,
) -> JobPage:
    """A page of jobs in (project, name) order, with every project's id and whether more follow: one round trip."""
    if filter not in ("all", "enabled", "paused", "failing"):
        raise invalid("filter", "filter must be all, enabled, paused or failing")
    limit, offset = page_bounds(limit, offset)
    with translated():
        page = await queries.ops_list_jobs(db, project=project, q=q, filter=filter, limit=limit, offset=offset)
    now = datetime.now(UTC)
    return JobPage(jobs=[view(job, now) for job in page.jobs], projects=page.projects, has_more=page.has_more)


async def find_job(db: Database, ref: str, *, project: str = "default") -> JobView:
    """A job by id, or by name in `project` (the CLI's way); 404 when there is none."""
    try:
        job_id: UUID | None = UUID(ref)
    except ValueError:
        job_id = None
    with translated():
        found = await queries.ops_get_job(db, job_id=job_id, project=project, name=None if job_id else ref, history=0)
    if found is None:
        where = "" if job_id else f" in project {project!r}"
        raise ManageError(f"no job {ref[:100]!r}{where}", status=404)
    return view(found.job)


async def get_job(db: Database, job_id: UUID | str) -> JobDetail:
    """A job with its next fire times, its latest runs (builtin) and run requests: one round trip."""
    wanted = job_id_of(job_id)
    with translated():
        found = await queries.ops_get_job(db, job_id=wanted, history=DETAIL_HISTORY)
    if found is None:
        raise ManageError(f"no job with id {str(wanted)!r}", status=404)
    now = datetime.now(UTC)
    job = view(found.job, now)
    return JobDetail(
        job=job,
        next_runs=next_fire_times(job, 5, now),
        runs=[RunView.model_validate(dict(run)) for run in found.runs],
        requests=[RequestView.model_validate(dict(request)) for request in found.requests],
    )


async def create_job(
    db: Database, data: JobInput, *, allow_http_webhooks: bool = False, allow_private_targets: bool = False
) -> JobView:
    """Validate, then insert a database-defined job (409 when its name is taken in its project).

    `allow_http_webhooks` is the ALLOW_HTTP_WEBHOOKS setting: plain http to
    localhost targets, for local development.
    """
    fields, controls = alert_controls.split(data.model_dump())
    definition = check_definition(
        fields, allow_http_webhooks=allow_http_webhooks, allow_private_targets=allow_private_targets
    )
    checked = alert_controls.check_alert_controls(
        {k: v for k, v in controls.items() if v != alert_controls.DEFAULTS[k]}
    )
    with translated():
        # Next run known at once: the first fire is stored in the same write.
        record = await queries.ops_create_job(db, **definition, next_run_at=first_run_at(definition))
    if checked:
        record = await alert_controls.set_alert_controls(db, record.id, checked)
    return view(record)


def first_run_at(definition: dict[str, Any], now: datetime | None = None) -> datetime | None:
    """When a job with this (checked) definition fires first, as the schedule job would compute it.

    Stored with the write that creates the job or changes its schedule, so
    the next run shown never moves before the first tick. None for a job
    that does not fire on its own (manual, vercel.json's), and for `once`,
    whose instant is fixed by its text and the row's created_at (`in 20m`):
    the schedule job computes it from those, and so does every reader.
    """
    if definition.get("schedule_type") not in ("cron", "interval"):
        return None
    moment = now or datetime.now(UTC)
    try:
        schedule = parse_schedule(
            definition["schedule_type"], definition.get("schedule"), definition.get("timezone"), moment
        )
        return first_fire(schedule, moment)
    except ScheduleError:
        # Already checked; a schedule this cannot read is the schedule job's to report.
        return None


async def update_job(
    db: Database,
    job_id: UUID | str,
    changes: dict[str, Any],
    *,
    allow_http_webhooks: bool = False,
    allow_private_targets: bool = False,
    version: int | None = None,
) -> JobView:
    """Change some fields of a job; what changes is validated first (see check_definition).

    409 for a definition change of vercel.json's jobs (only run, pause and
    resume apply, and the alert controls, which any job has) and for a name
    taken in the project.
    `version`: the job's version the edit was based on; when the job is at
    another one now, someone else changed it: 409 (field `version`) and
    nothing is written. None skips the check (the CLI's `jobs edit`).
    """
    definition, controls = alert_controls.split(changes)
    checked = alert_controls.check_alert_controls(controls)
    job_view = (
        await _update_definition(
            db,
            job_id,
            definition,
            allow_http_webhooks=allow_http_webhooks,
            allow_private_targets=allow_private_targets,
            version=version,
        )
        if definition or not checked
        else None
    )
    if checked:
        return view(await alert_controls.set_alert_controls(db, job_id_of(job_id), checked))
    assert job_view is not None
    return job_view


async def _update_definition(
    db: Database,
    job_id: UUID | str,
    changes: dict[str, Any],
    *,
    allow_http_webhooks: bool = False,
    allow_private_targets: bool = False,
    version: int | None = None,
) -> JobView:
    unknown = sorted(set(changes) - set(FIELDS))
    if unknown:
        raise invalid(unknown[0], f"{unknown[0]} is not a field of a job that can be changed")
    wanted = job_id_of(job_id)
    with translated():
        found = await queries.ops_get_job(db, job_id=wanted, history=0)
    if found is None:
        raise ManageError(f"no job with id {str(wanted)!r}", status=404)
    current = found.job
    if version is not None and version != current.version:
        raise stale_version(current.version, version)
    if not current.editable:
        raise ManageError("builtin jobs are defined by vercel.json; only run, pause and resume apply", status=409)
    merged = {field: getattr(current, field) for field in FIELDS} | changes
    unchanged = frozenset(field for field in FIELDS if merged[field] == getattr(current, field))
    definition = check_definition(
        merged,
        allow_http_webhooks=allow_http_webhooks,
        allow_private_targets=allow_private_targets,
        created_at=current.created_at,
        unchanged=unchanged,
    )
    # What changed, with the rest of its group, so what is written is what was checked together.
    sent_fields = set(FIELDS) - unchanged
    for group in (TARGET_FIELDS, SCHEDULE_FIELDS):
        if group & sent_fields:
            sent_fields |= group
    sent: dict[str, Any] = {field: definition[field] for field in FIELDS if field in sent_fields}
    if SCHEDULE_FIELDS & sent_fields:
        # A changed schedule fires next at its first tick from now, stored in the same write.
        first = first_run_at(definition)
        if first is not None:
            sent["next_run_at"] = first.isoformat()
    with translated():
        # The version is checked again under the row's lock: an edit that lands between the read and here loses.
        record = await queries.ops_update_job(db, job_id=wanted, changes=sent, version=version)
    return view(record)


def stale_version(current: int, based_on: int) -> ManageError:
    """The 409 of an edit based on an older version (the same words as job_versions.sql's)."""
    message = f"someone else changed this job (it is at version {current}, the edit was based on {based_on})"
    return ManageError(message, status=409, field="version")


async def delete_job(db: Database, job_id: UUID | str) -> None:
    """Delete a database-defined job and its run requests (409 for vercel.json's jobs, 404 when there is none)."""
    wanted = job_id_of(job_id)
    with translated():
        deleted = await queries.ops_delete_job(db, job_id=wanted)
    if not deleted:
        raise ManageError(f"no job with id {str(wanted)!r}", status=404)


async def pause_job(db: Database, job_id: UUID | str) -> JobView:
    """Pause any job: its schedule stops, its route answers skipped, its queued requests are held."""
    with translated():
        record = await queries.ops_set_job_enabled(db, job_id=job_id_of(job_id), enabled=False)
    return view(record)


async def resume_job(db: Database, job_id: UUID | str) -> JobView:
    """Resume a paused job: a cron or interval job fires next at its first tick after now, missed ticks skipped."""
    with translated():
        record = await queries.ops_set_job_enabled(db, job_id=job_id_of(job_id), enabled=True)
    return view(record)


async def run_now(
    db: Database, job_id: UUID | str, *, requested_by: str, payload: dict[str, Any] | None = None
) -> RequestView:
    """Queue a run request for the job (the drain runs it); 409 when the job is paused.

    `payload`, when given, replaces the job's payload for this run. A fresh
    dedup key per call makes the adapters' retry of a lost answer harmless.
    """
    if payload is not None:
        check_payload(payload)
    with translated():
        request = await queries.ops_run_now(
            db,
            job_id=job_id_of(job_id),
            requested_by=requested_by,
            payload=payload,
            dedup_key=f"{requested_by}:{uuid.uuid4()}",
        )
    return RequestView.model_validate(dict(request))
