"""How fast the run-request drain empties a queue of webhook requests.

A receiver on 127.0.0.1 answers every POST after 5 ms. 2,000 queued requests
are drained first by one run loop, then by four concurrent ones. Each drain
runs in a process of its own, as overlapping serverless invocations do, so
four drains are not four coroutines sharing one interpreter (and the receiver,
in the parent process, shares the CPU with none of them). The clock starts
when every drain is connected and waiting, and stops when the last is done.

Figures: requests per second, database round trips per batch, and the calls
the receiver got (it must be exactly 2,000 each time). For scale, the rate is
also given as a ratio to the receiver-bound ceiling of one drain (CONCURRENCY
requests in flight, 5 ms each, database and client time not counted).

Last, the crash window: a drain SIGKILLed mid-batch (ten requests in flight,
each answered after 0.5 s), then drained again after the lease: requests
repeated, next to those in flight at the kill and those finished in the half
second before it (tests/test_crash_window.py's scenario).

Run: `.venv/bin/python -m bench run_requests`.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg

from bench.harness import embedded_database
from lib.db import database_for
from lib.deadline import Deadline
from lib.jobs.base import JobContext
from lib.jobs.run_requests import CONCURRENCY, drain
from lib.outbound.http import http_client
from lib.settings import Settings, load_settings
from tests.fakes.counting import CountingDatabase
from tests.fakes.crash import Crash, drain_crash
from tests.fakes.webhook import local_receiver

REQUESTS = 2_000
RECEIVER_DELAY_SECONDS = 0.005
WARM_UP = 40


# -- the receiver ---------------------------------------------------------------


@contextmanager
def receiver(delay: float) -> Iterator[tuple[str, list[bytes]]]:
    """tests/fakes/webhook.py's receiver on a loop of its own thread, so the drains
    measured here never share its CPU time slices with their own event loop."""
    ready = threading.Event()
    found: list[tuple[str, list[bytes]]] = []
    stops: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def serve() -> None:
        stop = asyncio.Event()
        stops.append((asyncio.get_running_loop(), stop))
        async with local_receiver(delay) as served:
            found.append(served)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), name="bench-receiver", daemon=True)
    thread.start()
    ready.wait(10)
    try:
        yield found[0]
    finally:
        loop, stop = stops[0]
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)


# -- one drain, in its own process ------------------------------------------------


def _settings(dsn: str) -> Settings:
    return load_settings(
        _env_file=None,
        database_url=dsn,
        supabase_url=None,
        supabase_service_role_key=None,
        webhook_signing_secret="bench-signing-secret-0123456789",
        allow_http_webhooks=True,
        run_time_budget_seconds=300,
        lease_seconds=600,
    )


async def _drain_once(dsn: str, index: int, ready: Any, start: Any) -> dict[str, Any]:
    settings = _settings(dsn)
    counting = CountingDatabase(database_for(settings))
    try:
        await counting.inner.call("health_check")  # connect before the clock starts
        await http_client()
        ready.put(index)
        await asyncio.to_thread(start.wait)
        context = JobContext(
            db=counting,
            settings=settings,
            deadline=Deadline.after(settings.run_time_budget_seconds),
            run_id=index,
            trigger="manual",
            request_id=f"bench-{index}",
        )
        result = await drain(context)
        return {
            **result.stats,
            "round_trips": counting.calls["claim_run_requests"] + counting.calls["settle_run_requests"],
        }
    finally:
        await counting.close()
        await (await http_client()).aclose()


def _worker(dsn: str, index: int, ready: Any, start: Any, results: Any) -> None:
    results.put(asyncio.run(_drain_once(dsn, index, ready, start)))


def _run_drains(dsn: str, count: int) -> tuple[float, list[dict[str, Any]]]:
    """Start `count` drain processes at once; (seconds until the last finished, their stats)."""
    context = multiprocessing.get_context("spawn")
    ready, results, start = context.Queue(), context.Queue(), context.Event()
    workers = [context.Process(target=_worker, args=(dsn, n, ready, start, results)) for n in range(count)]
    for worker in workers:
        worker.start()
    for _ in workers:
        ready.get(timeout=120)
    clock = time.perf_counter()
    start.set()
    stats = [results.get(timeout=600) for _ in workers]
    elapsed = time.perf_counter() - clock
    for worker in workers:
        worker.join(30)
    return elapsed, stats


# -- arranging the queue -----------------------------------------------------------


async def _add_job(dsn: str, url: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        return str(
            await connection.fetchval(
                "insert into public.cron_jobs (name, kind, target) values ('bench-hook', 'webhook', $1) returning id",
                url,
            )
        )
    finally:
        await connection.close()


async def _seed(dsn: str, job_id: str, count: int) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(
            "insert into public.cron_run_requests (job_id) select $1::uuid from generate_series(1, $2)", job_id, count
        )
    finally:
        await connection.close()


async def _crash(dsn: str) -> Crash:
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("truncate public.cron_run_requests, public.cron_locks")
        with tempfile.TemporaryDirectory(prefix="cronrelay-crash-") as folder:
            return await drain_crash(dsn, connection, Path(folder))
    finally:
        await connection.close()


def main() -> None:
    with embedded_database() as dsn, receiver(RECEIVER_DELAY_SECONDS) as (url, received):
        job_id = asyncio.run(_add_job(dsn, url))
        asyncio.run(_seed(dsn, job_id, WARM_UP))
        _run_drains(dsn, 1)  # warm-up: the database's caches, the receiver's accept path

        batch = _settings(dsn).run_request_batch_size
        ceiling = CONCURRENCY / RECEIVER_DELAY_SECONDS
        print(
            f"run-requests: {REQUESTS} webhook requests, receiver answers after "
            f"{RECEIVER_DELAY_SECONDS * 1000:g} ms; batch {batch}, {CONCURRENCY} in flight per drain, "
            "one process per drain"
        )
        for drains in (1, 4):
            asyncio.run(_seed(dsn, job_id, REQUESTS))
            before = len(received)
            elapsed, stats = _run_drains(dsn, drains)
            done = sum(s["done"] for s in stats)
            batches = sum(s["batches"] for s in stats)
            trips = sum(s["round_trips"] for s in stats)
            if done != REQUESTS:
                raise RuntimeError(f"expected {REQUESTS} requests done, got {done}: {stats}")
            rate = REQUESTS / elapsed
            label = "1 drain " if drains == 1 else f"{drains} drains"
            print(
                f"  {label}: {rate:5.0f} requests/s ({elapsed:.2f} s; {rate / ceiling:.2f}x the one-drain ceiling "
                f"of {ceiling:.0f}/s); {batches} batches, {trips / batches:.2f} DB round trips per batch; "
                f"receiver got {len(received) - before} calls"
            )
        crash = asyncio.run(_crash(dsn))
        print(
            f"  crash window: after a SIGKILL mid-batch: {crash.repeated} requests repeated, "
            f"{crash.kill.in_flight} in flight at the kill, {crash.kill.recent} finished in the 0.5 s before it; "
            f"{crash.lost} lost, {crash.stuck} stuck"
        )
