-- Agents, their heartbeats, and the two maintenance jobs over them.
--
-- agents.status
--   from      to        by
--   (none)    online    record_heartbeat (an agent's first beat registers it)
--   offline   online    record_heartbeat (went_offline_at cleared)
--   online    online    record_heartbeat (last_heartbeat_at moves on)
--   online    offline   mark_stale_agents_offline (silent for longer than the threshold)
--
-- heartbeats: inserted by record_heartbeat (into the day's partition), deleted
-- past retention by heartbeat_partitions (whole partitions, in
-- heartbeat_partitions.sql) and delete_expired_heartbeats (the rest, in
-- batches); never updated.
--
-- Each "what is due" predicate is written once: online_agents for check-stale
-- and _heartbeats_expire_before for cleanup-heartbeats. Both are thresholds
-- the caller passes, and a view takes no arguments, so the view carries the
-- rest of the predicate (status, and the expression the partial index covers)
-- and the twins compare its last_seen_at with their threshold.
-- (A predicate function with `set search_path` is never inlined: its claim
-- could neither use the index nor re-check the row it locks.)

-- Online agents and when each was last seen (its last beat, or its creation
-- if it never beat). last_seen_at is the expression agents_online_last_seen_idx
-- covers, so a range on it is an index scan.
create or replace view public.online_agents with (security_invoker = true) as
  select a.id, a.name, coalesce(a.last_heartbeat_at, a.created_at) as last_seen_at
    from public.agents a
   where a.status = 'online';

-- The write path for agents. An agent that beats for the first time is
-- registered by its first beat, so agents need no separate sign-up call.
-- Arguments carry DESIGN.md's names (callers use them over PostgREST), so the
-- body qualifies them with the function name.
create or replace function public.record_heartbeat(agent_id uuid, payload jsonb default '{}'::jsonb)
returns table (heartbeat_id bigint, status text, last_heartbeat_at timestamptz)
language sql
volatile
security invoker
set search_path = ''
as $$
  with agent as (
    insert into public.agents as a (id, status, last_heartbeat_at)
    values (record_heartbeat.agent_id, 'online', now())
    on conflict (id) do update
       set status = 'online',
           last_heartbeat_at = now(),
           went_offline_at = null,
           updated_at = now()
    returning a.id, a.status, a.last_heartbeat_at
  ), beat as (
    insert into public.heartbeats (agent_id, payload)
    select agent.id, coalesce(record_heartbeat.payload, '{}'::jsonb) from agent
    returning id
  )
  select beat.id, agent.status, agent.last_heartbeat_at from beat, agent;
$$;

-- check-stale: one statement. Rows an agent's heartbeat holds right now are
-- skipped rather than waited for; that agent is evidently alive. The lock is
-- taken through the view, so a row that changed meanwhile is re-checked
-- against the view's predicate before it is marked.
-- It answers one row: the full count, and a sample of at most p_sample agents
-- (oldest first). Supabase's API caps every answer at 1000 rows (db-max-rows),
-- so a list of every agent would be cut short there and the count with it;
-- and nobody reads 50,000 rows anyway.
create or replace function public.mark_stale_agents_offline(
  p_stale_after_seconds integer,
  p_limit integer default null,
  p_sample integer default 100
)
returns table (marked integer, agents jsonb)
language sql
volatile
security invoker
set search_path = ''
as $$
  with stale as (
    select o.id
      from public.online_agents o
     where o.last_seen_at < now() - make_interval(secs => p_stale_after_seconds)
     order by o.last_seen_at
     limit p_limit
       for update skip locked
  ), changed as (
    update public.agents a
       set status = 'offline', went_offline_at = now(), updated_at = now()
      from stale
     where a.id = stale.id
    returning a.id, a.name, coalesce(a.last_heartbeat_at, a.created_at) as last_seen_at, a.went_offline_at
  )
  select (select count(*)::integer from changed),
         coalesce((select jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name, 'last_seen_at', s.last_seen_at,
                                                       'went_offline_at', s.went_offline_at)
                                    order by s.last_seen_at, s.id)
                     from (select c.* from changed c order by c.last_seen_at, c.id limit p_sample) s),
                  '[]'::jsonb);
