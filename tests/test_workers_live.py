"""The real reference worker (`python -m lib worker`, a subprocess) against the real app over HTTP, both adapters.

Sync shows its jobs in the console API; Run now runs the command and settles
it with its output, exit code or timeout; SIGKILL mid-command loses nothing
(the lease lapses and another worker finishes it); SIGTERM settles first and
exits 0; a refused token is one line and exit status 3.
"""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from lib.db import Database
from lib.settings import Settings
from lib.workers.agent import REFUSED_EXIT, REFUSED_LINE
from lib.workers.manage import add_worker, revoke_worker
from tests.conftest import AUTH
from tests.workers_live import (
    eventually,
    python_command,
    request_state,
    running_worker,
    serving,
    start_worker,
    write_jobs,
)

FINAL = ("done", "error")


async def worker_jobs(client: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    answer = await client.get("/api/ops/jobs", params={"limit": 200}, headers=AUTH)
    answer.raise_for_status()
    return {job["name"]: job for job in answer.json()["jobs"] if job["kind"] == "worker"}


async def run_now(client: httpx.AsyncClient, job_id: str) -> str:
    answer = await client.post(f"/api/ops/jobs/{job_id}/run", headers=AUTH)
    assert answer.status_code == 201, answer.text
    request_id: str = answer.json()["request"]["id"]
    return request_id


async def final_state(client: httpx.AsyncClient, request_id: str, within: float = 40.0) -> dict[str, Any]:
    async def settled() -> dict[str, Any] | None:
        state = await request_state(client, request_id, AUTH)
        return state if state["status"] in FINAL else None

    result: dict[str, Any] = await eventually(settled, within)
    return result


async def test_synced_jobs_show_and_run_now_runs_the_command(db: Database, settings: Settings, tmp_path: Path) -> None:
    worker = await add_worker(db, name="mac-mini")
    jobs = write_jobs(
        tmp_path / "worker.toml",
        [
            {
                "id": "hello",
                "command": python_command("print('hello from the worker')"),
                "timeout": 30,
                "schedule": "0 7 * * *",
                "schedule_kind": "cron",
                "instructions": "says hello",
            },
            {"id": "fails", "command": python_command("import sys; print('bad'); sys.exit(3)"), "timeout": 30},
            {"id": "slow", "command": python_command("import time; time.sleep(30)"), "timeout": 1},
        ],
    )
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as client:
        async with running_worker(url, worker.token, jobs, "--wait", "2") as process:
            shown = await eventually(lambda: _three(client))
            assert shown["hello"]["worker"]["instructions"] == "says hello"
            assert shown["hello"]["worker"]["schedule_text"] == "at 07:00 every day (UTC)"
            assert shown["hello"]["worker"]["name"] == "mac-mini" and shown["hello"]["worker"]["online"]

            hello = await final_state(client, await run_now(client, shown["hello"]["id"]))
            assert hello["status"] == "done", process.output()
            assert hello["result"]["exit_code"] == 0 and "hello from the worker" in hello["result"]["output"]

            fails = await final_state(client, await run_now(client, shown["fails"]["id"]))
            assert fails["status"] == "error"
            assert (fails["result"]["exit_code"], fails["result"]["error"]) == (3, "exited with code 3")
            assert "bad" in fails["result"]["output"]

            slow = await final_state(client, await run_now(client, shown["slow"]["id"]))
            assert slow["status"] == "error" and slow["result"]["error"] == "timed out after 1 s (killed)"
        job = (await worker_jobs(client))["hello"]
        assert job["last_status"] == "ok" and job["last_duration_ms"] is not None


async def _three(client: httpx.AsyncClient) -> dict[str, dict[str, Any]] | None:
    jobs = await worker_jobs(client)
    return jobs if len(jobs) == 3 else None


async def test_sigkill_mid_command_loses_nothing_and_sigterm_settles_before_exiting(
    db: Database, settings: Settings, sql: asyncpg.Connection, tmp_path: Path
) -> None:
    """SIGKILL: the lease lapses and a second worker finishes it. SIGTERM: it settles first, then exits 0."""
    worker = await add_worker(db, name="mac-mini")
    marks = tmp_path / "marks.txt"
    code = (
        f"import os, time; open({str(marks)!r}, 'a').write('start ' + os.environ['CRONRELAY_REQUEST_ID'] + '\\n');"
        "time.sleep(1.5); print('finished')"
    )
    jobs = write_jobs(tmp_path / "worker.toml", [{"id": "long", "command": python_command(code), "timeout": 30}])
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as client:
        async with running_worker(url, worker.token, jobs, "--wait", "2", "--lease", "5") as first:
            job_id = (await eventually(lambda: _one(client)))["id"]
            killed = await run_now(client, job_id)
            await eventually(lambda: _started(marks, killed))
            first.signal(signal.SIGKILL)
            await first.wait()
        async with running_worker(url, worker.token, jobs, "--wait", "2", "--lease", "5") as second:
            # Claimed again once the 5 s lease lapsed, and run to the end.
            state = await final_state(client, killed, within=60)
            assert state["status"] == "done" and state["attempts"] == 2, second.output()

            terminated = await run_now(client, job_id)
            await eventually(lambda: _started(marks, terminated))
            second.signal(signal.SIGTERM)
            assert await second.wait() == 0, second.output()
            # Settled before the process exited: nothing waits for a lease.
            state = await request_state(client, terminated, AUTH)
            assert state["status"] == "done" and state["attempts"] == 1
            assert "finished" in state["result"]["output"]
    starts = Counter(line.split()[1] for line in marks.read_text().splitlines())
    assert starts == {killed: 2, terminated: 1}


async def _one(client: httpx.AsyncClient) -> dict[str, Any] | None:
    jobs = await worker_jobs(client)
    return jobs.get("long")


async def _started(marks: Path, request_id: str) -> bool:
    return f"start {request_id}" in _read(marks)


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


async def test_a_refused_token_is_one_clear_line_and_exit_status_3(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    worker = await add_worker(db, name="mac-mini")
    await revoke_worker(db, "mac-mini")
    jobs = write_jobs(tmp_path / "worker.toml", [{"id": "a", "command": python_command("pass")}])
    async with serving(settings) as url:
        process = await start_worker(url, worker.token, jobs)
        assert await process.wait() == REFUSED_EXIT
    output = process.output()
    assert output.strip().splitlines() == [REFUSED_LINE]
    assert worker.token not in output


async def test_a_command_longer_than_its_lease_is_extended_not_run_twice(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """Two workers with one token and a 5 s lease; the command takes 8 s: the first extends, the second never
    takes it."""
    worker = await add_worker(db, name="mac-mini")
    marks = tmp_path / "marks.txt"
    code = (
        f"import os, time; open({str(marks)!r}, 'a').write(os.environ['CRONRELAY_REQUEST_ID'] + '\\n'); time.sleep(8)"
    )
    jobs = write_jobs(tmp_path / "worker.toml", [{"id": "long", "command": python_command(code), "timeout": 30}])
    options = ("--wait", "2", "--lease", "5")
    async with serving(settings) as url, httpx.AsyncClient(base_url=url) as client:
        async with running_worker(url, worker.token, jobs, *options), running_worker(url, worker.token, jobs, *options):
            job_id = (await eventually(lambda: _one(client)))["id"]
            request_id = await run_now(client, job_id)
            state = await final_state(client, request_id, within=60)
    assert state["status"] == "done" and state["attempts"] == 1
    assert _read(marks).split() == [request_id]
