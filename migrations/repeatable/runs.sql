-- Runs: the ledger (cron_runs) and the per-job lease (cron_locks).
--
-- cron_runs.status
--   from                      to                       by
--   (none)                    running                  begin_run (lease taken)
--   (none)                    skipped                  begin_run (another run holds the lease, or the job is paused)
--   running                   ok | partial | error     end_run
--   running (lease expired)   error ("abandoned: ...") reap_abandoned_runs (called by begin_run and list_runs)
--   error ("abandoned: ...")  ok | partial | error     end_run (a late report replaces the guess)
--
-- cron_locks: one row per job while a run holds its lease. begin_run inserts
-- it, or takes it over once locked_until has passed; end_run deletes it while
-- this run still holds it. cron_jobs.last_* are copied from the run by end_run.
--
-- begin_run takes the job's lease and opens a ledger row in one transaction,
-- so a duplicate delivery from Vercel either wins the lease or is recorded as
-- `skipped`. A paused job (cron_jobs.enabled = false) is recorded as
-- `skipped` with stats {"reason": "paused"} and takes no lease.

-- A run whose lease ran out without an end_run crashed or was killed with its
-- function. It must not stay `running` for ever.
create or replace function public.reap_abandoned_runs()
returns table (run_id bigint, job text)
language sql
volatile
security invoker
set search_path = ''
as $$
  update public.cron_runs r
     set status = 'error',
         finished_at = r.lease_until,
         duration_ms = (extract(epoch from (r.lease_until - r.started_at)) * 1000)::integer,
         error = 'abandoned: no result before the lease expired'
   where r.status = 'running'
     and r.lease_until < now()
  returning r.id, r.job;
$$;

-- What begin_run answered the first time it was called with this key: the
-- same run, acquired while it is still running under its lease.
create or replace function public._replay_begin_run(p_run_key text)
returns table (run_id bigint, acquired boolean, started_at timestamptz, held_by bigint, paused boolean)
language sql
stable
security invoker
set search_path = ''
as $$
  select r.id,
         r.status = 'running',
         r.started_at,
         (r.stats ->> 'held_by_run')::bigint,
         r.status = 'skipped' and r.stats ->> 'reason' = 'paused'
    from public.cron_runs r
   where r.run_key = p_run_key;
$$;

-- run_key makes begin_run safe to repeat: the adapters retry a call after a
-- read timeout, when the first attempt may have committed. The runner makes
-- one key per run, so the repeat finds the row the first attempt wrote and
-- answers as it did, instead of meeting its own lease and reporting `skipped`.
create or replace function public.begin_run(
  p_job text,
  p_trigger text,
  p_lease_seconds integer,
  p_request_id text default null,
  p_dry_run boolean default false,
  p_run_key text default null
)
returns table (run_id bigint, acquired boolean, started_at timestamptz, held_by bigint, paused boolean)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_now     timestamptz := clock_timestamp();
  v_key     text := nullif(p_run_key, '');
  v_paused  boolean;
  v_run_id  bigint;
  v_holder  text;
  v_held_by text;
begin
  if p_lease_seconds is null or p_lease_seconds <= 0 then
    raise exception 'begin_run: lease must be a positive number of seconds, got %', p_lease_seconds
      using errcode = '22023';
  end if;

  if v_key is not null then
    return query select * from public._replay_begin_run(v_key);
    if found then
      return;
    end if;
  end if;

  perform public.reap_abandoned_runs();

  -- enabled is the operator's switch: a paused job's runs are recorded and do
  -- nothing, whoever calls (Vercel, a developer, the drain, the CLI).
  select not j.enabled into v_paused
    from public.cron_jobs j
   where j.project_id = 'default' and j.name = p_job;
  v_paused := coalesce(v_paused, false);

  -- A concurrent repeat with the same key waits here for the first to commit,
  -- then inserts nothing and answers with the first one's row.
  insert into public.cron_runs (job, trigger, status, started_at, finished_at, duration_ms, request_id,
                                lease_until, dry_run, stats, run_key)
  values (p_job, p_trigger, case when v_paused then 'skipped' else 'running' end, v_now,
          case when v_paused then v_now end, case when v_paused then 0 end, p_request_id,
          case when v_paused then null else v_now + make_interval(secs => p_lease_seconds) end,
          coalesce(p_dry_run, false),
          case when v_paused then jsonb_build_object('reason', 'paused') else '{}'::jsonb end, v_key)
  on conflict (run_key) where run_key is not null do nothing
  returning id into v_run_id;

  if v_run_id is null then
    return query select * from public._replay_begin_run(v_key);
    return;
  end if;
  if v_paused then
    return query select v_run_id, false, v_now, null::bigint, true;
    return;
  end if;

  -- Concurrent callers serialize on the lock row; the loser re-reads the
  -- winner's unexpired lease, updates nothing and gets no row back.
  insert into public.cron_locks as l (job, holder, locked_until)
  values (p_job, v_run_id::text, v_now + make_interval(secs => p_lease_seconds))
  on conflict (job) do update
     set holder = excluded.holder, locked_until = excluded.locked_until
   where l.locked_until <= v_now
  returning l.holder into v_holder;

  if v_holder is null then
    select l.holder into v_held_by from public.cron_locks l where l.job = p_job;
    update public.cron_runs r
       set status = 'skipped',
           finished_at = v_now,
           duration_ms = 0,
           lease_until = null,
           stats = jsonb_build_object('held_by_run', v_held_by::bigint)
     where r.id = v_run_id;
    return query select v_run_id, false, v_now, v_held_by::bigint, false;
  else
    return query select v_run_id, true, v_now, null::bigint, false;
  end if;
