"""Job management (lib/manage): every action through the module, through both adapters.

The console's API and the CLI are thin over this module, so the rules live
here: validation before writing (422 naming the field), vercel.json's jobs
only run / pause / resume (409), unique names (409), retries linked to the
failed request, pausing and resuming around a due tick without a burst, and
each panel in one database round trip.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest
import respx

from lib import manage
from lib.db import Database, DatabaseError
from lib.db.queries import manage as queries
from lib.db.statuses import Trigger
from lib.jobs.registry import JOBS
from lib.manage import JobInput, ManageError
from lib.manage.errors import translated
from lib.migrate import vercel_crons
from lib.runner import run_job
from lib.settings import Settings
from tests.conftest import AUTH, app_client
from tests.factories import HOOK, add_job, add_request
from tests.fakes.counting import CountingDatabase
from tests.fakes.webhook import WEBHOOK_SECRET, hook_route

JOB_KEYS = {
    "id", "project_id", "name", "kind", "target", "payload", "schedule_type", "schedule", "timezone",
    "schedule_text", "enabled", "source", "editable", "next_run_at", "last_run_at", "last_status",
    "last_duration_ms", "schedule_error", "fired_at", "created_at", "updated_at", "version", "worker",
    "alert_after_failures", "realert_after", "overdue_grace", "alerts_enabled",
}  # fmt: skip
REQUEST_KEYS = {
    "id", "job_id", "job_name", "project_id", "status", "held", "held_reason", "requested_by", "requested_at",
    "picked_up_at", "completed_at", "attempts", "max_attempts", "available_at", "result", "payload", "retry_of",
    "retried_by",
}  # fmt: skip
RUN_KEYS = {
    "id", "job", "trigger", "status", "started_at", "finished_at", "duration_ms", "stats", "error", "request_id",
    "dry_run", "has_more",
}  # fmt: skip


def hook(name: str = "hook", **fields: Any) -> JobInput:
    return JobInput(name=name, target=HOOK, **fields)


async def job_row(sql: asyncpg.Connection, job_id: Any) -> asyncpg.Record:
    row = await sql.fetchrow("select * from cron_jobs where id = $1::uuid", str(job_id))
    assert row is not None
    return row


async def refused(action: Any) -> ManageError:
    with pytest.raises(ManageError) as caught:
        await action
    return caught.value


# -- list and show ------------------------------------------------------------------------


async def test_list_jobs_is_one_round_trip_with_the_contracts_shape(db: Database, sql: asyncpg.Connection) -> None:
    await add_job(sql, "nightly", schedule_type="cron", schedule="0 7 * * *", timezone="Europe/Berlin")
    await add_job(sql, "sync", project_id="acme", enabled=False)
    counting = CountingDatabase(db)

    page = await manage.list_jobs(counting)

    assert dict(counting.calls) == {"ops_list_jobs": 1}
    body = page.model_dump(mode="json")
    assert set(body) == {"jobs", "projects", "has_more"} and body["has_more"] is False
    assert body["projects"] == ["acme", "default"]
    assert all(set(job) == JOB_KEYS for job in body["jobs"])
    names = [(job["project_id"], job["name"]) for job in body["jobs"]]
    assert names == sorted(names) and len(names) == len(vercel_crons()) + 2
    nightly = next(job for job in page.jobs if job.name == "nightly")
    assert nightly.schedule_text == "at 07:00 every day (Europe/Berlin)" and nightly.editable
    # Never scheduled yet: its first tick after now, 07:00 on Berlin's clock.
    assert nightly.next_run_at is not None and nightly.next_run_at.astimezone(UTC).minute == 0
    assert body["jobs"][0]["created_at"].endswith("Z")


async def test_list_jobs_next_run_of_vercel_rows_comes_from_vercel_json(db: Database, sql: asyncpg.Connection) -> None:
    # The row's own schedule is stale; vercel.json is what Vercel fires.
    await sql.execute("update cron_jobs set schedule = '0 0 1 1 *' where name = 'check-stale'")
    page = await manage.list_jobs(db, q="check-stale")

    [job] = page.jobs
    cron = dict(vercel_crons())["check-stale"]
    assert (job.schedule_type, job.editable) == ("vercel", False)
    assert job.next_run_at is not None and job.next_run_at - datetime.now(UTC) <= timedelta(minutes=5)
    assert cron == "*/5 * * * *" and job.next_run_at.minute % 5 == 0 and job.next_run_at.second == 0


async def test_list_jobs_filters_searches_and_pages(db: Database, sql: asyncpg.Connection) -> None:
    for i in range(5):
        await add_job(sql, f"report_{i}")
    await add_job(sql, "report%x")
    await add_job(sql, "quiet", enabled=False)
    await sql.execute("update cron_jobs set last_status = 'error' where name = 'report_3'")
    await sql.execute("update cron_jobs set schedule_error = 'bad' where name = 'report_4'")

    first = await manage.list_jobs(db, q="REPORT_", limit=2)
    second = await manage.list_jobs(db, q="report_", limit=2, offset=2)
    last = await manage.list_jobs(db, q="report_", limit=2, offset=4)
    # `_` and `%` are matched literally, not as LIKE wildcards.
    assert [j.name for j in first.jobs] == ["report_0", "report_1"] and first.has_more
    assert [j.name for j in second.jobs] == ["report_2", "report_3"] and second.has_more
    assert [j.name for j in last.jobs] == ["report_4"] and not last.has_more
    assert [j.name for j in (await manage.list_jobs(db, q="%")).jobs] == ["report%x"]
    assert [j.name for j in (await manage.list_jobs(db, filter="paused")).jobs] == ["quiet"]
    assert [j.name for j in (await manage.list_jobs(db, filter="failing")).jobs] == ["report_3", "report_4"]
    enabled = await manage.list_jobs(db, filter="enabled", limit=200)
    assert "quiet" not in {j.name for j in enabled.jobs}
    assert (await manage.list_jobs(db, project="nope")).jobs == []


async def test_times_python_cannot_hold_read_as_null_and_the_page_still_lists(
    db: Database, sql: asyncpg.Connection
) -> None:
    job_id = await add_job(sql, "odd", schedule_type="interval", schedule="5m")
    await sql.execute(
        "update cron_jobs set next_run_at = '-infinity', last_run_at = '0044-03-15 BC', fired_at = '20000-01-01', "
        "created_at = 'infinity' where id = $1::uuid",
        job_id,
    )

    [job] = (await manage.list_jobs(db, q="odd")).jobs

    assert (job.last_run_at, job.fired_at, job.created_at) == (None, None, None)
    assert job.updated_at is not None and job.updated_at.utcoffset() == timedelta(0)
    assert (await manage.get_job(db, job_id)).job.name == "odd"


async def test_lists_are_capped_at_200(db: Database, sql: asyncpg.Connection) -> None:
    await sql.execute(
        "insert into cron_jobs (project_id, name, kind, target) "
        "select 'bulk', 'job-' || lpad(i::text, 4, '0'), 'webhook', $1 from generate_series(1, 250) i",
        HOOK,
    )
    page = await manage.list_jobs(db, project="bulk", limit=1000)
    assert len(page.jobs) == 200 and page.has_more
    rest = await manage.list_jobs(db, project="bulk", limit=200, offset=200)
    assert len(rest.jobs) == 50 and not rest.has_more
    assert (await refused(manage.list_jobs(db, limit=0))).field == "limit"
    assert (await refused(manage.list_jobs(db, filter="odd"))).field == "filter"  # type: ignore[arg-type]


async def test_find_job_by_name_or_id_and_404(db: Database, sql: asyncpg.Connection) -> None:
    job_id = await add_job(sql, "sync", project_id="acme")

    assert str((await manage.find_job(db, "sync", project="acme")).id) == job_id
    assert (await manage.find_job(db, job_id)).name == "sync"
    missing = await refused(manage.find_job(db, "sync"))
    assert (missing.status, missing.field, str(missing)) == (404, None, "no job 'sync' in project 'default'")
    assert (await refused(manage.get_job(db, uuid4()))).status == 404
    assert (await refused(manage.get_job(db, "not-a-uuid"))).status == 404


async def test_get_job_shows_its_runs_requests_and_next_fire_times_in_one_round_trip(
    db: Database, settings: Settings, sql: asyncpg.Connection
) -> None:
    await run_job(JOBS["check-stale"], db=db, settings=settings, trigger=Trigger.CLI)
    builtin = await manage.find_job(db, "check-stale")
    queued = await manage.run_now(db, builtin.id, requested_by="test")
    counting = CountingDatabase(db)

    detail = await manage.get_job(counting, builtin.id)

    assert dict(counting.calls) == {"ops_get_job": 1}
    body = detail.model_dump(mode="json")
    assert set(body) == {"job", "next_runs", "runs", "requests"}
    assert [run["trigger"] for run in body["runs"]] == ["cli"] and set(body["runs"][0]) == RUN_KEYS
    assert [r["id"] for r in body["requests"]] == [str(queued.id)] and set(body["requests"][0]) == REQUEST_KEYS
    times = detail.next_runs
    assert len(times) == 5 and all(b - a == timedelta(minutes=5) for a, b in pairwise(times))
    assert times[0] == detail.job.next_run_at


async def test_a_webhook_jobs_history_is_its_requests(db: Database, sql: asyncpg.Connection) -> None:
    job = await manage.create_job(db, hook(schedule_type="once", schedule="in 20m"))
    for _ in range(3):
        await add_request(sql, str(job.id))

    detail = await manage.get_job(db, job.id)

    assert detail.runs == [] and len(detail.requests) == 3
    assert detail.job.schedule_text == "once, 20 minutes after creation (UTC)"
    assert job.created_at is not None
    assert detail.next_runs == [job.created_at + timedelta(minutes=20)]


# -- create, update, delete -------------------------------------------------------------------


async def test_create_job_writes_the_row_and_answers_the_job(db: Database, sql: asyncpg.Connection) -> None:
    job = await manage.create_job(
        db,
        JobInput(
            project_id="acme", name="deploy", target=HOOK, payload={"branch": "main"},
            schedule_type="cron", schedule=" 0 7 * * 1-5 ", timezone="Europe/Berlin",
        ),
    )  # fmt: skip

    row = await job_row(sql, job.id)
    assert (row["project_id"], row["name"], row["kind"], row["target"]) == ("acme", "deploy", "webhook", HOOK)
    assert (row["schedule_type"], row["schedule"], row["timezone"]) == ("cron", "0 7 * * 1-5", "Europe/Berlin")
    assert json.loads(row["payload"]) == {"branch": "main"} and row["enabled"] and row["source"] == "user"
    assert job.schedule_text == "at 07:00 on Mon-Fri (Europe/Berlin)"
    assert set(job.model_dump(mode="json")) == JOB_KEYS


async def test_create_job_name_taken_is_409(db: Database, sql: asyncpg.Connection) -> None:
    first = await manage.create_job(db, hook())
    taken = await refused(manage.create_job(db, hook()))
    assert (taken.status, taken.field, str(taken)) == (
        409,
        "name",
        "a job named 'hook' already exists in project 'default'",
    )
    builtin = await refused(manage.create_job(db, hook("check-stale")))
    assert builtin.status == 409
    # The same name in another project is another job.
    assert (await manage.create_job(db, hook(project_id="acme"))).id != first.id
    assert await sql.fetchval("select count(*) from cron_jobs where name = 'hook'") == 2


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": ""}, "name", "name must be 1 to 100 characters"),
        ({"name": "a b"}, "name", "name must be 1 to 100 characters"),
        ({"name": "x" * 101}, "name", "name must be 1 to 100 characters"),
        ({"project_id": "a/b"}, "project_id", "project_id must be 1 to 100 characters"),
        ({"target": None}, "target", "webhook job has no target URL"),
        ({"target": "http://hooks.example.test/x?token=s3cret"}, "target", "webhook target must be an https URL"),
        ({"target": "http://127.0.0.1:9/x"}, "target", "plain http needs ALLOW_HTTP_WEBHOOKS=true"),
        ({"kind": "builtin", "target": "nope"}, "target", "a builtin job's target must be one of: "),
        ({"schedule_type": "cron", "schedule": "61 * * * *"}, "schedule", "cron schedule '61 * * * *' is not valid"),
        ({"schedule_type": "cron", "schedule": "0 0 30 2 *"}, "schedule", "never fires"),
        ({"schedule_type": "cron", "schedule": None}, "schedule", "cron schedule is empty"),
        ({"schedule_type": "interval", "schedule": "every 2 weeks"}, "schedule", "interval schedule 'every 2 weeks'"),
        ({"schedule_type": "interval", "schedule": "1500ms"}, "schedule", "not a whole number of seconds"),
        ({"schedule_type": "once", "schedule": "tomorrow"}, "schedule", "once schedule 'tomorrow' is not an ISO"),
        ({"schedule_type": "manual", "schedule": "5m"}, "schedule", "a manual job has no schedule"),
        ({"schedule_type": "cron", "schedule": "0 7 * * *", "timezone": "Mars/X"}, "timezone", "timezone 'Mars/X'"),
        ({"timezone": ""}, "timezone", "timezone is empty"),
    ],
)  # fmt: skip
async def test_create_job_validates_before_writing_and_names_the_field(
    db: Database, sql: asyncpg.Connection, fields: dict[str, Any], field: str, message: str
) -> None:
    data = JobInput.model_validate({"name": "hook", "target": HOOK, **fields})
    before = await sql.fetchval("select count(*) from cron_jobs")

    error = await refused(manage.create_job(db, data))

    assert (error.status, error.field) == (422, field)
    assert message in str(error) and "\n" not in str(error) and "s3cret" not in str(error)
    assert await sql.fetchval("select count(*) from cron_jobs") == before


async def test_the_sql_refuses_on_its_own_and_names_the_field(db: Database, sql: asyncpg.Connection) -> None:
    # What lib/manage checks first, the SQL checks again: a caller that skips Python is refused too.
    definition: dict[str, Any] = {
        "project_id": "default", "name": "x y", "kind": "webhook", "target": HOOK, "payload": {},
        "schedule_type": "manual", "schedule": None, "timezone": "UTC", "enabled": True,
    }  # fmt: skip
    with pytest.raises(ManageError) as caught, translated():
        await queries.ops_create_job(db, **definition)
    assert (caught.value.status, caught.value.field) == (422, "name")
    with pytest.raises(ManageError) as caught, translated():
        await queries.ops_create_job(db, **{**definition, "name": "ok", "schedule_type": "vercel"})
    assert (caught.value.status, caught.value.field) == (422, "schedule_type")
    # Anything else is not a ManageError.
    with pytest.raises(DatabaseError) as failed, translated():
        await db.call("ops_create_job", p_name="ok", p_no_such_argument=1)
    assert not isinstance(failed.value, ManageError)
    assert await sql.fetchval("select count(*) from cron_jobs where source = 'user' and kind = 'webhook'") == 0


async def test_create_job_accepts_every_schedule_format(db: Database, sql: asyncpg.Connection) -> None:
    schedules = [
        ("cron", "@hourly", "every hour at :00 (UTC)"),
        ("cron", "*/15 * * * *", "every 15 minutes (UTC)"),
        ("interval", "every 2h", "every 2 hours (UTC)"),
        ("interval", "every 90m", "every 90 minutes (UTC)"),
        ("interval", "1h30m", "every 90 minutes (UTC)"),
        ("interval", "3600000ms", "every hour (UTC)"),
        ("interval", "30s", "every 30 seconds (UTC)"),
        ("once", "in 20m", "once, 20 minutes after creation (UTC)"),
        ("once", "2030-05-01T09:00:00", "once at 2030-05-01 09:00 (UTC)"),
    ]
    for i, (kind, text, words) in enumerate(schedules):
        job = await manage.create_job(db, hook(f"h{i}", schedule_type=kind, schedule=text))
        assert job.schedule_text == words, text
        assert job.next_run_at is not None
    builtin = await manage.create_job(db, JobInput(name="sweep", kind="builtin", target="cleanup-heartbeats"))
    assert (builtin.schedule_text, builtin.next_run_at) == ("on request only", None)


async def test_create_job_allows_local_http_targets_when_the_setting_does(
    db: Database, sql: asyncpg.Connection
) -> None:
    local = JobInput(name="local", target="http://127.0.0.1:8080/hook")
    assert (await refused(manage.create_job(db, local))).field == "target"
    assert (await manage.create_job(db, local, allow_http_webhooks=True)).target == "http://127.0.0.1:8080/hook"


async def test_update_job_changes_the_given_fields_and_revalidates_the_whole_job(
    db: Database, sql: asyncpg.Connection
) -> None:
    job = await manage.create_job(db, hook(schedule_type="interval", schedule="5m", payload={"a": 1}))
    await sql.execute(
        "update cron_jobs set schedule_error = 'old problem', next_run_at = now() + interval '1 day' where id = $1",
        job.id,
    )

    changed = await manage.update_job(db, job.id, {"schedule_type": "cron", "schedule": "30 6 * * *"})

    row = await job_row(sql, job.id)
    assert (row["schedule_type"], row["schedule"]) == ("cron", "30 6 * * *")
    assert json.loads(row["payload"]) == {"a": 1} and row["target"] == HOOK
    # A new schedule starts afresh: the old error and next run are gone.
    # Next run known at once: the changed schedule's first fire is stored in the same write.
    assert row["schedule_error"] is None and row["next_run_at"] == changed.next_run_at
    assert changed.schedule_text == "at 06:30 every day (UTC)" and changed.next_run_at is not None

    # A timezone that does not fit is refused, and nothing changes.
    bad = await refused(manage.update_job(db, job.id, {"timezone": "Nowhere/City"}))
    assert (bad.status, bad.field) == (422, "timezone")
    # Changing the type alone re-checks the schedule already there.
    mismatch = await refused(manage.update_job(db, job.id, {"schedule_type": "interval"}))
    assert (mismatch.status, mismatch.field) == (422, "schedule")
    unknown = await refused(manage.update_job(db, job.id, {"next_run_at": "2030-01-01"}))
    assert (unknown.status, unknown.field) == (422, "next_run_at")
    assert (await job_row(sql, job.id))["schedule"] == "30 6 * * *"

    renamed = await manage.update_job(db, str(job.id), {"name": "hook-2", "project_id": "acme", "enabled": False})
    assert (renamed.name, renamed.project_id, renamed.enabled) == ("hook-2", "acme", False)


async def test_an_edit_checks_only_what_it_changes(db: Database, sql: asyncpg.Connection) -> None:
    # Written by hand: a name, a target and a schedule that job management would refuse.
    job_id = await add_job(
        sql, "written by hand", target="http://example.com/x", schedule_type="cron", schedule="61 * * * *"
    )

    edited = await manage.update_job(db, job_id, {"payload": {"ok": True}})

    assert (edited.name, edited.payload, edited.target) == ("written by hand", {"ok": True}, "http://example.com/x")
    renamed = await refused(manage.update_job(db, job_id, {"name": "still bad"}))
    assert (renamed.status, renamed.field) == (422, "name")
    assert (await manage.update_job(db, job_id, {"name": "fixed"})).name == "fixed"
    # Touching a group checks the whole group: kind with target, the schedule with its type and time zone.
    assert (await refused(manage.update_job(db, job_id, {"timezone": "Europe/Berlin"}))).field == "schedule"
    assert (await refused(manage.update_job(db, job_id, {"target": "http://example.com/y"}))).field == "target"
    fixed = await manage.update_job(db, job_id, {"schedule": "1 * * * *", "target": HOOK})
    assert (fixed.schedule, fixed.target) == ("1 * * * *", HOOK)


async def test_update_job_name_taken_is_409(db: Database, sql: asyncpg.Connection) -> None:
    await manage.create_job(db, hook("one"))
    two = await manage.create_job(db, hook("two"))
    request = await add_request(sql, str(two.id))

    taken = await refused(manage.update_job(db, two.id, {"name": "one"}))
    assert (taken.status, taken.field) == (409, "name")
    # A move to another project takes its requests along.
    await manage.update_job(db, two.id, {"project_id": "acme"})
    assert await sql.fetchval("select project_id from cron_run_requests where id = $1::uuid", request) == "acme"


async def test_vercel_jobs_only_run_pause_and_resume(db: Database, sql: asyncpg.Connection) -> None:
    job = await manage.find_job(db, "check-stale")
    assert not job.editable

    for action in (manage.update_job(db, job.id, {"payload": {"x": 1}}), manage.delete_job(db, job.id)):
        error = await refused(action)
        assert (error.status, str(error)) == (
            409,
            "builtin jobs are defined by vercel.json; only run, pause and resume apply",
        )
    assert (await manage.pause_job(db, job.id)).enabled is False
    assert (await manage.resume_job(db, job.id)).enabled is True
    assert (await manage.run_now(db, job.id, requested_by="test")).status == "queued"
    row = await job_row(sql, job.id)
    assert (row["schedule_type"], json.loads(row["payload"])) == ("vercel", {})


async def test_delete_job_removes_it_and_its_requests(db: Database, sql: asyncpg.Connection) -> None:
    job = await manage.create_job(db, hook())
    await add_request(sql, str(job.id))

    await manage.delete_job(db, job.id)

    assert await sql.fetchval("select count(*) from cron_jobs where id = $1", job.id) == 0
    assert await sql.fetchval("select count(*) from cron_run_requests") == 0
    assert (await refused(manage.delete_job(db, job.id))).status == 404


# -- run now, requests, retry ------------------------------------------------------------------


async def test_run_now_queues_a_request_that_the_drain_delivers(
    db: Database, make_settings: Callable[..., Settings], sql: asyncpg.Connection, http_mock: respx.MockRouter
) -> None:
    route = hook_route(http_mock, return_value=httpx.Response(200, text="ok"))
    job = await manage.create_job(db, hook(payload={"from": "job"}))

    request = await manage.run_now(db, job.id, requested_by="ops", payload={"from": "click"})
    assert (request.status, request.requested_by, request.job_name, request.held) == ("queued", "ops", "hook", False)
    settings = make_settings(webhook_signing_secret=WEBHOOK_SECRET)
    await run_job(JOBS["run-requests"], db=db, settings=settings, trigger=Trigger.CLI)

    assert route.call_count == 1 and json.loads(route.calls.last.request.content)["payload"] == {"from": "click"}
    done = await manage.get_request(db, request.id)
    assert done.status == "done" and done.completed_at is not None and done.result["status_code"] == 200
    assert (await manage.find_job(db, "hook")).last_status == "ok"
    bad = await refused(manage.run_now(db, job.id, requested_by="ops", payload=[1]))  # type: ignore[arg-type]
    assert bad.field == "payload"
    assert (await refused(manage.run_now(db, uuid4(), requested_by="ops"))).status == 404


async def test_run_now_on_a_paused_job_is_409_and_held_requests_show_as_held(
    db: Database, sql: asyncpg.Connection
) -> None:
    job = await manage.create_job(db, hook())
    queued = await manage.run_now(db, job.id, requested_by="ops")
    await manage.pause_job(db, job.id)

    paused = await refused(manage.run_now(db, job.id, requested_by="ops"))

    assert (paused.status, str(paused)) == (409, "'hook' is paused; resume it to queue runs")
    assert (await manage.get_request(db, queued.id)).held is True
    page = await manage.list_requests(db, job_id=job.id)
    assert [(r.id, r.held) for r in page.requests] == [(queued.id, True)]
    await manage.resume_job(db, job.id)
    assert (await manage.get_request(db, queued.id)).held is False


async def test_list_requests_filters_and_pages_in_one_round_trip(db: Database, sql: asyncpg.Connection) -> None:
    one = await manage.create_job(db, hook("one"))
    two = await manage.create_job(db, hook("two", project_id="acme"))
    ids = [await add_request(sql, str(one.id)) for _ in range(3)]
    ids.append(str((await manage.run_now(db, two.id, requested_by="ops")).id))
    await sql.execute("update cron_run_requests set status = 'error' where id = $1::uuid", ids[0])
    counting = CountingDatabase(db)

    newest = await manage.list_requests(counting, limit=2)

    assert dict(counting.calls) == {"ops_list_requests": 1}
    assert len(newest.requests) == 2 and newest.has_more
    assert set(newest.requests[0].model_dump(mode="json")) == REQUEST_KEYS
    assert [str(r.id) for r in (await manage.list_requests(db, project="acme")).requests] == [ids[3]]
    assert [str(r.id) for r in (await manage.list_requests(db, status="error")).requests] == [ids[0]]
    assert len((await manage.list_requests(db, job_id=str(one.id))).requests) == 3
    assert (await refused(manage.list_requests(db, status="odd"))).field == "status"
    assert (await refused(manage.list_requests(db, job_id="x"))).field == "job_id"
    assert (await refused(manage.get_request(db, uuid4()))).status == 404


async def test_retry_request_queues_the_same_job_and_payload_linked_to_the_failed_one(
    db: Database, sql: asyncpg.Connection
) -> None:
    job = await manage.create_job(db, hook())
    failed = await add_request(sql, str(job.id), payload={"n": 1})
    await sql.execute(
        "update cron_run_requests set status = 'error', result = '{\"error\": \"x\"}' where id = $1::uuid", failed
    )

    retry = await manage.retry_request(db, failed, requested_by="ops")

    assert retry.retry_of == UUID(failed) and retry.id != UUID(failed)
    row = await sql.fetchrow("select * from cron_run_requests where id = $1", retry.id)
    assert (str(row["retry_of"]), row["job_id"], row["status"]) == (failed, job.id, "queued")
    assert json.loads(row["payload"]) == {"n": 1} and row["requested_by"] == "ops"
    # The failed request stays as it was, shows its retry, and cannot be retried again (issue 20).
    shown = await manage.get_request(db, failed)
    assert (shown.status, shown.retried_by) == ("error", retry.id)
    again = await refused(manage.retry_request(db, failed, requested_by="ops"))
    assert (again.status, str(again)) == (409, f"this request was already retried by {retry.id}")

    not_failed = await refused(manage.retry_request(db, retry.id, requested_by="ops"))
    assert (not_failed.status, str(not_failed)) == (
        409,
        "only a request that ended in error can be retried; this one is queued",
    )
    await manage.pause_job(db, job.id)
    assert (await refused(manage.retry_request(db, failed, requested_by="ops"))).status == 409
    assert (await refused(manage.retry_request(db, uuid4(), requested_by="ops"))).status == 404


async def test_list_runs_filters_by_job_and_status(db: Database, settings: Settings, sql: asyncpg.Connection) -> None:
    await run_job(JOBS["check-stale"], db=db, settings=settings, trigger=Trigger.CLI)
    await manage.pause_job(db, (await manage.find_job(db, "cleanup-heartbeats")).id)
    await run_job(JOBS["cleanup-heartbeats"], db=db, settings=settings, trigger=Trigger.CLI)
    counting = CountingDatabase(db)

    page = await manage.list_runs(counting)

    assert dict(counting.calls) == {"ops_list_runs": 1}
    assert [run.job for run in page.runs] == ["cleanup-heartbeats", "check-stale"]
    assert set(page.runs[0].model_dump(mode="json")) == RUN_KEYS
    assert [run.job for run in (await manage.list_runs(db, status="skipped")).runs] == ["cleanup-heartbeats"]
    assert [run.status for run in (await manage.list_runs(db, job="check-stale")).runs] == ["ok"]
    one = await manage.list_runs(db, limit=1)
    assert len(one.runs) == 1 and one.has_more
    assert (await refused(manage.list_runs(db, status="odd"))).field == "status"


# -- pausing around a due tick -------------------------------------------------------------------


async def test_pause_and_resume_around_a_due_tick_gives_no_burst(
    db: Database, settings: Settings, sql: asyncpg.Connection
) -> None:
    job = await manage.create_job(db, hook(schedule_type="interval", schedule="10m"))
    async with app_client(settings) as client:
        # The first tick schedules it; then it falls due, three ticks in the past.
        await client.get("/api/cron/schedule", headers=AUTH)
        await sql.execute(
            "update cron_jobs set next_run_at = date_trunc('second', now()) - interval '35 minutes' where id = $1",
            job.id,
        )
        due_at = (await job_row(sql, job.id))["next_run_at"]

        paused = await manage.pause_job(db, job.id)
        assert (paused.enabled, paused.next_run_at) == (False, None)
        skipped = (await client.get("/api/cron/schedule", headers=AUTH)).json()
        assert skipped["stats"]["enqueued"] == 0

        resumed = await manage.resume_job(db, job.id)
        row = await job_row(sql, job.id)
        # Shown as it will fire: its first tick after the resume, on its own cadence.
        assert resumed.next_run_at is not None and resumed.next_run_at > row["resumed_at"]
        assert (resumed.next_run_at - due_at) % timedelta(minutes=10) == timedelta(0)
        assert resumed.next_run_at - row["resumed_at"] <= timedelta(minutes=10)

        ticked = (await client.get("/api/cron/schedule", headers=AUTH)).json()

    assert ticked["stats"]["enqueued"] == 0 and ticked["stats"]["skipped_paused"] == 1
    assert await sql.fetchval("select count(*) from cron_run_requests") == 0
    row = await job_row(sql, job.id)
    assert row["next_run_at"] == resumed.next_run_at and row["resumed_at"] is None
    assert (await manage.find_job(db, "hook")).next_run_at == resumed.next_run_at


async def test_pause_and_resume_are_idempotent(db: Database, sql: asyncpg.Connection) -> None:
    job = await manage.create_job(db, hook(schedule_type="cron", schedule="*/5 * * * *"))
    await manage.pause_job(db, job.id)
    updated_at = (await job_row(sql, job.id))["updated_at"]
    await manage.pause_job(db, job.id)
    assert (await job_row(sql, job.id))["updated_at"] == updated_at
    await manage.resume_job(db, job.id)
    resumed_at = (await job_row(sql, job.id))["resumed_at"]
    await manage.resume_job(db, job.id)
    assert resumed_at is not None and (await job_row(sql, job.id))["resumed_at"] == resumed_at
    assert (await refused(manage.pause_job(db, uuid4()))).status == 404


# -- schedules in words ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schedule_type", "schedule", "timezone", "words"),
    [
        ("manual", None, "UTC", "on request only"),
        ("vercel", "*/5 * * * *", "UTC", "every 5 minutes (UTC, vercel.json)"),
        ("cron", "* * * * *", "UTC", "every minute (UTC)"),
        ("cron", "17 * * * *", "UTC", "every hour at :17 (UTC)"),
        ("cron", "0 */6 * * *", "UTC", "every 6 hours at :00 (UTC)"),
        ("cron", "0 7 * * *", "Europe/Berlin", "at 07:00 every day (Europe/Berlin)"),
        ("cron", "30 9 * * 1,3", "UTC", "at 09:30 on Mon, Wed (UTC)"),
        ("cron", "0 0 1 * *", "UTC", "at 00:00 on day 1 of every month (UTC)"),
        ("cron", "@daily", "UTC", "at 00:00 every day (UTC)"),
        ("cron", "0 9-17 * * *", "UTC", "cron 0 9-17 * * * (UTC)"),
        ("interval", "90", "UTC", "every 90 seconds (UTC)"),
        ("interval", "1d", "UTC", "every day (UTC)"),
        ("once", "2026-05-01T09:00:00", "Europe/Berlin", "once at 2026-05-01 09:00 (Europe/Berlin)"),
        ("once", "2026-05-01T07:00:00Z", "Europe/Berlin", "once at 2026-05-01 09:00 (Europe/Berlin)"),
        ("once", "in 20m", "UTC", "once, 20 minutes after creation (UTC)"),
        ("cron", "not cron", "UTC", "cron not cron (not a valid schedule)"),
    ],
)
def test_describe_schedule(schedule_type: str, schedule: str | None, timezone: str, words: str) -> None:
    assert manage.describe_schedule(schedule_type, schedule, timezone) == words
