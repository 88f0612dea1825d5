"""cleanup-heartbeats over 2,000,000 heartbeats, 1,000,000 of them past retention,
next to one raw DELETE of the same rows (bench/batched_delete.py says how)."""

from __future__ import annotations

import asyncio

from bench.batched_delete import execute, measure, why_slower
from bench.harness import Figure, at_least, embedded_database, say

EXPIRED = 1_000_000
FRESH = 1_000_000
AGENTS = 1_000
RATE_TARGET = 0.8
BATCH_TARGET_SECONDS = 1.0

SEED_AGENTS = f"insert into public.agents (name) select 'agent-' || g from generate_series(1, {AGENTS}) g"
# Spread over the agents, in created_at order as agents write them.
SEED_FRESH = f"""
insert into public.heartbeats (agent_id, created_at)
select a.ids[1 + g % {AGENTS}], now() - (g % 86400) * interval '1 second'
  from generate_series(1, {FRESH}) g, (select array_agg(id) ids from public.agents) a
"""
SEED_EXPIRED = f"""
insert into public.heartbeats (agent_id, created_at)
select a.ids[1 + g % {AGENTS}], now() - interval '31 days' - (g % 2592000) * interval '1 second'
  from generate_series(1, {EXPIRED}) g, (select array_agg(id) ids from public.agents) a
"""
RAW_DELETE = "delete from public.heartbeats where created_at < now() - interval '30 days'"


def main() -> list[Figure]:
    with embedded_database() as dsn:
        asyncio.run(execute(dsn, SEED_AGENTS))
        result = measure(
            dsn,
            seed_fresh=SEED_FRESH,
            seed_expired=SEED_EXPIRED,
            raw_delete=RAW_DELETE,
            job="cleanup-heartbeats",
            function="delete_expired_heartbeats",
            one_batch="select * from public.delete_expired_heartbeats(30, 10000)",
            counted="deleted",
        )
    assert result.raw_rows == EXPIRED and result.job_rows == EXPIRED, (result.raw_rows, result.job_rows)
    ratio = result.job_rate / result.raw_rate
    note = why_slower(result) if ratio < RATE_TARGET else ""
    say(f"cleanup-heartbeats: {EXPIRED:,} of {EXPIRED + FRESH:,} heartbeats expired")
    say(f"  raw DELETE            {result.raw_seconds:6.2f} s = {result.raw_rate:9,.0f} rows/s (baseline)")
    say(
        f"  the job (full run)    {result.job_seconds:6.2f} s = {result.job_rate:9,.0f} rows/s = {ratio:.2f}x; "
        f"{result.batches} batches, longest {result.longest_batch * 1000:.0f} ms"
    )
    return [
        Figure(
            name=f"cleanup-heartbeats, {EXPIRED // 1_000_000}M of {(EXPIRED + FRESH) // 1_000_000}M rows expired",
            measured=f"{result.job_rate:,.0f} rows/s ({result.batches} batches)",
            baseline=f"one raw DELETE: {result.raw_rate:,.0f} rows/s",
            ratio=ratio,
            target=f"≥ {RATE_TARGET}x",
            met=at_least(ratio, RATE_TARGET),
            note=note,
        ),
        Figure(
            name="cleanup-heartbeats, longest single batch",
            measured=f"{result.longest_batch * 1000:.0f} ms",
            baseline=f"the {BATCH_TARGET_SECONDS:g} s limit",
            ratio=result.longest_batch / BATCH_TARGET_SECONDS,
            target="≤ 1.0 (≤ 1 s)",
            met=result.longest_batch <= BATCH_TARGET_SECONDS,
        ),
    ]
