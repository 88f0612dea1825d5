-- On time, every time: a fire runs at once, Run now runs now, a held request
-- waits for the deployment, and an empty tick is one round trip.
--
-- cron_run_requests, beyond run_requests.sql
--   from                          to                         by
--   queued (ids named)            running                    claim_run_requests_by_id (the schedule run's
--                                                            own fires, Run now and Retry: executed at once)
--   queued, blocked               queued, held_reason set    hold_run_requests (no attempt spent)
--   running (lease expired),      queued, held_reason set    hold_run_requests (attempts kept: it may have run)
--   blocked
--   queued, held_reason set       running, held_reason null  claim_run_requests / _by_id (the setting is there)
-- "Blocked" is what a drain without some setting cannot run, as
-- {"<kind>" | "builtin:<target>": "<reason naming the setting>"}.

-- Claim the named requests, where they are still queued and due (Run now's,
-- Retry's, or those a schedule run has just inserted): the same lease, token
-- and columns as claim_run_requests, so the drain's executor runs and settles
-- them as its own. A request another drain took first, one that is held
-- (paused job, blocked) or not yet due is left alone, SKIP LOCKED.
-- At most p_limit of them a call (the executor's batch), oldest first.
create or replace function public.claim_run_requests_by_id(
  p_ids jsonb, p_lease_seconds integer, p_blocked jsonb default null, p_limit integer default 1000
)
returns table (id uuid, project_id text, job_id uuid, requested_by text, requested_at timestamptz,
               payload jsonb, attempts integer, max_attempts integer, picked_up_at timestamptz,
               locked_until timestamptz, claim_token uuid, recovered boolean, exhausted boolean,
               job_name text, job_kind text, job_target text, job_payload jsonb, job_enabled boolean)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_open boolean := p_blocked is null or p_blocked = '{}'::jsonb;
begin
  if p_ids is null or jsonb_typeof(p_ids) <> 'array' or jsonb_array_length(p_ids) > 1000 then
    raise exception 'claim_run_requests_by_id: ids must be a JSON array of at most 1000 request ids'
      using errcode = '22023';
  end if;
  if p_lease_seconds is null or p_lease_seconds <= 0 then
    raise exception 'claim_run_requests_by_id: lease must be a positive number of seconds, got %', p_lease_seconds
      using errcode = '22023';
  end if;

  return query
    with wanted as (
      select distinct x.value::uuid as id from jsonb_array_elements_text(p_ids) x
    ), picked as (
      select r.id
        from public.cron_run_requests r
        join wanted w on w.id = r.id
       where r.status = 'queued' and r.available_at <= now()
         and exists (select 1 from public.cron_jobs j
                      where j.id = r.job_id and j.enabled and j.kind in ('builtin', 'webhook'))
         and (v_open or not public._run_request_blocked(r.id, p_blocked))
       order by r.requested_at, r.id
       limit greatest(coalesce(p_limit, 1000), 1)
         for update of r skip locked
    ), claimed as (
      update public.cron_run_requests r
         set status = 'running',
             picked_up_at = now(),
             attempts = r.attempts + 1,
             locked_until = now() + make_interval(secs => p_lease_seconds),
             claim_token = gen_random_uuid(),
             held_reason = null
        from picked p
       where r.id = p.id
      returning r.id, r.project_id, r.job_id, r.requested_by, r.requested_at, r.payload, r.attempts,
                r.max_attempts, r.picked_up_at, r.locked_until, r.claim_token
    )
    select c.id, c.project_id, c.job_id, c.requested_by, c.requested_at, c.payload, c.attempts,
           c.max_attempts, c.picked_up_at, c.locked_until, c.claim_token, false, false,
           j.name, j.kind, j.target, j.payload, j.enabled
      from claimed c
      join public.cron_jobs j on j.id = c.job_id
     order by c.requested_at, c.id;
end
$$;

-- Mark what a drain cannot run for want of a setting as held, with the
-- reason: at most p_limit rows a call (the next drain marks the rest), and
-- never an attempt spent. Answers, per reason, how many requests wait for it.
-- It starts from the blocked jobs (few), then their unfinished requests.
create or replace function public.hold_run_requests(p_blocked jsonb, p_limit integer default 1000)
returns table (reason text, waiting bigint)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
begin
  if p_blocked is null or jsonb_typeof(p_blocked) <> 'object' then
    raise exception 'hold_run_requests: blocked must be a JSON object of reasons' using errcode = '22023';
  end if;
  return query
    with blocked_job as (
      select j.id, coalesce(p_blocked ->> j.kind, p_blocked ->> ('builtin:' || coalesce(j.target, j.name))) as reason
        from public.cron_jobs j
       where j.enabled
         and (p_blocked ? j.kind or p_blocked ? ('builtin:' || coalesce(j.target, j.name)))
    ), candidate as (
      select r.id, b.reason, r.held_reason, r.status
        from blocked_job b
        join public.cron_run_requests r on r.job_id = b.id
       where r.status = 'queued' or (r.status = 'running' and r.locked_until < now())
    ), marked as (
      update public.cron_run_requests r
         set held_reason = c.reason,
             status = 'queued',
             locked_until = null,
             claim_token = null
        from (select c.id, c.reason
                from candidate c
                join public.cron_run_requests x on x.id = c.id
               where c.held_reason is distinct from c.reason or c.status <> 'queued'
               limit greatest(coalesce(p_limit, 1000), 1)
                 for update of x skip locked) c
       where r.id = c.id
      returning r.id
    )
    -- Counted from the candidates (this statement's snapshot), marked or not.
    select c.reason, count(*) from candidate c group by c.reason order by c.reason;
end
$$;

-- Begin a run, and finish it in the same call when there is nothing to do:
-- the empty tick, one round trip instead of begin_run, an empty claim and
-- end_run. p_empty_stats is what the job's own run reports when it finds
-- nothing; finished = true means the run is recorded (ok, those stats,
-- has_more false) and closed, lease released. Otherwise it answers as
-- begin_run does and the job runs as usual. p_blocked (see
-- claim_run_requests): what this deployment cannot run; those requests are
-- marked held here (hold_run_requests, answered in `held` as {reason: count})
-- and do not count as something to do. Only jobs whose "nothing to do" SQL
-- can tell are known here (run-requests); any other job is a 22023.
-- A repeat with the same run key (an adapter's retry) answers as the first call did.
create or replace function public.begin_run_if_due(
  p_job text,
  p_trigger text,
  p_lease_seconds integer,
  p_empty_stats jsonb,
  p_request_id text default null,
  p_run_key text default null,
  p_blocked jsonb default null
)
returns table (run_id bigint, acquired boolean, started_at timestamptz, held_by bigint, paused boolean,
               finished boolean, duration_ms integer, held jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_key   text := nullif(p_run_key, '');
  v_open  boolean := p_blocked is null or p_blocked = '{}'::jsonb;
  v_done  public.cron_runs;
  v_start record;
  v_held  jsonb := '{}'::jsonb;
  v_stats jsonb := coalesce(p_empty_stats, '{}'::jsonb);
  v_due   boolean;
begin
  if p_job is distinct from 'run-requests' then
    raise exception 'begin_run_if_due: no empty-run check for job %', quote_literal(coalesce(p_job, ''))
      using errcode = '22023';
  end if;
  if v_key is not null then
    select * into v_done from public.cron_runs r
     where r.run_key = v_key and r.status in ('ok', 'partial', 'error') and r.stats @> v_stats;
    if v_done.id is not null then
      return query select v_done.id, true, v_done.started_at, null::bigint, false, true, v_done.duration_ms,
                          '{}'::jsonb;
      return;
    end if;
  end if;

  select * into v_start
    from public.begin_run(p_job, p_trigger, p_lease_seconds, p_request_id, false, v_key);
  if not v_start.acquired then
    return query select v_start.run_id, false, v_start.started_at, v_start.held_by, v_start.paused, false,
                        null::integer, v_held;
    return;
  end if;

  if not v_open then
    -- Only a row still to mark takes hold_run_requests' row locks; an
    -- unchanged held queue is counted with a plain read (a tick where nothing
    -- is due stays read-only on the queue).
    if exists (select 1
                 from public.cron_jobs j
                 join public.cron_run_requests r on r.job_id = j.id
                where j.enabled
                  and (p_blocked ? j.kind or p_blocked ? ('builtin:' || coalesce(j.target, j.name)))
                  and ((r.status = 'queued'
                        and r.held_reason is distinct from
                            coalesce(p_blocked ->> j.kind, p_blocked ->> ('builtin:' || coalesce(j.target, j.name))))
                       or (r.status = 'running' and r.locked_until < now()))) then
      select coalesce(jsonb_object_agg(h.reason, h.waiting), '{}'::jsonb) into v_held
        from public.hold_run_requests(p_blocked) h;
    else
      select coalesce(jsonb_object_agg(c.reason, c.waiting), '{}'::jsonb) into v_held
        from (select r.held_reason as reason, count(*) as waiting
                from public.cron_jobs j
                join public.cron_run_requests r on r.job_id = j.id
               where j.enabled and r.status = 'queued' and r.held_reason is not null
                 and (p_blocked ? j.kind or p_blocked ? ('builtin:' || coalesce(j.target, j.name)))
               group by r.held_reason) c;
    end if;
  end if;

  -- What claim_run_requests would take: a due queued request, or a running
  -- one whose lease expired (each a range on its partial index), that this
  -- deployment can run.
  v_due := exists (select 1 from public.run_requests_ready v
                    where v_open or not public._run_request_blocked(v.id, p_blocked))
        or exists (select 1 from public.run_requests_to_recover v
                    where v_open or not public._run_request_blocked(v.id, p_blocked));
  if v_due then
    return query select v_start.run_id, true, v_start.started_at, null::bigint, false, false, null::integer, v_held;
    return;
  end if;

  -- Nothing ran, so this transaction's only news is the empty run's ledger
  -- row (and the lease it takes and gives back). Its commit need not wait for
  -- the WAL flush: a database crash in the next instant would lose a record
  -- of nothing done, never work. That wait is most of an empty tick's cost.
  perform pg_catalog.set_config('synchronous_commit', 'off', true);
  if v_held <> '{}'::jsonb then
    -- The run names the setting the held requests wait for.
    v_stats := v_stats || jsonb_build_object('held', (select sum(value::bigint) from jsonb_each_text(v_held)),
                                             'held_for', (select jsonb_agg(key order by key) from jsonb_each(v_held)));
  end if;
  return query
    select v_start.run_id, true, v_start.started_at, null::bigint, false, true, e.duration_ms, v_held
      from public.end_run(v_start.run_id, 'ok', v_stats, null, false) e;
end
$$;
