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
import cProfile
import multiprocessing
import pstats
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg

from bench.harness import Figure, at_least, embedded_database, say
from lib.db import database_for
from lib.deadline import Deadline
from lib.jobs.base import JobContext
from lib.jobs.run_requests import CONCURRENCY, drain
from lib.outbound.http import http_client
from lib.outbound.webhooks import post_signed
from lib.settings import Settings, load_settings
from tests.fakes.counting import CountingDatabase
from tests.fakes.crash import Crash, drain_crash
from tests.fakes.webhook import local_receiver

REQUESTS = 2_000
RECEIVER_DELAY_SECONDS = 0.005
WARM_UP = 40
RATE_TARGET = 0.6
TRIPS_TARGET = 2.1
PROFILED = 1_000
# Where a profiled drain spends its time: (file name ending, function, label).
PROFILE_LINES = (
    ("lib/outbound/webhooks.py", "post_signed", "post_signed (the signed POST)"),
    ("httpcore/_async/connection_pool.py", "handle_async_request", "httpcore ConnectionPool.handle_async_request"),
    (
        "httpcore/_async/connection_pool.py",
        "_assign_requests_to_connections",
        "httpcore _assign_requests_to_connections (checks every pooled connection per request)",
    ),
    ("httpcore/_async/http11.py", "has_expired", "httpcore has_expired -> is_socket_readable"),
    ("lib/outbound/webhooks.py", "_preview", "reading the answer's first 2 KB"),
    ("lib/db/queries/run_requests.py", "claim_run_requests", "claim_run_requests"),
    ("lib/db/queries/run_requests.py", "settle_run_requests", "settle_run_requests"),
)


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


async def _bare_once(url: str, ready: Any, start: Any) -> dict[str, Any]:
    """The same signed POSTs, CONCURRENCY at a time, with no database and no drain: this machine's ceiling."""
    client = await http_client()
    body = b'{"job":"bench-hook","request_id":"bare","project_id":"default","payload":{},"requested_at":"now"}'
    gate = asyncio.Semaphore(CONCURRENCY)
    secret = _settings("postgresql://unused").webhook_signing_secret
    assert secret is not None

    async def one() -> None:
        async with gate:
            delivery = await post_signed(client, url, body, secret=secret.get_secret_value(), seconds=10)
            assert delivery.verdict == "delivered", delivery.result

    try:
        await asyncio.gather(*(one() for _ in range(WARM_UP)))
        ready.put(0)
        await asyncio.to_thread(start.wait)
        await asyncio.gather(*(one() for _ in range(REQUESTS)))
        return {"done": REQUESTS}
    finally:
        await client.aclose()


async def _profiled_drain(dsn: str) -> str:
    """One drain over PROFILED requests under cProfile; the share of its time in PROFILE_LINES."""
    settings = _settings(dsn)
    database = database_for(settings)
    await database.call("health_check")
    await http_client()
    context = JobContext(
        db=database,
        settings=settings,
        deadline=Deadline.after(settings.run_time_budget_seconds),
        run_id=0,
        trigger="manual",
        request_id="bench-profile",
    )
    profile = cProfile.Profile()
    profile.enable()
    try:
        await drain(context)
    finally:
        profile.disable()
        await database.close()
        await (await http_client()).aclose()
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())
    shares = []
    for ending, function, label in PROFILE_LINES:
        spent = sum(entry[3] for (file, _, name), entry in stats.items() if name == function and file.endswith(ending))
        shares.append(f"{label} {spent / total:.0%}")
    return "; ".join(shares)


def _bare_worker(url: str, index: int, ready: Any, start: Any, results: Any) -> None:
    results.put(asyncio.run(_bare_once(url, ready, start)))


def _run_drains(dsn: str, count: int, target: Any = _worker) -> tuple[float, list[dict[str, Any]]]:
    """Start `count` drain processes at once; (seconds until the last finished, their stats)."""
    context = multiprocessing.get_context("spawn")
    ready, results, start = context.Queue(), context.Queue(), context.Event()
    workers = [context.Process(target=target, args=(dsn, n, ready, start, results)) for n in range(count)]
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
        # cascade: each request's attempts (cron_request_attempts) go with it.
        await connection.execute("truncate public.cron_run_requests, public.cron_locks cascade")
        with tempfile.TemporaryDirectory(prefix="cronrelay-crash-") as folder:
            return await drain_crash(dsn, connection, Path(folder))
    finally:
        await connection.close()


