"""Rows for tests, inserted the way another app would: straight into the tables.

One typed async function per table, every argument but the identifying ones
defaulted, so a test names only what it is about. Times are offsets from the
database's clock (`..._ago` / `due_in`, in seconds), never from the test
process's, so a row is as old as the test says whatever the clocks do.

These are the only per-row inserts in tests/; bulk set-ups that need
generate_series (thousands of rows) stay with their test.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

HOOK = "https://hooks.example.test/run"


async def add_agent(
    sql: asyncpg.Connection,
    name: str = "agent",
    *,
    agent_id: str | None = None,
    status: str = "online",
    heartbeat_ago: float | None = None,
    created_ago: float = 0,
) -> str:
    """An agent; `heartbeat_ago=None` is one that never beat."""
    return str(
        await sql.fetchval(
            """
            insert into public.agents (id, name, status, last_heartbeat_at, created_at)
            values (coalesce($1::uuid, gen_random_uuid()), $2, $3,
                    now() - make_interval(secs => $4::float8), now() - make_interval(secs => $5::float8))
            returning id
            """,
            agent_id,
            name,
            status,
            heartbeat_ago,
            created_ago,
        )
    )


async def add_job(
    sql: asyncpg.Connection,
    name: str,
    *,
    kind: str = "webhook",
    target: str | None = HOOK,
    payload: Any = None,
    schedule_type: str = "manual",
    schedule: str | None = None,
    timezone: str = "UTC",
    enabled: bool = True,
    project_id: str = "default",
    next_run_at: Any = None,
) -> str:
    """A cron_jobs row (a webhook job by default); `payload=None` keeps the table's default `{}`."""
    return str(
        await sql.fetchval(
            """
            insert into public.cron_jobs
              (project_id, name, kind, target, payload, schedule_type, schedule, timezone, enabled, next_run_at)
            values ($1, $2, $3, $4, coalesce($5::jsonb, '{}'::jsonb), $6, $7, $8, $9, $10)
            returning id
            """,
            project_id,
            name,
            kind,
            target,
            None if payload is None else json.dumps(payload),
            schedule_type,
            schedule,
            timezone,
            enabled,
            next_run_at,
        )
    )


async def add_requests(
    sql: asyncpg.Connection, job_id: str, count: int = 1, *, payload: Any = None, max_attempts: int = 5
) -> list[str]:
    """`count` queued run requests for one job; `payload=None` leaves the column null (the job's payload runs)."""
    rows = await sql.fetch(
        "insert into public.cron_run_requests (job_id, payload, max_attempts) "
        "select $1::uuid, $2::jsonb, $3 from generate_series(1, $4) returning id",
        job_id,
        None if payload is None else json.dumps(payload),
        max_attempts,
        count,
    )
    return [str(row["id"]) for row in rows]


async def add_request(sql: asyncpg.Connection, job_id: str, *, payload: Any = None, max_attempts: int = 5) -> str:
    [request_id] = await add_requests(sql, job_id, payload=payload, max_attempts=max_attempts)
    return request_id


async def add_reminder(
    sql: asyncpg.Connection,
    *,
    telegram_id: int | None = 1001,
    due_in: float = -60,
    due_at: str | None = None,
    status: str = "pending",
    draft_text: str | None = "Call the lead back",
    lead_id: str | None = "lead-1",
    reminder_count: int = 0,
    attempts: int = 0,
) -> int:
    """A reminder due `due_in` seconds from the database's now, or at `due_at`, a timestamptz
    literal for the values a datetime cannot hold ('-infinity', BC dates, year 20000)."""
    return int(
        await sql.fetchval(
            """
            insert into public.scheduled_reminders
              (lead_id, telegram_id, due_at, status, draft_text, reminder_count, attempts)
            values ($1, $2, coalesce($3::text::timestamptz, now() + make_interval(secs => $4::float8)), $5, $6, $7, $8)
            returning id
            """,
            lead_id,
            telegram_id,
            due_at,
            due_in,
            status,
            draft_text,
            reminder_count,
            attempts,
        )
    )
