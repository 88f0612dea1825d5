"""The run-request executor: run claimed requests, each as its cron_jobs row says, and settle them.

The drain (lib/jobs/run_requests.py) feeds it from the queue; a schedule
run's fires, Run now and Retry (lib/jobs/schedule.py, lib/manage/execute.py,
through execute_requests and run_at_once) feed it the requests they named.
Requests run concurrently, CONCURRENCY at a time; the claims are pipelined and
the outcomes settled in groups as they complete (lib/jobs/settling.py):
- builtin: the job from the registry runs in-process, under its own ledger row
  (trigger run-request, or schedule for requests the schedule job enqueued);
- webhook: one signed POST (lib/outbound/webhooks.py).

Each request ends done, error, or back in the queue with a backoff; one
claimed but not started in time is released (its attempt given back).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from lib.backoff import CAP_SECONDS, backoff_seconds
from lib.db import Database, DatabaseError
from lib.db.queries.run_requests import QueuedRequest, RequestSettle, claim_run_requests_by_id, settle_run_requests
from lib.db.statuses import JobKind, RequestOutcome, RunStatus, Trigger
from lib.deadline import RESERVE_SECONDS, Deadline, deadline_scope
from lib.jobs.base import Job, JobContext
from lib.jobs.settling import Settler
from lib.outbound.policy import TargetAccess, TargetRefused, TargetUnresolved, pinned, pinned_client, resolve_target
from lib.outbound.webhooks import post_signed, target_problem
from lib.runner import one_line, run_job
from lib.settings import Settings

# The drain's logger: these lines are the drain's, whoever called the executor.
log = logging.getLogger("cronrelay.run_requests")

# The drain's job name (lib/jobs/run_requests.py NAME): a request may not run the drain itself.
DRAIN = "run-requests"
# Requests of one batch in flight at once: enough to hide webhook latency, few
# enough not to flood one receiver or the database the builtin jobs use.
CONCURRENCY = 10
# A request starts only with this much budget left (or its own timeout, when
# shorter). Starting later would spend an attempt on a call cut off at once.
MIN_WORK_SECONDS = 1.0
# Named requests offered to one claim (claim_run_requests_by_id's own cap).
CLAIM_BY_ID_MAX = 1000

# Which counter in the run's stats each settled outcome adds to.
COUNTED_AS = {
    RequestOutcome.DONE: "done",
    RequestOutcome.ERROR: "error",
    RequestOutcome.RETRY: "retried",
    RequestOutcome.RELEASE: "released",
}


# -- outcomes -----------------------------------------------------------------


def _done(row: QueuedRequest, result: dict[str, Any], duration_ms: int, job_status: str | None = None) -> RequestSettle:
    return RequestSettle(row.id, row.claim_token, RequestOutcome.DONE, result, 0.0, duration_ms, job_status)


def _error(row: QueuedRequest, message: str, duration_ms: int | None = None, **details: Any) -> RequestSettle:
    return RequestSettle(row.id, row.claim_token, RequestOutcome.ERROR, {"error": message, **details}, 0.0, duration_ms)


def _failed_attempt(
    row: QueuedRequest, result: dict[str, Any], duration_ms: int, retry_after: float | None = None
) -> RequestSettle:
    """A transient failure: queued again with backoff, or an error once the attempts are used."""
    attempt, most = row.attempts, row.max_attempts
    if attempt >= most:
        message = f"{result.get('error', 'failed')} (gave up after {attempt} attempt{'s' if attempt != 1 else ''})"
        return RequestSettle(
            row.id, row.claim_token, RequestOutcome.ERROR, {**result, "error": message}, 0.0, duration_ms
        )
    delay = backoff_seconds(attempt)
    if retry_after is not None:
        # The receiver said when to come back; never sooner, and never past the cap.
        delay = max(delay, min(retry_after, CAP_SECONDS))
    result = {**result, "attempt": attempt, "retry_in_seconds": round(delay, 1)}
    return RequestSettle(row.id, row.claim_token, RequestOutcome.RETRY, result, delay, duration_ms)


def _release(row: QueuedRequest, delay: float = 0.0) -> RequestSettle:
    """Not attempted: back to the queue, attempt given back, result untouched."""
    return RequestSettle(row.id, row.claim_token, RequestOutcome.RELEASE, None, delay)


# -- what a request may not do ------------------------------------------------


def _payload(row: QueuedRequest) -> Any:
    # The request's own payload overrides the job's.
    return row.payload if row.payload is not None else row.job_payload


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def builtin_target(row: QueuedRequest) -> str:
    return str(row.job_target or row.job_name)


def preflight(row: QueuedRequest, settings: Settings, jobs: Mapping[str, Job]) -> str | None:
    """Why this request can never run, as one line for result.error; None when it can be tried."""
    if row.exhausted:
        return f"abandoned: no result before its lease expired, and all {row.attempts} attempts are used"
    payload = _payload(row)
    if not isinstance(payload, dict):
        return f"payload must be a JSON object, got {_json_type(payload)}"
    kind = row.job_kind
    if kind == JobKind.BUILTIN:
        target = builtin_target(row)
        if target == DRAIN:
            return f"{DRAIN} cannot be run by a run request: it is the drain itself"
        job = jobs.get(target)
        if job is None:
            return f"unknown builtin job {target!r} (known: {', '.join(sorted(jobs))})"
        problem = job.config_problem(settings)
        return f"{target} cannot run: {problem}" if problem else None
    if kind == JobKind.WEBHOOK:
        if settings.webhook_signing_secret is None:
            return "WEBHOOK_SIGNING_SECRET is not set, so webhook calls cannot be signed"
        return target_problem(
            row.job_target, allow_http=settings.allow_http_webhooks, allow_private=settings.allow_private_targets
        )
    return f"unknown job kind {kind!r}"


# -- execution ----------------------------------------------------------------


async def _run_builtin(ctx: JobContext, row: QueuedRequest, job: Job, payload: dict[str, Any]) -> RequestSettle:
    # The nested run ends a little before the drain, which must still settle.
    deadline = Deadline(ctx.deadline.expires_at - RESERVE_SECONDS)
    if deadline.remaining() < MIN_WORK_SECONDS:
        return _release(row)
    clock = time.monotonic()
    try:
        report = await run_job(
            job,
            db=ctx.db,
            settings=ctx.settings,
            # Requests the schedule job enqueued say so in the ledger.
            trigger=Trigger.SCHEDULE if row.requested_by == "schedule" else Trigger.RUN_REQUEST,
            request_id=row.id,
            payload=payload,
            deadline=deadline,
            jobs=ctx.jobs,
        )
    except DatabaseError as error:
        elapsed = int((time.monotonic() - clock) * 1000)
        return _failed_attempt(row, {"error": f"could not start the run: {one_line(error)}"}, elapsed)
    if report.status == RunStatus.SKIPPED:
        # Another run of that job holds its lease. Nothing ran, so this is not
        # an attempt: back to the queue, after roughly the first retry delay.
        return _release(row, backoff_seconds(1))
    result = {
        "run_id": report.run_id,
        "status": report.status,
        "stats": report.stats,
        "has_more": report.has_more,
        "duration_ms": report.duration_ms,
    }
    if report.status == RunStatus.ERROR:
        return _failed_attempt(row, {"error": report.error or "the run failed", **result}, report.duration_ms)
    return _done(row, result, report.duration_ms, job_status=report.status)


def webhook_body(row: QueuedRequest, payload: dict[str, Any]) -> bytes:
    """The JSON body of a webhook call. It is the same on every attempt, so a
    receiver can use request_id to ignore a repeat (delivery is at least once)."""
    body = {
        "job": row.job_name,
        "request_id": row.id,
        "project_id": row.project_id,
        "payload": payload,
        "requested_at": row.requested_at,
    }
    return json.dumps(body, separators=(",", ":")).encode()


async def _call_webhook(ctx: JobContext, row: QueuedRequest, payload: dict[str, Any]) -> RequestSettle:
    settings = ctx.settings
    cap = settings.webhook_timeout_seconds
    window = ctx.deadline.timeout(cap)
    if window < min(cap, MIN_WORK_SECONDS):
        return _release(row)
    # preflight checked both
    assert settings.webhook_signing_secret is not None and row.job_target is not None
    # Resolved once and checked (lib/outbound/policy.py): a refused address is final, a name that
    # does not resolve now is tried again; the call then connects only to what was checked.
    try:
        target = await resolve_target(row.job_target, TargetAccess.of(settings))
    except TargetRefused as refused:
        return _error(row, str(refused))
    except TargetUnresolved as unresolved:
        return _failed_attempt(row, {"error": f"webhook unreachable: {unresolved}"}, 0)
    with pinned(target):
        delivery = await post_signed(
            await pinned_client(),
            row.job_target,
            webhook_body(row, payload),
            secret=settings.webhook_signing_secret.get_secret_value(),
            seconds=window,
        )
    if delivery.verdict == "delivered":
        return _done(row, delivery.result, delivery.duration_ms)
    if delivery.verdict == "rejected":
        return RequestSettle(row.id, row.claim_token, RequestOutcome.ERROR, delivery.result, 0.0, delivery.duration_ms)
    return _failed_attempt(row, delivery.result, delivery.duration_ms, delivery.retry_after)


async def execute(ctx: JobContext, row: QueuedRequest) -> RequestSettle:
    """Run one claimed request and say how it settles."""
    try:
        problem = preflight(row, ctx.settings, ctx.jobs)
    except Exception as error:
        # A row this drain cannot even read is a bad request, not a reason to stop the drain.
        problem = f"cannot be handled: {type(error).__name__}: {error}"[:500]
    if problem:
        return _error(row, problem)
    payload = _payload(row)
    if row.job_kind == JobKind.BUILTIN:
        return await _run_builtin(ctx, row, ctx.jobs[builtin_target(row)], payload)
    return await _call_webhook(ctx, row, payload)


async def _execute_guarded(
    ctx: JobContext,
    row: QueuedRequest,
    gate: asyncio.Semaphore,
    job_locks: dict[str, asyncio.Lock],
    started: Callable[[], None],
) -> RequestSettle:
    # Two requests for one builtin job would race for that job's lease, and the
    # loser would be pushed back; within a run they take turns instead.
    turn: contextlib.AbstractAsyncContextManager[Any] = contextlib.nullcontext()
    if row.job_kind == JobKind.BUILTIN:
        turn = job_locks.setdefault(builtin_target(row), asyncio.Lock())
    async with turn, gate:
        started()
        try:
            return await execute(ctx, row)
        except Exception as error:
            # A bug must not strand the batch: this request is retried like any
            # failure, the others settle normally, and the log has the trace.
            log.exception("run request %s (%s) failed unexpectedly", row.id, row.job_name)
            message = f"internal error: {type(error).__name__}: {error}"[:500]
            try:
                return _failed_attempt(row, {"error": message}, 0)
            except Exception:
                # Not even its attempts can be read: it fails for good rather than coming back.
                return _error(row, message)


# -- the executor: the drain's, and the one fires, Run now and Retry use --------

# Claim up to n requests; the rows, and whether more may follow.
Claim = Callable[[int], Awaitable[tuple[list[QueuedRequest], bool]]]


def blocked_by_settings(settings: Settings, jobs: Mapping[str, Job]) -> dict[str, str]:
    """What this deployment cannot run for want of a setting: {kind or "builtin:<target>": reason naming it}.

    Those requests are held, not failed: a deployment's mistake is not the
    request's, and once the setting is there they run (DESIGN.md, run-requests).
    """
    blocked: dict[str, str] = {}
    if settings.webhook_signing_secret is None:
        blocked[JobKind.WEBHOOK] = "WEBHOOK_SIGNING_SECRET is not set, so webhook calls cannot be signed"
    for name, job in jobs.items():
        problem = job.config_problem(settings)
        if problem:
            blocked[f"builtin:{name}"] = f"{name} cannot run: {problem}"
    return blocked


async def execute_claims(ctx: JobContext, claim: Claim) -> tuple[dict[str, Any], bool]:
    """Claim with `claim` until it says no more (or the budget ends), executing each request as it comes.

    The stats, and whether the claims ran dry (False: the budget or limit ended them).
    """
    gate = asyncio.Semaphore(CONCURRENCY)
    job_locks: dict[str, asyncio.Lock] = {}
    counts = {"claimed": 0, "done": 0, "error": 0, "retried": 0, "released": 0, "recovered": 0, "batches": 0}
    superseded = 0

    async def settle(outcomes: list[RequestSettle]) -> None:
        nonlocal superseded
        settled = await settle_run_requests(ctx.db, outcomes=outcomes)
        for item in settled:
            counts[COUNTED_AS[item.outcome]] += 1
        lost = len(outcomes) - len(settled)
        if lost:
            # Only possible when our lease ran out and another drain took
            # the rows over: theirs to finish, and nothing of ours applied.
            superseded += lost
            log.warning("%d run request(s) were taken over before this run settled them", lost)

    # Outcomes are written as they complete, in groups, while the rest of the
    # batch runs: a crash repeats only the requests in flight and those
    # finished in the last half second, never the whole batch.
    settler: Settler[RequestSettle] = Settler(settle)

    # Claimed requests that have not started yet (waiting for a slot), by a
    # number of this run's own; the next claim waits until there are none.
    unstarted: set[int] = set()
    # Requests finished so far, and at the last claim.
    finished = finished_at_claim = 0
    progress = asyncio.Event()
    running: set[asyncio.Task[None]] = set()

    def one_finished(task: asyncio.Task[None]) -> None:
        nonlocal finished
        running.discard(task)
        finished += 1
        progress.set()

    def start(row: QueuedRequest, number: int) -> None:
        def started() -> None:
            unstarted.discard(number)
            progress.set()

        async def run_one() -> None:
            try:
                outcome = await _execute_guarded(ctx, row, gate, job_locks, started)
            finally:
                started()  # also when it never got to start
            settler.add(_clamped(outcome))

        unstarted.add(number)
        task = asyncio.create_task(run_one())
        running.add(task)
        task.add_done_callback(one_finished)

    drained = False
    failure: Exception | None = None
    try:
        try:
            while True:
                # Pipelined: the next batch is claimed as soon as every request
                # claimed so far has started, while the last of them are still in
                # flight, so no batch waits for the slowest request of the one
                # before, and no request waits long under a lease it cannot use.
                # One more condition: something has finished since the last
                # claim. A batch smaller than the concurrency starts at once, and
                # a receiver that has answered none of it yet gets no more
                # attempts piled on while it is stalled.
                while unstarted or (running and finished == finished_at_claim):
                    progress.clear()
                    await progress.wait()
                finished_at_claim = finished
                size = ctx.settings.run_request_batch_size
                if ctx.limit is not None:
                    size = min(size, ctx.limit - counts["claimed"])
                if size <= 0 or ctx.deadline.expired(reserve=RESERVE_SECONDS + MIN_WORK_SECONDS):
                    break
                rows, more = await claim(size)
                if rows:
                    counts["batches"] += 1
                    counts["recovered"] += sum(1 for row in rows if row.recovered)
                    for row in rows:
                        start(row, counts["claimed"])
                        counts["claimed"] += 1
                if not more:
                    drained = True
                    break
        except Exception as error:
            # A claim failed: the requests in flight still finish and are settled; the run fails after.
            failure = error
        if running:
            await asyncio.gather(*running)
    finally:
        # Only when the run itself was cancelled: those requests keep their
        # lease and are recovered once it expires.
        for task in running:
            task.cancel()
        # Whatever ended the loop, every outcome in hand is written before the run ends.
        settle_errors = await settler.close()
    if failure is not None:
        raise failure
    if settle_errors:
        raise settle_errors[0]

    stats: dict[str, Any] = dict(counts)
    if superseded:
        stats["superseded"] = superseded
    return stats, drained


async def execute_requests(ctx: JobContext, ids: Sequence[str]) -> dict[str, Any]:
    """Execute the named requests now, through the drain's executor, within ctx's budget.

    What the schedule run has just inserted, and Run now's and Retry's
    request. A request another drain took first, a held one (paused job, a
    missing setting) or one not due is left where it is; what the budget does
    not reach stays queued for the drain (`not_started`).
    """
    blocked = blocked_by_settings(ctx.settings, ctx.jobs)
    # Oldest first, as the queue's claim; those a claim cannot take (held,
    # another drain's) are left after the first short batch.
    pending = dict.fromkeys(ids)

    async def named(size: int) -> tuple[list[QueuedRequest], bool]:
        if not pending:
            return [], False
        offered = list(pending)[:CLAIM_BY_ID_MAX]
        rows = await claim_run_requests_by_id(
            ctx.db, ids=offered, limit=size, lease_seconds=ctx.settings.lease_seconds, blocked=blocked
        )
        for row in rows:
            pending.pop(row.id, None)
        # A short batch: what is left of those offered cannot be claimed now.
        return rows, len(rows) == size and bool(pending)

    stats, _ = await execute_claims(ctx, named)
    stats.pop("recovered", None)
    stats["not_started"] = len(pending)
    return stats


async def run_at_once(
    db: Database, settings: Settings, jobs: Mapping[str, Job], ids: Sequence[str], *, trigger: Trigger
) -> dict[str, Any]:
    """execute_requests outside a run of its own (Run now, Retry): the normal run budget, no ledger row."""
    deadline = Deadline.after(settings.run_time_budget_seconds)
    ctx = JobContext(db=db, settings=settings, deadline=deadline, run_id=0, trigger=trigger, request_id="", jobs=jobs)
    with deadline_scope(deadline):
        return await execute_requests(ctx, ids)


def _clamped(outcome: RequestSettle) -> RequestSettle:
    """No delay past the backoff cap: an absurd one must never overflow the settle's interval."""
    delay = outcome.delay_seconds
    if 0.0 <= delay <= CAP_SECONDS:
        return outcome
    return replace(outcome, delay_seconds=CAP_SECONDS if delay > CAP_SECONDS else 0.0)
