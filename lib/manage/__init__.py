"""Job management: the one module every caller uses (the CLI's `jobs` and `retry`, the console's JSON API).

    from lib import manage
    page = await manage.list_jobs(db, project="default", filter="failing")

Typed async functions over the Database port, through the typed query layer
(lib/db/queries/manage.py; the SQL is migrations/repeatable/manage_jobs.sql,
manage_requests.sql and manage_runs.sql). The models are pydantic and
shaped exactly like the console API's JSON objects, so the API answers `model.model_dump(mode="json")` unchanged:

- `JobView` (the Job object), `RequestView` (Request), `RunView` (Run);
- `JobPage {jobs, projects, has_more}`, `JobDetail {job, next_runs, runs, requests}`,
  `RequestPage {requests, has_more}`, `RunPage {runs, has_more}`;
- `JobInput`: what `create_job` takes; `update_job` takes a partial dict of its fields.

Functions (ids are UUIDs or their text):

    list_jobs(db, *, project=None, q=None, filter="all"|"enabled"|"paused"|"failing", limit=50, offset=0) -> JobPage
    find_job(db, ref, *, project="default") -> JobView            # ref: an id, or a name in `project`
    get_job(db, job_id) -> JobDetail
    create_job(db, data: JobInput, *, allow_http_webhooks=False, allow_private_targets=False) -> JobView
    update_job(db, job_id, changes: dict, *, allow_http_webhooks=False, allow_private_targets=False,
               version=None) -> JobView                            # version: 409 when the job is at another
    delete_job(db, job_id) -> None
    pause_job(db, job_id) -> JobView
    resume_job(db, job_id) -> JobView
    run_now(db, job_id, *, requested_by, payload=None) -> RequestView
    execute_now(db, settings, request) -> Executed   # Run now runs now: after run_now or retry_request
    list_requests(db, *, project=None, job_id=None, status=None, limit=50, offset=0) -> RequestPage
    get_request(db, request_id) -> RequestView
    retry_request(db, request_id, *, requested_by) -> RequestView   # once: 409 when already retried
    get_request_detail(db, request_id) -> RequestDetail            # the request and every attempt
    cancel_request(db, request_id, *, by) -> RequestView          # a queued or held one; 409 when running
    bulk_requests(db, "retry"|"cancel", *, by, project=None, job_id=None, status=None,
                  since=None, until=None, dry_run=True) -> BulkResult
    list_runs(db, *, job=None, status=None, limit=50, offset=0) -> RunPage
    list_alerts(db, settings, *, limit=50, before_id=None) -> AlertPage   # lib/manage/alerts.py
    send_test_alert(db, settings, *, requested_by) -> AlertView
    pending_unconfigured(db, settings) -> list[UnconfiguredChannel]   # pending on channels not set here
    describe_schedule(schedule_type, schedule, timezone) -> str
    next_fire_times(job, count=5, now=None) -> list[datetime]

Operators and roles (lib/manage/actors.py, acting.py, operators.py):

    acting(db, actor) -> Database       # the port, acting for an Actor: roles checked, writes audited
    list_operators(db) -> OperatorList; add_operator(db, name, role, password=None) -> NewPassword
    set_role(db, name, role); set_disabled(db, name, disabled); set_password(db, name, password=None)
    list_audit(db, *, actor=None, object_id=None, limit=50, offset=0) -> AuditList

  viewer reads; operator also runs, pauses, resumes, retries and cancels;
  admin also creates, edits and deletes jobs and manages operators. A
  refusal is ManageError status 403. Every write through an acting port is
  recorded in ops_audit with who did it and the fields before and after.

Rules:

- Every refusal is a `ManageError(message, status, field)`: 404 unknown job
  or request; 409 a name taken in its project, an edit or delete of one of
  vercel.json's jobs (only run, pause and resume apply to them), a run or
  retry of a paused job, a retry of a request that did not end `error` or
  was retried already, an edit based on an older `version` (field
  `version`), a cancel of a request that is not queued; 422
  invalid input, `field` naming it (name, project_id, kind, target, payload,
  schedule_type, schedule, timezone, enabled, status, filter, limit, offset).
  The message is one line and never echoes a webhook URL (it can carry a
  token) or any setting. Any other database failure is raised as is
  (`DatabaseError`, `DatabaseUnavailable`).
- Validation before writing: the schedule and timezone parse as the
  `schedule` job will parse them (lib/clock/schedules.py), and a cron
  expression must fire at least once; a webhook target passes
  lib/outbound/webhooks.target_problem, the outbound policy of
  lib/outbound/policy.py (`allow_http_webhooks` is the ALLOW_HTTP_WEBHOOKS
  setting, `allow_private_targets` ALLOW_PRIVATE_TARGETS); a payload is a JSON
  object at most 32 levels deep and 64 KB (lib/manage/limits.py); a builtin target is a name in
  lib/jobs/registry.JOBS; names and project ids are 1 to 100 characters of
  letters, digits and `. _ : -`; a manual job has no schedule. The SQL checks
  again what must hold atomically (unique names, editability, the retried
  request's status).
- Pausing is `enabled = false` on any job; resuming a cron or interval job
  skips the ticks it missed (DESIGN.md, Pausing), and `next_run_at` shows its
  first tick after the resume. `next_run_at` is None for a job that will not
  fire (paused, manual, a `once` that fired, a schedule in error); for
  vercel.json's jobs it is the next tick of their vercel.json cron (UTC).
- `run_now` and `retry_request` send a fresh key per call, so an adapter's
  retry after a lost answer returns the first request instead of a second.
  Edits, deletes, pauses and resumes are naturally safe to repeat (a repeated
  delete finds nothing: 404); a repeated create hears 409 for the job its
  first attempt made, which the caller finds by its name.
- An edit checks only what it changes (kind with target, and schedule_type,
  schedule and timezone, as groups), so a row written by hand that these
  rules would refuse can still be edited into shape, paused or run.
- Every list is one database round trip answering one row (a JSON array),
  at most 200 items per page (`has_more` says when more follow); the jobs
  panel (`list_jobs`) and a job's page (`get_job`) are one call each. A job's
  `runs` are the ledger rows of its builtin job (the ledger names runs after
  the job that ran); a webhook job's history is its `requests`.
"""

