"""Workers' SQL (repeatable/workers.sql) through both adapters: the supabase path is supabase-py over the
PostgREST stand-in as service_role, with its 1000-row cap; isolation between workers and projects; the
drain leaves worker jobs alone."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import pytest

from lib.db import Database, DatabaseError
from lib.db.queries import workers as queries
from lib.db.queries.run_requests import request_run
from lib.db.statuses import Trigger
from lib.jobs.run_requests import JOB
from lib.runner import run_job
from lib.settings import Settings
from lib.workers.manage import NewWorker, add_worker, list_workers, revoke_worker


def mirrored(job_id: str, **fields: Any) -> dict[str, Any]:
    return {"job_id": job_id, "name": fields.pop("name", job_id), **fields}


async def a_worker(db: Database, name: str = "mac-mini", project: str = "default") -> NewWorker:
    return await add_worker(db, name=name, project=project)


async def queue(db: Database, job: str, project: str = "default") -> str:
    request = await request_run(db, job_name=job, project_id=project, requested_by="test", payload=None, dedup_key=None)
    return str(request.id)


async def test_sync_claim_extend_settle_round_trip(db: Database, sql: asyncpg.Connection) -> None:
    worker = await a_worker(db)
    synced = await queries.worker_sync(
        db,
        token=worker.token,
        jobs=[mirrored("backup", schedule_kind="cron", schedule_expr="0 3 * * *", instructions="rsync home")],
        complete=True,
    )
    assert (synced.upserted, synced.removed, synced.rejected) == (1, 0, [])
    job = await sql.fetchrow("select * from public.cron_jobs where kind = 'worker'")
    assert (job["name"], job["target"], job["source"], job["mirror_schedule"]) == (
        "backup",
        "backup",
        "agent",
        "0 3 * * *",
    )

    request_id = await queue(db, "backup")
    [claimed] = await queries.worker_claim(db, token=worker.token, limit=5, lease_seconds=30)
    assert (claimed.id, claimed.job_key, claimed.instructions, claimed.attempt) == (
        request_id,
        "backup",
        "rsync home",
        1,
    )

    until = await queries.worker_extend(
        db,
        token=worker.token,
        request_id=uuid.UUID(claimed.id),
        claim_token=uuid.UUID(claimed.claim_token),
        lease_seconds=600,
    )
    assert until is not None and until > claimed.locked_until

    settled = await queries.worker_settle(
        db,
        token=worker.token,
        outcomes=[
            {
                "id": claimed.id,
                "claim_token": claimed.claim_token,
                "outcome": "done",
                "result": {"exit_code": 0, "duration_ms": 42, "output": "ok"},
            }
        ],
    )
    assert [(s.id, s.status) for s in settled] == [(request_id, "done")]
    row = await sql.fetchrow("select status, result from public.cron_run_requests where id = $1", uuid.UUID(request_id))
    assert row["status"] == "done" and json.loads(row["result"])["exit_code"] == 0
    job = await sql.fetchrow("select last_status, last_duration_ms from public.cron_jobs where kind = 'worker'")
    assert (job["last_status"], job["last_duration_ms"]) == ("ok", 42)

    # Every call was a heartbeat of the worker's own agent.
    agent = await sql.fetchrow(
        "select a.status, a.last_heartbeat_at from public.agents a join public.cron_workers w on w.agent_id = a.id"
    )
    assert agent["status"] == "online" and agent["last_heartbeat_at"] is not None


async def test_a_stale_claim_token_changes_nothing(db: Database, sql: asyncpg.Connection) -> None:
    worker = await a_worker(db)
    await queries.worker_sync(db, token=worker.token, jobs=[mirrored("a")], complete=False)
    await queue(db, "a")
    [claimed] = await queries.worker_claim(db, token=worker.token, limit=1, lease_seconds=30)
    stale = str(uuid.uuid4())
    assert (
        await queries.worker_settle(
            db, token=worker.token, outcomes=[{"id": claimed.id, "claim_token": stale, "outcome": "done"}]
        )
        == []
    )
    assert (
        await queries.worker_extend(
            db, token=worker.token, request_id=uuid.UUID(claimed.id), claim_token=uuid.UUID(stale), lease_seconds=60
        )
        is None
    )
    row = await sql.fetchrow("select status, claim_token::text from public.cron_run_requests")
    assert (row["status"], row["claim_token"]) == ("running", claimed.claim_token)


async def test_retry_backs_off_and_ends_error_on_the_last_attempt(db: Database, sql: asyncpg.Connection) -> None:
    worker = await a_worker(db)
    await queries.worker_sync(db, token=worker.token, jobs=[mirrored("a")], complete=False)
    await queue(db, "a")
    await sql.execute("update public.cron_run_requests set max_attempts = 2")
    [first] = await queries.worker_claim(db, token=worker.token, limit=1, lease_seconds=30)
    [retry] = await queries.worker_settle(
        db, token=worker.token, outcomes=[{"id": first.id, "claim_token": first.claim_token, "outcome": "retry"}]
    )
    assert retry.status == "queued"
    delay = await sql.fetchval("select extract(epoch from available_at - now()) from public.cron_run_requests")
    assert 5 < delay <= 10
    await sql.execute("update public.cron_run_requests set available_at = now()")
    [second] = await queries.worker_claim(db, token=worker.token, limit=1, lease_seconds=30)
    assert second.attempt == 2
    [last] = await queries.worker_settle(
        db, token=worker.token, outcomes=[{"id": second.id, "claim_token": second.claim_token, "outcome": "retry"}]
    )
    assert last.status == "error"


async def test_a_lapsed_lease_is_claimed_again_and_the_last_attempt_ends_error(
    db: Database, sql: asyncpg.Connection
) -> None:
    worker = await a_worker(db)
    await queries.worker_sync(db, token=worker.token, jobs=[mirrored("a")], complete=False)
    await queue(db, "a")
    await sql.execute("update public.cron_run_requests set max_attempts = 2")
    [first] = await queries.worker_claim(db, token=worker.token, limit=1, lease_seconds=30)
    await sql.execute("update public.cron_run_requests set locked_until = now() - interval '1 second'")
    [again] = await queries.worker_claim(db, token=worker.token, limit=1, lease_seconds=30)
    assert again.id == first.id and again.recovered and again.attempt == 2
    await sql.execute("update public.cron_run_requests set locked_until = now() - interval '1 second'")
    assert await queries.worker_claim(db, token=worker.token, limit=1, lease_seconds=30) == []
    row = await sql.fetchrow("select status, result from public.cron_run_requests")
    assert row["status"] == "error" and "lease lapsed" in json.loads(row["result"])["error"]


async def test_tokens_never_reach_another_workers_or_projects_rows(db: Database, sql: asyncpg.Connection) -> None:
    mine = await a_worker(db, "mine")
    other = await a_worker(db, "other")
    elsewhere = await a_worker(db, "mine", project="b")
    await queries.worker_sync(db, token=mine.token, jobs=[mirrored("a", name="a")], complete=False)
    await queries.worker_sync(db, token=elsewhere.token, jobs=[mirrored("a", name="a")], complete=False)
    await queue(db, "a")
    await queue(db, "a", project="b")

    assert await queries.worker_claim(db, token=other.token, limit=50, lease_seconds=30) == []
    [b_claim] = await queries.worker_claim(db, token=elsewhere.token, limit=50, lease_seconds=30)
    [claimed] = await queries.worker_claim(db, token=mine.token, limit=50, lease_seconds=30)
    assert b_claim.id != claimed.id

    # With the right claim token but the wrong worker: nothing settles, nothing extends.
    for intruder in (other, elsewhere):
        outcome = {"id": claimed.id, "claim_token": claimed.claim_token, "outcome": "error"}
        assert await queries.worker_settle(db, token=intruder.token, outcomes=[outcome]) == []
        assert (
            await queries.worker_extend(
                db,
                token=intruder.token,
                request_id=uuid.UUID(claimed.id),
                claim_token=uuid.UUID(claimed.claim_token),
                lease_seconds=600,
            )
            is None
        )
    # A sync of a complete empty list by another worker removes none of mine.
    assert (await queries.worker_sync(db, token=other.token, jobs=[], complete=True)).removed == 0
    statuses = await sql.fetch("select status from public.cron_run_requests")
    assert {row["status"] for row in statuses} == {"running"}


async def test_a_revoked_or_unknown_token_is_refused_at_once(db: Database, sql: asyncpg.Connection) -> None:
    worker = await a_worker(db)
    await queries.worker_sync(db, token=worker.token, jobs=[mirrored("a")], complete=False)
    await revoke_worker(db, "mac-mini")
    for token in (worker.token, "crw_" + "x" * 43, "not-a-token"):
        with pytest.raises(DatabaseError) as refused:
            await queries.worker_claim(db, token=token, limit=1, lease_seconds=30)
        assert refused.value.code == queries.REFUSED
        assert worker.token not in str(refused.value)
    [listed] = await list_workers(db)
    assert listed["disabled_at"] is not None and listed["online"] is False
    assert "token" not in json.dumps(listed) or "token_hash" not in listed


async def test_a_thousand_jobs_in_one_sync_and_a_complete_sync_removes_the_rest(
    db: Database, sql: asyncpg.Connection
) -> None:
    worker = await a_worker(db)
    jobs = [mirrored(f"job-{n:04d}", schedule_kind="interval", schedule_expr="3600000ms") for n in range(1000)]
    synced = await queries.worker_sync(db, token=worker.token, jobs=jobs, complete=True)
    assert synced.upserted == 1000
    assert await sql.fetchval("select count(*) from public.cron_jobs where kind = 'worker'") == 1000
    request_id = await queue(db, "job-0999")
    again = await queries.worker_sync(db, token=worker.token, jobs=jobs[:10], complete=True)
    assert (again.upserted, again.removed) == (10, 990)
    row = await sql.fetchrow("select status, result from public.cron_run_requests where id = $1", uuid.UUID(request_id))
    assert row["status"] == "error" and json.loads(row["result"])["error"] == "removed by the worker"
    with pytest.raises(DatabaseError) as too_many:
        await queries.worker_sync(db, token=worker.token, jobs=[*jobs, mirrored("one-more")], complete=True)
    assert too_many.value.code == "PT422"


async def test_a_name_another_job_has_is_rejected_alone(db: Database, sql: asyncpg.Connection) -> None:
    worker = await a_worker(db)
    synced = await queries.worker_sync(
        db, token=worker.token, jobs=[mirrored("x", name="check-stale"), mirrored("y")], complete=False
    )
    assert synced.upserted == 1
    assert synced.rejected == [
        {"job_id": "x", "name": "check-stale", "reason": "name is taken by another job of the project"}
    ]


async def test_the_claim_is_capped_at_fifty(db: Database, sql: asyncpg.Connection) -> None:
    worker = await a_worker(db)
    await queries.worker_sync(db, token=worker.token, jobs=[mirrored("a")], complete=False)
    with pytest.raises(DatabaseError) as refused:
        await queries.worker_claim(db, token=worker.token, limit=51, lease_seconds=30)
    assert refused.value.code == "PT422"


async def test_the_drain_never_claims_a_worker_jobs_requests(
    db: Database, sql: asyncpg.Connection, settings: Settings
) -> None:
    worker = await a_worker(db)
    await queries.worker_sync(db, token=worker.token, jobs=[mirrored("a")], complete=False)
    await queue(db, "a")
    report = await run_job(JOB, db=db, settings=settings, trigger=Trigger.MANUAL)
    assert report.stats.get("claimed", 0) == 0
    assert await sql.fetchval("select status from public.cron_run_requests") == "queued"
    # Nor does it recover one whose worker died.
    [claimed] = await queries.worker_claim(db, token=worker.token, limit=1, lease_seconds=30)
    await sql.execute("update public.cron_run_requests set locked_until = now() - interval '1 second'")
    await run_job(JOB, db=db, settings=settings, trigger=Trigger.MANUAL)
    row = await sql.fetchrow("select status, claim_token::text from public.cron_run_requests")
    assert (row["status"], row["claim_token"]) == ("running", claimed.claim_token)


async def test_a_call_that_cannot_beat_right_now_still_acts_as_its_worker(
    db: Database, sql: asyncpg.Connection, pg_dsn: str
) -> None:
    """Concurrent calls of one worker: only one writes the heartbeat; the others neither wait for it nor lose
    track of which worker they are (the five-workers test found a settle that did)."""
    worker = await a_worker(db)
    await queries.worker_sync(db, token=worker.token, jobs=[mirrored("a")], complete=False)
    request_id = await queue(db, "a")
    await sql.execute("update public.cron_workers set last_seen_at = now() - interval '1 minute'")
    holder = await asyncpg.connect(pg_dsn)
    try:
        # Another call of the same worker is beating right now: it holds the row.
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute("select 1 from public.cron_workers for update")
        [claimed] = await queries.worker_claim(db, token=worker.token, limit=1, lease_seconds=30)
        settled = await queries.worker_settle(
            db,
            token=worker.token,
            outcomes=[{"id": claimed.id, "claim_token": claimed.claim_token, "outcome": "done"}],
        )
        assert [(s.id, s.status) for s in settled] == [(request_id, "done")]
        await transaction.rollback()
    finally:
        await holder.close()