def main() -> list[Figure]:
    with embedded_database() as dsn, receiver(RECEIVER_DELAY_SECONDS) as (url, received):
        job_id = asyncio.run(_add_job(dsn, url))
        asyncio.run(_seed(dsn, job_id, WARM_UP))
        _run_drains(dsn, 1)  # warm-up: the database's caches, the receiver's accept path

        batch = _settings(dsn).run_request_batch_size
        ceiling = CONCURRENCY / RECEIVER_DELAY_SECONDS
        say(
            f"run-requests: {REQUESTS} webhook requests, receiver answers after "
            f"{RECEIVER_DELAY_SECONDS * 1000:g} ms; batch {batch}, {CONCURRENCY} in flight per drain, "
            "one process per drain"
        )
        figures: dict[int, tuple[float, float]] = {}
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
            figures[drains] = (rate, trips / batches)
            label = "1 drain " if drains == 1 else f"{drains} drains"
            say(
                f"  {label}: {rate:5.0f} requests/s ({elapsed:.2f} s; {rate / ceiling:.2f}x the one-drain ceiling "
                f"of {ceiling:.0f}/s); {batches} batches, {trips / batches:.2f} DB round trips per batch; "
                f"receiver got {len(received) - before} calls"
            )
        bare_elapsed, _ = _run_drains(url, 1, _bare_worker)
        bare = REQUESTS / bare_elapsed
        say(
            f"  the bare client (the same signed POSTs, {CONCURRENCY} at a time, no database), own process: "
            f"{bare:5.0f} requests/s = {bare / ceiling:.2f}x concurrency / latency"
        )
        asyncio.run(_seed(dsn, job_id, PROFILED))
        profiled = asyncio.run(_profiled_drain(dsn))
        say(f"  profile of one drain over {PROFILED} requests (share of its time, cumulative): {profiled}")
        crash = asyncio.run(_crash(dsn))
        say(
            f"  crash window: after a SIGKILL mid-batch: {crash.repeated} requests repeated, "
            f"{crash.kill.in_flight} in flight at the kill, {crash.kill.recent} finished in the 0.5 s before it; "
            f"{crash.lost} lost, {crash.stuck} stuck"
        )
    rate, trips = figures[1]
    ratio = rate / ceiling
    note = (
        f"one drain reaches {rate / bare:.2f} of the bare client in the same run ({bare:.0f}/s, "
        f"{bare / ceiling:.2f}x concurrency / latency): "
        + (
            "the HTTP client, not the drain, is the bound on this machine. "
            f"Profile of one drain over {PROFILED} requests (cProfile, share of its time): {profiled}."
            if ratio < RATE_TARGET
            else "the drain adds little beyond the HTTP calls themselves."
        )
        + f" Four drains at once: {figures[4][0]:.0f}/s. Crash window: {crash.repeated} repeated "
        f"(in flight {crash.kill.in_flight} + last 0.5 s {crash.kill.recent}), {crash.lost} lost, {crash.stuck} stuck."
    )
    return [
        Figure(
            name=f"run requests, {REQUESTS:,} webhooks at {RECEIVER_DELAY_SECONDS * 1000:g} ms, one drain",
            measured=f"{rate:.0f} requests/s",
            baseline=f"concurrency / latency = {CONCURRENCY} / {RECEIVER_DELAY_SECONDS * 1000:g} ms = {ceiling:.0f}/s",
            ratio=ratio,
            target=f"≥ {RATE_TARGET}",
            met=at_least(ratio, RATE_TARGET),
            note=note,
        ),
        Figure(
            name="run requests, database round trips per batch",
            measured=f"{trips:.2f} per batch of 20 (claims + settles)",
            baseline=f"the limit, {TRIPS_TARGET}",
            ratio=trips / TRIPS_TARGET,
            target="≤ 1.0 (≤ 2.1 per batch)",
            met=trips <= TRIPS_TARGET,
        ),
    ]
