-- History: prune-history keeps the ledger (cron_runs) and finished run
-- requests (cron_run_requests done | error) from growing for ever.
--
-- row                                   goes when                                   by
-- cron_runs, any status but running     started_at older than RUN_HISTORY_DAYS      prune_history
-- cron_run_requests, done or error      completed_at older than RUN_HISTORY_DAYS    prune_history
-- cron_run_requests, queued or running  never: they are work still to do            -
--
-- A running ledger row is never pruned: it holds its job's lease, and one
-- past its lease is turned into an error by reap_abandoned_runs first, which
-- is then pruned like any other once it is old enough.

-- The cutoff both functions compare with. A stable function of its argument,
-- so `started_at < cutoff` stays an index condition.
create or replace function public._history_expires_before(p_retention_days integer)
returns timestamptz
language sql
stable
security invoker
set search_path = ''
as $$
  select now() - make_interval(days => p_retention_days);
$$;

-- One bounded batch per call, so each batch is its own short transaction: at
-- most p_batch_size ledger rows and at most p_batch_size finished requests,
-- oldest first.
create or replace function public.prune_history(p_retention_days integer, p_batch_size integer)
returns table (deleted_runs integer, deleted_requests integer, batch_size integer)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if p_retention_days is null or p_retention_days < 1 then
    raise exception 'prune_history: retention must be at least 1 day, got %', p_retention_days
      using errcode = '22023';
  end if;
  if p_batch_size is null or p_batch_size < 1 then
    raise exception 'prune_history: batch size must be positive, got %', p_batch_size using errcode = '22023';
  end if;

  return query
    -- Each batch's rows are found through an index and deleted by ctid (a Tid
    -- Scan). Joining the delete back on id let the planner hash-join a
    -- sequential scan of the whole table, so every batch cost the table's size.
    -- No row locks first: see delete_expired_heartbeats.
    with runs_gone as (
      delete from public.cron_runs r
       where r.ctid = any(array(
               select o.ctid
                 from public.cron_runs o
                where o.started_at < public._history_expires_before(p_retention_days)
                  and o.status <> 'running'
                order by o.started_at
                limit p_batch_size))
         and r.status <> 'running'
      returning 1
    ), requests_gone as (
      -- The status again, where the row is deleted: never a queued or running request.
      delete from public.cron_run_requests q
       where q.ctid = any(array(
               select o.ctid
                 from public.cron_run_requests o
                where o.status in ('done', 'error')
                  and o.completed_at < public._history_expires_before(p_retention_days)
                order by o.completed_at
                limit p_batch_size))
         and q.status in ('done', 'error')
      returning 1
    )
    select (select count(*)::integer from runs_gone), (select count(*)::integer from requests_gone), p_batch_size;
end
$$;

-- The dry-run twin: how many rows would go, each counted up to p_cap so a
-- huge backlog does not turn a dry run into a full scan.
create or replace function public.count_prunable_history(p_retention_days integer, p_cap integer)
returns table (runs integer, requests integer, capped_at integer)
language sql
stable
security invoker
set search_path = ''
as $$
  select (select count(*)::integer
            from (select 1 from public.cron_runs r
                   where r.started_at < public._history_expires_before(p_retention_days)
                     and r.status <> 'running'
                   limit p_cap) capped_runs),
         (select count(*)::integer
            from (select 1 from public.cron_run_requests q
                   where q.status in ('done', 'error')
                     and q.completed_at < public._history_expires_before(p_retention_days)
                   limit p_cap) capped_requests),
         p_cap;
$$;
