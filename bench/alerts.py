"""Alerts: how soon a failure reaches a healthy receiver, and a receiver outage of three minutes.

1. A job fails (in-process, run_job as a route calls it) with ALERT_WEBHOOK_URL
   on a local receiver answering in 5 ms. Measured: from the run's start to
   the alert's arrival at the receiver, next to the run's whole answer; the
   target is that the alert arrives before the failing run has answered.
   Baseline, in the same run: the same failing run with no alert channel (its
   answer time), to show what delivering costs the run.
2. The receiver refuses every connection for OUTAGE seconds (3 minutes) while
   alerts are raised (a job.failed at the start, an alert.test every 30 s);
   the `schedule` job ticks every TICK seconds, as Supabase Cron can fire
   it, and retries what is due. Measured: events raised during the outage,
   delivered after it, lost, and duplicated by alert_id (targets 0 and 0),
   and how long after the receiver came back the last one arrived (the
   backoff's bound: a retry is at most 3x the one before, first after 15-30 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time
from collections import Counter

from bench.harness import Figure, embedded_database, say
from lib.db import Database, database_for
from lib.db.queries.alerts import alert_health, claim_alert_deliveries, list_alerts, queue_alert_event
from lib.db.queries.runs import begin_run, end_run
from lib.db.statuses import RunStatus, Trigger
from lib.jobs.base import Job, JobContext, JobResult
from lib.jobs.registry import JOBS
from lib.ledger import new_run_key
from lib.runner import run_job
from lib.settings import load_settings
from tests.fakes.webhook import Hit, Reply, local_receiver

SECRET = "bench-alerts-secret-0123456789"
RUNS = 30
OUTAGE = float(os.environ.get("CRONRELAY_BENCH_OUTAGE_SECONDS", "180"))
RAISE_EVERY = 30.0
TICK = 10.0
GIVE_UP_AFTER = 1200.0


async def _boom(ctx: JobContext) -> JobResult:
    raise RuntimeError("disk on fire")


FAILING = Job(name="check-stale", run=_boom, summary="fails", max_limit=10)


async def _healthy(dsn: str) -> tuple[list[float], list[float], list[float], int]:
    """(arrival from start, answer with alerts, answer without alerts, arrivals after the answer)."""
    hits: list[Hit] = []
    arrivals: list[float] = []
    answers: list[float] = []
    bare: list[float] = []
    late = 0
    async with local_receiver(delay=0.005, hits=hits) as (url, _):
        with_alerts = load_settings(
            _env_file=None, cron_secret=SECRET, database_url=dsn, alert_webhook_url=url, allow_http_webhooks=True
        )
        without = load_settings(_env_file=None, cron_secret=SECRET, database_url=dsn)
        for settings, times in ((without, bare), (with_alerts, answers)):
            db = database_for(settings)
            try:
                for index in range(RUNS + 3):
                    # Each run is a new episode: the job recovers in between, out of the timing.
                    await _recover(db)
                    seen = len(hits)
                    start = time.monotonic()
                    report = await run_job(FAILING, db=db, settings=settings, trigger=Trigger.MANUAL)
                    answered = time.monotonic()
                    assert report.status == "error"
                    if index < 3:
                        continue
                    times.append(answered - start)
                    if settings is with_alerts:
                        new = [hit for hit in hits[seen:] if b'"job.failed"' in hit.body]
                        assert len(new) == 1, f"expected one job.failed, got {len(new)}"
                        arrivals.append(new[0].arrived - start)
                        late += new[0].arrived > answered
            finally:
                await db.close()
    return arrivals, answers, bare, late


async def _recover(db: Database) -> None:
    """Close the check-stale episode as a good run would (a ledger row ending ok), and deliver its job.recovered."""
    start = await begin_run(
        db,
        job="check-stale",
        trigger=Trigger.MANUAL,
        lease_seconds=120,
        request_id="bench",
        dry_run=False,
        run_key=new_run_key(),
    )
    assert start.run_id is not None
    await end_run(db, run_id=start.run_id, status=RunStatus.OK, stats={}, error=None, has_more=False)
    # Routed to no channel: only the failures are timed.
    await claim_alert_deliveries(db, channels=[], limit=1, lease_seconds=120, max_attempts=10)


async def _outage(dsn: str) -> dict[str, float]:
    hits: list[Hit] = []
    accepted: dict[str, float] = {}
    arrivals: Counter[str] = Counter()
    up_at = 0.0

    def reply(hit: Hit, index: int) -> Reply:
        if not up_at:
            return Reply(close=True)
        return Reply(200)

    async with local_receiver(hits=hits, reply=reply) as (url, _):
        settings = load_settings(
            _env_file=None, cron_secret=SECRET, database_url=dsn, alert_webhook_url=url, allow_http_webhooks=True
        )
        db = database_for(settings)
        try:
            await _recover(db)
            before = {str(alert["alert_id"]) for alert in (await list_alerts(db, limit=200))[0]}
            began = time.monotonic()
            await run_job(FAILING, db=db, settings=settings, trigger=Trigger.MANUAL)
            next_raise = began + RAISE_EVERY
            while time.monotonic() - began < OUTAGE:
                if time.monotonic() >= next_raise:
                    await queue_alert_event(db, event="alert.test", payload={"bench": "outage"})
                    next_raise += RAISE_EVERY
                await run_job(JOBS["schedule"], db=db, settings=settings, trigger=Trigger.SCHEDULE)
                await asyncio.sleep(min(TICK, max(0.1, OUTAGE - (time.monotonic() - began))))
            raised = {str(alert["alert_id"]) for alert in (await list_alerts(db, limit=200))[0]} - before
            up_at = time.monotonic()
            say(f"   receiver up after {up_at - began:.0f} s; {len(raised)} alerts raised during the outage")
            while time.monotonic() - up_at < GIVE_UP_AFTER:
                await run_job(JOBS["schedule"], db=db, settings=settings, trigger=Trigger.SCHEDULE)
                for hit in hits:
                    if hit.arrived >= up_at and hit.answered:
                        alert_id = _alert_id(hit)
                        accepted.setdefault(alert_id, hit.arrived)
                if raised <= set(accepted):
                    break
                await asyncio.sleep(TICK)
            for hit in hits:
                if hit.arrived >= up_at and hit.answered:
                    arrivals[_alert_id(hit)] += 1
            pending = (await alert_health(db)).pending
        finally:
            await db.close()
    delivered = raised & set(accepted)
    return {
        "raised": len(raised),
        "delivered": len(delivered),
        "lost": len(raised - delivered),
        "duplicated": sum(n - 1 for n in arrivals.values() if n > 1),
        "last_after_up": max((accepted[a] - up_at for a in delivered), default=0.0),
        "tries": len(hits),
        "pending": float(pending),
    }


def _alert_id(hit: Hit) -> str:
    return str(json.loads(hit.body)["alert_id"])


def main() -> list[Figure]:
    with embedded_database() as dsn:
        arrivals, answers, bare, late = asyncio.run(_healthy(dsn))
        arrive, answer, without = (statistics.median(v) * 1000 for v in (arrivals, answers, bare))
        say(
            f"   failure to alert: median {arrive:.1f} ms from the run's start; the run answers in {answer:.1f} ms "
            f"({without:.1f} ms without an alert channel); {late} of {len(arrivals)} arrived after the answer"
        )
        outage = asyncio.run(_outage(dsn))
        say(f"   outage: {outage}")
    return [
        Figure(
            name="alert at a healthy receiver, from the failing run's start",
            measured=f"{arrive:.1f} ms (median of {RUNS}); the failing run answers in {answer:.1f} ms",
            baseline=f"the same failing run without an alert channel answers in {without:.1f} ms",
            ratio=arrive / answer,
            target="<= 1.0 of the failing run's answer (the alert is there before the run answers)",
            met=late == 0,
            note=f"{late} of {len(arrivals)} alerts arrived after their run answered",
        ),
        Figure(
            name="receiver refusing connections for 3 minutes",
            measured=(
                f"{outage['raised']:.0f} alerts raised during the outage, "
                f"{outage['delivered']:.0f} delivered after it, "
                f"{outage['lost']:.0f} lost, {outage['duplicated']:.0f} duplicated by alert_id; the last "
                f"{outage['last_after_up']:.0f} s after the receiver came back ({outage['tries']:.0f} tries in all)"
            ),
            baseline=f"a {OUTAGE:.0f} s outage, schedule ticking every {TICK:.0f} s; backoff 15-30 s, then x3 per try",
            ratio=outage["lost"] + outage["duplicated"],
            target="0 lost, 0 duplicated",
            met=outage["lost"] == 0 and outage["duplicated"] == 0 and outage["raised"] > 0,
        ),
    ]
