"""prune-history over 1,000,000 ledger rows past RUN_HISTORY_DAYS (and 100,000
recent ones that stay), next to one raw DELETE of the same rows
(bench/batched_delete.py says how)."""

from __future__ import annotations

from bench.batched_delete import measure, why_slower
from bench.harness import Figure, at_least, embedded_database, say

EXPIRED = 1_000_000
FRESH = 100_000
RATE_TARGET = 0.8
JOBS = ("check-stale", "cleanup-heartbeats", "reminders", "run-requests", "schedule")

_JOB_NAMES = "array[" + ", ".join(f"'{name}'" for name in JOBS) + "]"
SEED_FRESH = f"""
insert into public.cron_runs (job, trigger, status, started_at, finished_at, duration_ms, stats)
select ({_JOB_NAMES})[1 + g % {len(JOBS)}], 'vercel-cron', 'ok',
       now() - (g % 86400) * interval '1 second', now() - (g % 86400) * interval '1 second', 40,
       '{{"done": 1}}'::jsonb
  from generate_series(1, {FRESH}) g
"""
SEED_EXPIRED = f"""
insert into public.cron_runs (job, trigger, status, started_at, finished_at, duration_ms, stats)
select ({_JOB_NAMES})[1 + g % {len(JOBS)}], 'vercel-cron', 'ok',
       now() - interval '31 days' - (g % 2592000) * interval '1 second',
       now() - interval '31 days' - (g % 2592000) * interval '1 second', 40, '{{"done": 1}}'::jsonb
  from generate_series(1, {EXPIRED}) g
"""
RAW_DELETE = "delete from public.cron_runs where started_at < now() - interval '30 days' and status <> 'running'"


def main() -> list[Figure]:
    with embedded_database() as dsn:
        result = measure(
            dsn,
            seed_fresh=SEED_FRESH,
            seed_expired=SEED_EXPIRED,
            raw_delete=RAW_DELETE,
            job="prune-history",
            function="prune_history",
            one_batch="select * from public.prune_history(30, 10000)",
            counted="deleted_runs",
        )
    # The job's own ledger row is recent, so it stays.
    assert result.raw_rows == EXPIRED and result.job_rows == EXPIRED, (result.raw_rows, result.job_rows)
    ratio = result.job_rate / result.raw_rate
    note = why_slower(result) if ratio < RATE_TARGET else ""
    say(f"prune-history: {EXPIRED:,} of {EXPIRED + FRESH:,} ledger rows expired")
    say(f"  raw DELETE            {result.raw_seconds:6.2f} s = {result.raw_rate:9,.0f} rows/s (baseline)")
    say(
        f"  the job (full run)    {result.job_seconds:6.2f} s = {result.job_rate:9,.0f} rows/s = {ratio:.2f}x; "
        f"{result.batches} batches, longest {result.longest_batch * 1000:.0f} ms"
    )
    return [
        Figure(
            name=f"prune-history, {EXPIRED // 1_000_000}M ledger rows expired",
            measured=f"{result.job_rate:,.0f} rows/s ({result.batches} batches, "
            f"longest {result.longest_batch * 1000:.0f} ms)",
            baseline=f"one raw DELETE: {result.raw_rate:,.0f} rows/s",
            ratio=ratio,
            target=f"≥ {RATE_TARGET}x",
            met=at_least(ratio, RATE_TARGET),
            note=note,
        )
    ]