end
$$;

create or replace function public.end_run(
  p_run_id bigint,
  p_status text,
  p_stats jsonb default '{}'::jsonb,
  p_error text default null,
  p_has_more boolean default false
)
returns table (run_id bigint, job text, status text, started_at timestamptz,
               finished_at timestamptz, duration_ms integer)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_now timestamptz := clock_timestamp();
  v_run public.cron_runs;
begin
  if p_status not in ('ok', 'partial', 'error') then
    raise exception 'end_run: status must be ok, partial or error, got %', p_status
      using errcode = '22023';
  end if;

  -- A run reaped as abandoned may still report late: the work did happen, so
  -- its real outcome replaces the guess.
  update public.cron_runs r
     set status = p_status,
         finished_at = v_now,
         duration_ms = (extract(epoch from (v_now - r.started_at)) * 1000)::integer,
         stats = coalesce(p_stats, '{}'::jsonb),
         error = p_error,
         has_more = coalesce(p_has_more, false),
         lease_until = null
   where r.id = p_run_id
     and (r.status = 'running' or (r.status = 'error' and r.error like 'abandoned:%'))
  returning r.* into v_run;

  if v_run.id is null then
    return;
  end if;

  delete from public.cron_locks l where l.job = v_run.job and l.holder = p_run_id::text;

  update public.cron_jobs j
     set last_run_at = v_run.started_at,
         last_status = v_run.status,
         last_duration_ms = v_run.duration_ms,
         updated_at = v_now
   where j.project_id = 'default' and j.name = v_run.job;

  return query select v_run.id, v_run.job, v_run.status, v_run.started_at,
                      v_run.finished_at, v_run.duration_ms;
end
$$;

create or replace function public.list_runs(p_job text default null, p_limit integer default 50)
returns table (id bigint, job text, trigger text, status text, started_at timestamptz,
               finished_at timestamptz, duration_ms integer, stats jsonb, error text,
               request_id text, dry_run boolean, has_more boolean)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  perform public.reap_abandoned_runs();
  return query
    select r.id, r.job, r.trigger, r.status, r.started_at, r.finished_at, r.duration_ms,
           r.stats, r.error, r.request_id, r.dry_run, r.has_more
      from public.cron_runs r
     where p_job is null or r.job = p_job
     order by r.started_at desc, r.id desc
     limit greatest(1, least(coalesce(p_limit, 50), 1000));
end
$$;

-- migrate calls this once per vercel.json cron, so every builtin job has the
-- cron_jobs row its runs report into and run requests point at.
create or replace function public.upsert_builtin_job(p_name text, p_schedule text default null)
returns table (id uuid, name text)
language sql
volatile
security invoker
set search_path = ''
as $$
  insert into public.cron_jobs as j (project_id, name, kind, target, schedule, schedule_type)
  values ('default', p_name, 'builtin', p_name, p_schedule,
          case when p_schedule is null then 'manual' else 'vercel' end)
  on conflict (project_id, name) do update
     set kind = 'builtin',
         target = excluded.target,
         schedule = excluded.schedule,
         schedule_type = excluded.schedule_type,
         updated_at = now()
   where (j.kind, j.target, j.schedule, j.schedule_type)
         is distinct from (excluded.kind, excluded.target, excluded.schedule, excluded.schedule_type)
  returning j.id, j.name;
$$;

-- The database half of /api/health: cheap, touches no table.
create or replace function public.health_check()
returns table (ok boolean, server_time timestamptz)
language sql
stable
security invoker
set search_path = ''
as $$
  select true, now();
$$;