$$;

-- The dry-run twin of mark_stale_agents_offline: same rows, no write, same
-- shape (a count and a capped sample).
create or replace function public.list_stale_agents(
  p_stale_after_seconds integer,
  p_limit integer default null,
  p_sample integer default 100
)
returns table (stale integer, agents jsonb)
language sql
stable
security invoker
set search_path = ''
as $$
  with stale as (
    select o.id, o.name, o.last_seen_at
      from public.online_agents o
     where o.last_seen_at < now() - make_interval(secs => p_stale_after_seconds)
     order by o.last_seen_at
     limit p_limit
  )
  select (select count(*)::integer from stale),
         coalesce((select jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name, 'last_seen_at', s.last_seen_at)
                                    order by s.last_seen_at, s.id)
                     from (select t.* from stale t order by t.last_seen_at, t.id limit p_sample) s),
                  '[]'::jsonb);
$$;

-- The retention cutoff both heartbeat functions compare created_at with. A
-- stable function of its argument, so `created_at < cutoff` stays an index
-- condition on heartbeats_created_at_idx.
create or replace function public._heartbeats_expire_before(p_retention_days integer)
returns timestamptz
language sql
stable
security invoker
set search_path = ''
as $$
  select now() - make_interval(days => p_retention_days);
$$;

-- cleanup-heartbeats: one bounded batch per call, so each batch is its own
-- short transaction and never holds locks across the whole table. Whole
-- expired partitions are dropped by heartbeat_partitions before the batches;
-- what is left past the cutoff sits in the partition that straddles it (and
-- in the default partition), so the loop visits only partitions that start
-- before the cutoff, oldest first, the default last.
create or replace function public.delete_expired_heartbeats(
  p_retention_days integer,
  p_batch_size integer
)
returns table (deleted integer, batch_size integer)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_cutoff timestamptz := public._heartbeats_expire_before(p_retention_days);
  v_left   integer := p_batch_size;
  v_count  integer;
  v_part   text;
begin
  for v_part in
    select r.partition_name
      from public._heartbeat_partition_ranges() r
     where r.is_default or r.lower_bound < v_cutoff
     order by r.is_default, r.lower_bound
  loop
    exit when v_left <= 0;
    -- The batch's rows are found through the partition's created_at index and
    -- deleted by their ctid (a Tid Scan). A ctid names a row only within one
    -- table, so the statement names the partition, never the parent. (Joining
    -- the delete back on id let the planner hash-join a sequential scan of the
    -- whole table.) No `for update skip locked`: this is a delete, not a
    -- claim, and locking first cost a fifth of the throughput. A second run
    -- (only after the job's lease lapsed) waits at most one batch for rows
    -- this one holds: both lock in ctid order, and a row already gone is skipped.
    execute format('delete from public.%1$I h where h.ctid = any(array('
                   'select d.ctid from public.%1$I d where d.created_at < $1 limit $2))', v_part)
      using v_cutoff, v_left;
    get diagnostics v_count = row_count;
    v_left := v_left - v_count;
  end loop;
  return query select p_batch_size - v_left, p_batch_size;
end
$$;

-- The dry-run twin: how many rows would go, counted up to p_cap so a huge
-- backlog does not turn a dry run into a full scan.
create or replace function public.count_expired_heartbeats(p_retention_days integer, p_cap integer)
returns table (expired integer, capped_at integer)
language sql
stable
security invoker
set search_path = ''
as $$
  select count(*)::integer, p_cap
    from (select 1
            from public.heartbeats h
           where h.created_at < public._heartbeats_expire_before(p_retention_days)
           limit p_cap) capped;
$$;