from __future__ import annotations

from lib.manage.acting import acting, actor_of, require
from lib.manage.actors import CLI, CRON_SECRET, ROLES, Actor, Role
from lib.manage.alerts import (
    AlertPage,
    AlertView,
    UnconfiguredChannel,
    list_alerts,
    pending_unconfigured,
    send_test_alert,
)
from lib.manage.describe import describe_schedule, next_fire_times
from lib.manage.errors import ManageError
from lib.manage.execute import Executed, execute_now
from lib.manage.history import BulkResult, RequestDetail, bulk_requests, cancel_request, get_request_detail
from lib.manage.jobs import (
    create_job,
    delete_job,
    find_job,
    get_job,
    list_jobs,
    pause_job,
    resume_job,
    run_now,
    update_job,
)
from lib.manage.models import (
    JobDetail,
    JobInput,
    JobPage,
    JobView,
    RequestPage,
    RequestView,
    RunPage,
    RunView,
)
from lib.manage.operators import (
    AuditList,
    NewPassword,
    OperatorList,
    OperatorView,
    add_operator,
    list_audit,
    list_operators,
    set_disabled,
    set_password,
    set_role,
)
from lib.manage.requests import get_request, list_requests, retry_request
from lib.manage.runs import list_runs

__all__ = [
    "CLI",
    "CRON_SECRET",
    "ROLES",
    "Actor",
    "AlertPage",
    "AlertView",
    "AuditList",
    "BulkResult",
    "Executed",
    "JobDetail",
    "JobInput",
    "JobPage",
    "JobView",
    "ManageError",
    "NewPassword",
    "OperatorList",
    "OperatorView",
    "RequestDetail",
    "RequestPage",
    "RequestView",
    "Role",
    "RunPage",
    "RunView",
    "UnconfiguredChannel",
    "acting",
    "actor_of",
    "add_operator",
    "bulk_requests",
    "cancel_request",
    "create_job",
    "delete_job",
    "describe_schedule",
    "execute_now",
    "find_job",
    "get_job",
    "get_request",
    "get_request_detail",
    "list_alerts",
    "list_audit",
    "list_jobs",
    "list_operators",
    "list_requests",
    "list_runs",
    "next_fire_times",
    "pause_job",
    "pending_unconfigured",
    "require",
    "resume_job",
    "retry_request",
    "run_now",
    "send_test_alert",
    "set_disabled",
    "set_password",
    "set_role",
    "update_job",
]
