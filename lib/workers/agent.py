"""The reference worker: `python -m lib worker --url <app> --token <crw_...> --jobs worker.toml`.

It needs only what the deployed function needs (httpx; tomllib is stdlib):
- syncs its jobs (worker.toml) every 30 s, with `complete`, so a job taken
  out of the file is removed from the console too;
- long-polls /api/worker/claim for run requests of its jobs;
- runs each command as an argument list, without a shell, in a session of
  its own, under the job's timeout (then the whole process group is killed);
- settles with the exit code, the duration and the last 2 KB of output, and
  extends the lease while a long command runs, so no other worker takes it;
- on SIGTERM (or Ctrl-C) claims nothing more, lets what runs finish, settles
  it, and exits 0;
- when its token is refused, says so in one line and exits 3.

A worker killed mid-command (SIGKILL, power loss) loses nothing: the lease
lapses and the request is claimed again, by this worker or another.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from lib.workers.config import ConfigError, WorkerJob, load_jobs

OUTPUT_TAIL_BYTES = 2048
SYNC_EVERY_SECONDS = 30.0
WAIT_SECONDS = 25.0
# Failed calls are tried again after 1, 2, 4 ... s, at most this long apart.
MAX_BACKOFF_SECONDS = 30.0
SETTLE_ATTEMPTS = 6
REFUSED_EXIT = 3
REFUSED_LINE = (
    "cronrelay worker: the server refused this worker's token (401): it is unknown or was revoked; "
    "make a new one with `python -m lib workers add <name> --project <project>`"
)


class TokenRefused(Exception):
    """The server answered 401: the token is unknown or revoked."""


class Unavailable(Exception):
    """The server could not be reached, or answered 5xx or 429: try again later."""


def say(line: str) -> None:
    print(f"cronrelay worker: {line}", file=sys.stderr, flush=True)


@dataclass
class LastRun:
    at: datetime
    status: str
    duration_ms: int


@dataclass
class Worker:
    client: httpx.AsyncClient
    jobs: dict[str, WorkerJob]
    concurrency: int = 1
    lease_seconds: int = 60
    wait_seconds: float = WAIT_SECONDS
    sync_every: float = SYNC_EVERY_SECONDS
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    refused: bool = False
    last_runs: dict[str, LastRun] = field(default_factory=dict)

    async def post(self, path: str, body: dict[str, Any], seconds: float = 15.0) -> dict[str, Any] | None:
        """The JSON answer; None for a 409 (a stale claim). Raises TokenRefused or Unavailable."""
        try:
            answer = await self.client.post(path, json=body, timeout=seconds)
        except httpx.HTTPError as error:
            raise Unavailable(f"{path}: {type(error).__name__}") from None
        if answer.status_code == 401:
            raise TokenRefused
        if answer.status_code == 409:
            return None
        if answer.status_code >= 500 or answer.status_code == 429:
            raise Unavailable(f"{path}: HTTP {answer.status_code}")
        if answer.status_code >= 400:
            # Our own request was refused (a bug or a version mismatch): not worth repeating.
            raise RuntimeError(f"{path}: HTTP {answer.status_code}: {answer.text[:300]}")
        parsed: dict[str, Any] = answer.json()
        return parsed

    # -- sync ---------------------------------------------------------------------------

    def mirror(self) -> list[dict[str, Any]]:
        mirrored = []
        for job in self.jobs.values():
            last = self.last_runs.get(job.id)
            mirrored.append(
                {
                    "job_id": job.id,
                    "name": job.name,
                    "schedule_kind": job.schedule_kind or ("text" if job.schedule else None),
                    "schedule_expr": job.schedule,
                    "tz": job.timezone,
                    "enabled": True,
                    "last_run_at": last.at.isoformat() if last else None,
                    "last_status": last.status if last else None,
                    "last_duration_ms": last.duration_ms if last else None,
                    "instructions": job.instructions,
                }
            )
        return mirrored

    async def sync(self) -> None:
        answer = await self.post("/api/worker/sync", {"jobs": self.mirror(), "complete": True}, seconds=60.0)
        for rejected in (answer or {}).get("rejected", []):
            say(f"job {rejected.get('job_id')!r} was not synced: {rejected.get('reason')}")

    async def keep_syncing(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stop.wait(), self.sync_every)
            if self.stop.is_set():
                return
            try:
                await self.sync()
            except (Unavailable, RuntimeError) as error:
                say(f"sync failed, trying again in {self.sync_every:g} s: {error}")
            except TokenRefused:
                self.refuse()

    def refuse(self) -> None:
        self.refused = True
        self.stop.set()

    # -- claim and run ------------------------------------------------------------------

    async def claim(self, limit: int) -> list[dict[str, Any]]:
        body = {"limit": limit, "wait_seconds": self.wait_seconds, "lease_seconds": self.lease_seconds}
        answer = await self.post("/api/worker/claim", body, seconds=self.wait_seconds + 30.0)
        return list((answer or {}).get("requests", []))

    async def execute(self, request: dict[str, Any]) -> None:
        job = self.jobs.get(str(request.get("job_key")))
        if job is None:
            await self.settle(request, "error", {"error": f"job {request.get('job_key')!r} is not in worker.toml"})
            return
        say(f"running {job.id} (request {request['id']}, attempt {request.get('attempt')})")
        started_at = datetime.now(UTC)
        outcome, result = await self.run_command(job, request)
        self.last_runs[job.id] = LastRun(started_at, "ok" if outcome == "done" else "error", result["duration_ms"])
        say(f"{job.id} ended {outcome}: {result.get('error') or 'exit code 0'}")
        await self.settle(request, outcome, result)

    async def run_command(self, job: WorkerJob, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        env = {
            **os.environ,
            "CRONRELAY_REQUEST_ID": str(request["id"]),
            "CRONRELAY_JOB": job.id,
            "CRONRELAY_ATTEMPT": str(request.get("attempt", 1)),
            "CRONRELAY_PAYLOAD": json.dumps(request.get("payload") or {}),
        }
        started = time.monotonic()
        try:
            # No shell: the command is its argument list. A session of its own, so
            # the worker's SIGTERM does not reach it and a timeout kills all of it.
            process = await asyncio.create_subprocess_exec(
                *job.command,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except OSError as error:
            reason = f"could not start {job.command[0]!r}: {error.strerror or type(error).__name__}"
            return "error", {"error": reason, "exit_code": None, "duration_ms": 0, "output": ""}
        tail = bytearray()
        reading = asyncio.create_task(_read_tail(process, tail))
        extending = asyncio.create_task(self.keep_extending(request))
        timed_out = False
        try:
            await asyncio.wait_for(process.wait(), job.timeout)
        except TimeoutError:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
        finally:
            extending.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(reading, 5.0)
        code = process.returncode
        result: dict[str, Any] = {
            "exit_code": code,
            "duration_ms": int((time.monotonic() - started) * 1000),
            # Postgres text cannot hold U+0000: a NUL a command prints is shown as U+FFFD.
            "output": bytes(tail).decode("utf-8", "replace").replace("\x00", "\ufffd"),
        }
        if timed_out:
            result["error"] = f"timed out after {job.timeout:g} s (killed)"
            return "error", result
        if code == 0:
            return "done", result
        result["error"] = f"killed by signal {-code}" if code is not None and code < 0 else f"exited with code {code}"
        return "error", result

    async def keep_extending(self, request: dict[str, Any]) -> None:
        """Renew the lease at a third of its length, so a long command is never claimed twice."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            body = {"claim_token": request["claim_token"], "lease_seconds": self.lease_seconds}
            try:
                if await self.post(f"/api/worker/requests/{request['id']}/extend", body) is None:
                    say(f"request {request['id']}: its claim lapsed (another worker may run it)")
                    return
            except (Unavailable, RuntimeError) as error:
                say(f"extending request {request['id']} failed, trying again: {error}")
            except TokenRefused:
                self.refuse()
                return

    async def settle(self, request: dict[str, Any], outcome: str, result: dict[str, Any]) -> None:
        body = {"claim_token": request["claim_token"], "outcome": outcome, "result": result}
        for attempt in range(SETTLE_ATTEMPTS):
            try:
                if await self.post(f"/api/worker/requests/{request['id']}/settle", body) is None:
                    say(f"request {request['id']}: not settled, its claim lapsed (it was claimed again)")
                return
            except Unavailable as error:
                delay = min(2.0**attempt, MAX_BACKOFF_SECONDS)
                say(f"settling request {request['id']} failed, trying again in {delay:g} s: {error}")
                await asyncio.sleep(delay)
            except TokenRefused:
                self.refuse()
                return
            except RuntimeError as error:
                # Refused as sent (4xx): repeating it would not help.
                say(f"request {request['id']}: the server refused the settle: {error}")
                return
        say(f"request {request['id']}: gave up settling; it runs again once its lease lapses")

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> int:
        try:
            await self.first_sync()
        except TokenRefused:
            self.refused = True
        except RuntimeError as error:
            say(f"the server refused this worker's jobs: {error}")
            return 2
        if self.refused:
            print(REFUSED_LINE, file=sys.stderr, flush=True)
            return REFUSED_EXIT
        say(f"synced {len(self.jobs)} job(s); waiting for run requests")
        syncing = asyncio.create_task(self.keep_syncing())
        running: set[asyncio.Task[None]] = set()
        stopping = asyncio.create_task(self.stop.wait())
        failures = 0
        while not self.stop.is_set():
            free = self.concurrency - len(running)
            if free <= 0:
                await asyncio.wait({*running, stopping}, return_when=asyncio.FIRST_COMPLETED)
                continue
            claiming = asyncio.create_task(self.claim(free))
            await asyncio.wait({claiming, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not claiming.done():
                # Stopping: a claim in flight is abandoned; what it took is claimed again after the lease.
                claiming.cancel()
                break
            try:
                claimed = claiming.result()
                failures = 0
            except TokenRefused:
                self.refuse()
                break
            except (Unavailable, RuntimeError) as error:
                delay = min(2.0**failures, MAX_BACKOFF_SECONDS)
                failures += 1
                say(f"claim failed, trying again in {delay:g} s: {error}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), delay)
                continue
            for request in claimed:
                task = asyncio.create_task(self.execute(request))
                running.add(task)
                task.add_done_callback(running.discard)
        if running:
            say(f"stopping: letting {len(running)} running command(s) finish and settle")
            await asyncio.gather(*running, return_exceptions=True)
        syncing.cancel()
        stopping.cancel()
        if self.refused:
            print(REFUSED_LINE, file=sys.stderr, flush=True)
            return REFUSED_EXIT
        say("stopped")
        return 0

    async def first_sync(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                await self.sync()
                return
            except Unavailable as error:
                delay = min(2.0**failures, MAX_BACKOFF_SECONDS)
                failures += 1
                say(f"cannot reach the server yet, trying again in {delay:g} s: {error}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), delay)


async def _read_tail(process: asyncio.subprocess.Process, tail: bytearray) -> None:
    """Read the command's output as it comes, keeping only its last 2 KB (memory stays flat)."""
    assert process.stdout is not None
    while chunk := await process.stdout.read(65536):
        tail.extend(chunk)
        if len(tail) > OUTPUT_TAIL_BYTES:
            del tail[: len(tail) - OUTPUT_TAIL_BYTES]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lib worker", description="the cronrelay reference worker")
    parser.add_argument("--url", default=os.environ.get("CRONRELAY_URL"), help="the app (or env CRONRELAY_URL)")
    parser.add_argument(
        "--token",
        default=os.environ.get("CRONRELAY_WORKER_TOKEN"),
        help="the worker's crw_ token (better: env CRONRELAY_WORKER_TOKEN, which `ps` does not show)",
    )
    parser.add_argument("--jobs", type=Path, default=Path("worker.toml"), help="the jobs file (default: %(default)s)")
    parser.add_argument("--concurrency", type=int, default=1, help="commands run at once (default: %(default)s)")
    parser.add_argument("--lease", type=int, default=60, help="seconds of each claim's lease (default: %(default)s)")
    parser.add_argument("--wait", type=float, default=WAIT_SECONDS, help=argparse.SUPPRESS)
    parser.add_argument("--sync-every", type=float, default=SYNC_EVERY_SECONDS, help=argparse.SUPPRESS)
    return parser


async def _serve(args: argparse.Namespace, jobs: list[WorkerJob]) -> int:
    headers = {"Authorization": f"Bearer {args.token}", "User-Agent": "cronrelay-worker/1"}
    async with httpx.AsyncClient(base_url=args.url.rstrip("/"), headers=headers, follow_redirects=False) as client:
        worker = Worker(
            client,
            {job.id: job for job in jobs},
            concurrency=args.concurrency,
            lease_seconds=args.lease,
            wait_seconds=args.wait,
            sync_every=args.sync_every,
        )
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop.set)
        return await worker.run()


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if not args.url:
        print("cronrelay worker: --url (or CRONRELAY_URL) is required: the app's address", file=sys.stderr)
        return 2
    if not args.token:
        print("cronrelay worker: --token (or CRONRELAY_WORKER_TOKEN) is required", file=sys.stderr)
        return 2
    if not 1 <= args.concurrency <= 50 or not 5 <= args.lease <= 3600:
        print("cronrelay worker: --concurrency must be 1-50 and --lease 5-3600", file=sys.stderr)
        return 2
    try:
        jobs = load_jobs(args.jobs)
    except ConfigError as error:
        print(f"cronrelay worker: {error}", file=sys.stderr)
        return 2
    return asyncio.run(_serve(args, jobs))
