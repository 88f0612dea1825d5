-- Workers: machines outside the cloud that mirror their jobs here and run the
-- requests queued for them (DESIGN.md, Workers). The HTTP API under
-- /api/worker/ (lib/workers/api.py) and a supabase-py worker with the service
-- role call the same four functions; each takes the worker's own token and
-- scopes everything it reads or writes to that worker's project and jobs.
--
-- cron_run_requests of a worker job (kind 'worker')
--   from                        to        by
--   (none)                      queued    run now, request_run, a cronrelay schedule's tick
--   queued (due, job enabled)   running   worker_claim (attempts + 1, lease and claim_token set)
--   running (lease expired)     running   worker_claim (recovered: the worker died mid-command)
--   running (expired, last try) error     worker_claim ("the lease lapsed"; never claimed again)
--   running                     running   worker_extend (same claim token: a later lease)
--   running                     done      worker_settle: done
--   running                     error     worker_settle: error, or retry with no attempt left
--   running                     queued    worker_settle: retry (available_at after a backoff)
--   queued                      error     worker_sync with complete (the worker no longer has the job)
-- The run-request drain never claims these (repeatable/run_requests.sql).
--
-- cron_workers
--   (none) -> active (ops_add_worker) -> revoked (ops_revoke_worker: disabled_at; its token is refused at once)

-- The worker a token names, or a PT401 error (PostgREST answers 401). Every
-- call is a heartbeat: last_seen_at moves on and the worker's agents row beats
-- (record_heartbeat), at most once per 5 s per worker so a long-polling worker
-- does not write a heartbeat row per poll.
create or replace function public._worker_for_token(p_token text)
returns public.cron_workers
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_worker public.cron_workers;
  v_beat   timestamptz;
begin
  if p_token is null or p_token !~ '^crw_[A-Za-z0-9_-]{32,200}$' then
    raise exception 'worker token refused' using errcode = 'PT401';
  end if;
  select * into v_worker
    from public.cron_workers w
   where w.token_hash = pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8')), 'hex');
  if v_worker.id is null or v_worker.disabled_at is not null then
    raise exception 'worker token refused (unknown or revoked)' using errcode = 'PT401';
  end if;
  if v_worker.last_seen_at is null or v_worker.last_seen_at < now() - interval '5 seconds' then
    -- Of concurrent calls, one beats; the others skip the locked row rather
    -- than wait for the winner's whole call. Into a variable of its own: a
    -- call that did not beat keeps v_worker as it read it.
    update public.cron_workers w
       set last_seen_at = now()
     where w.id = (select x.id from public.cron_workers x
                    where x.id = v_worker.id
                      and (x.last_seen_at is null or x.last_seen_at < now() - interval '5 seconds')
                      for update skip locked)
    returning w.last_seen_at into v_beat;
    if v_beat is not null then
      v_worker.last_seen_at := v_beat;
      perform public.record_heartbeat(v_worker.agent_id,
                                      jsonb_build_object('worker', v_worker.name, 'project_id', v_worker.project_id));
    end if;
  end if;
  return v_worker;
end
$$;

-- The worker's jobs as it has them now. p_jobs is a JSON array (at most 1000) of
--   {"job_id", "name", "schedule_kind", "schedule_expr", "tz", "enabled", "next_run_at",
--    "last_run_at", "last_status", "last_duration_ms", "instructions"}
-- (the run-queue plan's cron_mirror columns). job_id is the worker's own id
-- for the job (cron_jobs.target). A job whose name another job of the project
-- already has is not written; it comes back in `rejected`. With p_complete,
-- this worker's jobs missing from the list are marked removed and their queued
-- requests end error "removed by the worker". One row: counts, and the rejected
-- jobs (at most 100) as a JSON array of {job_id, name, reason}.
create or replace function public.worker_sync(p_token text, p_jobs jsonb, p_complete boolean default false)
returns table (upserted integer, removed integer, rejected jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_worker   public.cron_workers := public._worker_for_token(p_token);
  v_upserted integer;
  v_removed  integer := 0;
  v_rejected jsonb;
begin
  if p_jobs is null or jsonb_typeof(p_jobs) <> 'array' then
    raise exception 'jobs: jobs must be a JSON array' using errcode = 'PT422';
  end if;
  if jsonb_array_length(p_jobs) > 1000 then
    raise exception 'jobs: at most 1000 jobs per sync, got %', jsonb_array_length(p_jobs) using errcode = 'PT422';
  end if;
  if exists (select 1 from jsonb_array_elements(p_jobs) e
              where jsonb_typeof(e) <> 'object' or jsonb_typeof(e -> 'job_id') is distinct from 'string'
                 or btrim(e ->> 'job_id') = '' or length(e ->> 'job_id') > 200) then
    raise exception 'jobs: every job must be an object with a job_id (1 to 200 characters)' using errcode = 'PT422';
  end if;
  if (select count(distinct e ->> 'job_id') from jsonb_array_elements(p_jobs) e) <> jsonb_array_length(p_jobs) then
    raise exception 'jobs: a job_id appears more than once' using errcode = 'PT422';
  end if;

  create temporary table if not exists _worker_sync_jobs (
    job_id text, name text, schedule_kind text, schedule_expr text, tz text, enabled boolean,
    next_run_at timestamptz, last_run_at timestamptz, last_status text, last_duration_ms integer,
    instructions text, reason text
  ) on commit drop;
  truncate _worker_sync_jobs;
  insert into _worker_sync_jobs
  select x.job_id, left(coalesce(nullif(btrim(x.name), ''), x.job_id), 200), left(x.schedule_kind, 50),
         left(x.schedule_expr, 500), left(x.tz, 100), x.enabled, x.next_run_at, x.last_run_at,
         left(x.last_status, 50), x.last_duration_ms, left(x.instructions, 10000), null
    from jsonb_to_recordset(p_jobs) as x (job_id text, name text, schedule_kind text, schedule_expr text, tz text,
                                          enabled boolean, next_run_at timestamptz, last_run_at timestamptz,
                                          last_status text, last_duration_ms integer, instructions text);

  -- A name is unique in its project: one that another job already has, or
  -- that two of these jobs share, is refused for that job alone.
  update _worker_sync_jobs i
     set reason = 'name is taken by another job of the project'
   where exists (select 1 from public.cron_jobs j
                  where j.project_id = v_worker.project_id and j.name = i.name
                    and (j.worker_id is distinct from v_worker.id or j.target <> i.job_id))
      or (select count(*) from _worker_sync_jobs o where o.name = i.name) > 1;

  with written as (
    insert into public.cron_jobs as j (project_id, name, kind, target, worker_id, source, schedule_type,
                                       instructions, mirror_schedule_kind, mirror_schedule, mirror_timezone,
                                       mirror_enabled, mirror_next_run_at, last_run_at, last_status,
                                       last_duration_ms, mirrored_at)
    select v_worker.project_id, i.name, 'worker', i.job_id, v_worker.id, 'agent', 'manual', i.instructions,
           i.schedule_kind, i.schedule_expr, i.tz, i.enabled, i.next_run_at, i.last_run_at, i.last_status,
           i.last_duration_ms, now()
      from _worker_sync_jobs i
     where i.reason is null
    on conflict (worker_id, target) where worker_id is not null do update
       set name = excluded.name,
           instructions = excluded.instructions,
           mirror_schedule_kind = excluded.mirror_schedule_kind,
           mirror_schedule = excluded.mirror_schedule,
           mirror_timezone = excluded.mirror_timezone,
           mirror_enabled = excluded.mirror_enabled,
           mirror_next_run_at = excluded.mirror_next_run_at,
           -- The newer of the worker's own last run and the last request settled here.
           last_run_at = greatest(j.last_run_at, excluded.last_run_at),
           last_status = case when excluded.last_run_at >= coalesce(j.last_run_at, '-infinity'::timestamptz)
                              then excluded.last_status else j.last_status end,
           last_duration_ms = case when excluded.last_run_at >= coalesce(j.last_run_at, '-infinity'::timestamptz)
                                   then excluded.last_duration_ms else j.last_duration_ms end,
           mirrored_at = now(),
           worker_removed_at = null,
           updated_at = now()
    returning 1
  )
  select count(*) into v_upserted from written;

  if p_complete then
    with gone as (
      update public.cron_jobs j
         set worker_removed_at = now(), updated_at = now()
       where j.worker_id = v_worker.id
         and j.worker_removed_at is null
         and not exists (select 1 from _worker_sync_jobs i where i.job_id = j.target)
      returning j.id
    ), ended as (
      update public.cron_run_requests r
         set status = 'error', completed_at = now(), locked_until = null, claim_token = null,
             result = jsonb_build_object('error', 'removed by the worker')
       where r.job_id in (select g.id from gone g) and r.status = 'queued'
      returning 1
    )
    select count(*) into v_removed from gone;
  end if;

  select coalesce(jsonb_agg(jsonb_build_object('job_id', i.job_id, 'name', i.name, 'reason', i.reason)), '[]'::jsonb)
    into v_rejected
    from (select * from _worker_sync_jobs i where i.reason is not null order by i.job_id limit 100) i;
  return query select v_upserted, v_removed, v_rejected;
end
$$;

-- Claim up to p_limit (1-50) requests of this worker's jobs: recovered ones
-- first (their worker died mid-command: the lease lapsed), then due queued
-- ones, oldest first. A lapsed request with no attempt left ends error here
-- instead. Empty when nothing is waiting: the HTTP API polls this to long-poll.
create or replace function public.worker_claim(p_token text, p_limit integer default 1,
                                               p_lease_seconds integer default 60)
returns table (id uuid, job_id uuid, job_key text, job_name text, payload jsonb, instructions text,
               attempt integer, max_attempts integer, requested_at timestamptz, requested_by text,
               locked_until timestamptz, claim_token uuid, recovered boolean)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_worker public.cron_workers := public._worker_for_token(p_token);
begin
  if p_limit is null or p_limit < 1 or p_limit > 50 then
    raise exception 'limit: limit must be between 1 and 50, got %', p_limit using errcode = 'PT422';
  end if;
  if p_lease_seconds is null or p_lease_seconds < 5 or p_lease_seconds > 3600 then
    raise exception 'lease_seconds: lease_seconds must be between 5 and 3600, got %', p_lease_seconds
      using errcode = 'PT422';
  end if;

  with lapsed as (
    select r.id
      from public.cron_run_requests r
     where r.status = 'running' and r.locked_until < now() and r.attempts >= r.max_attempts
       and exists (select 1 from public.cron_jobs j where j.id = r.job_id and j.worker_id = v_worker.id)
       for update skip locked
  )
  update public.cron_run_requests r
     set status = 'error', completed_at = now(), locked_until = null, claim_token = null,
         result = coalesce(r.result, '{}'::jsonb) || jsonb_build_object(
           'error', format('the worker''s lease lapsed on all %s attempts (it stopped or crashed while running it)',
                           r.attempts))
    from lapsed l
   where r.id = l.id;

  return query
    with expired as (
      select r.id, true as recovered
        from public.cron_run_requests r
       where r.status = 'running' and r.locked_until < now() and r.attempts < r.max_attempts
         and exists (select 1 from public.cron_jobs j
                      where j.id = r.job_id and j.worker_id = v_worker.id and j.enabled
                        and j.worker_removed_at is null)
       order by r.locked_until
       limit p_limit
         for update of r skip locked
    ), due as (
      select r.id, false as recovered
        from public.cron_run_requests r
       where r.status = 'queued' and r.available_at <= now()
         and exists (select 1 from public.cron_jobs j
                      where j.id = r.job_id and j.worker_id = v_worker.id and j.enabled
                        and j.worker_removed_at is null)
       order by r.available_at
       limit p_limit
         for update of r skip locked
    ), picked as (
      select * from expired
      union all
      select * from due
      limit p_limit
    ), claimed as (
      update public.cron_run_requests r
         set status = 'running',
             picked_up_at = now(),
             attempts = r.attempts + 1,
             locked_until = now() + make_interval(secs => p_lease_seconds),
             claim_token = gen_random_uuid()
        from picked p
       where r.id = p.id
      returning r.id, r.job_id, r.payload, r.attempts, r.max_attempts, r.requested_at, r.requested_by,
                r.locked_until, r.claim_token, p.recovered
    )
    select c.id, c.job_id, j.target, j.name, coalesce(c.payload, j.payload), j.instructions, c.attempts,
           c.max_attempts, c.requested_at, c.requested_by, c.locked_until, c.claim_token, c.recovered
      from claimed c
      join public.cron_jobs j on j.id = c.job_id
     order by c.requested_at, c.id;
end
$$;

-- A later lease for a request this worker is still running. No row when the
-- claim token is stale (the request was settled, or another worker claimed it
-- after this one's lease lapsed): nothing changes, and the API answers 409.
create or replace function public.worker_extend(p_token text, p_request_id uuid, p_claim_token uuid,
                                                p_lease_seconds integer default 60)
returns table (id uuid, locked_until timestamptz)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_worker public.cron_workers := public._worker_for_token(p_token);
begin
  if p_lease_seconds is null or p_lease_seconds < 5 or p_lease_seconds > 3600 then
    raise exception 'lease_seconds: lease_seconds must be between 5 and 3600, got %', p_lease_seconds
      using errcode = 'PT422';
  end if;
  return query
    update public.cron_run_requests r
       set locked_until = now() + make_interval(secs => p_lease_seconds)
     where r.id = p_request_id
       and r.claim_token = p_claim_token
       and r.status = 'running'
       and exists (select 1 from public.cron_jobs j where j.id = r.job_id and j.worker_id = v_worker.id)
    returning r.id, r.locked_until;
end
$$;

-- Settle this worker's requests, a batch (at most 50) in one statement through
-- settle_run_requests (token-guarded; the job's last_* and alerts follow). p_outcomes:
--   [{"id", "claim_token", "outcome": "done" | "error" | "retry", "result": {...}, "delay_seconds"}]
-- result is the worker's (exit_code, duration_ms, output, error); its
-- duration_ms becomes the job's last_duration_ms. retry goes back to queued
-- after delay_seconds (default: 10 s doubling per attempt, at most an hour),
-- or ends error once the request has used its attempts. Answers the rows that
-- settled, with the status each ended in; a stale token's row is not among them.
create or replace function public.worker_settle(p_token text, p_outcomes jsonb)
returns table (id uuid, status text, outcome text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_worker public.cron_workers := public._worker_for_token(p_token);
  v_mine   jsonb;
begin
  if p_outcomes is null or jsonb_typeof(p_outcomes) <> 'array' then
    raise exception 'outcomes: outcomes must be a JSON array' using errcode = 'PT422';
  end if;
  if jsonb_array_length(p_outcomes) > 50 then
    raise exception 'outcomes: at most 50 outcomes per call' using errcode = 'PT422';
  end if;
  if exists (select 1 from jsonb_array_elements(p_outcomes) e
              where jsonb_typeof(e) <> 'object'
                 or coalesce(e ->> 'outcome', '') not in ('done', 'error', 'retry')
                 or (e ->> 'id') !~* '^[0-9a-f-]{36}$' or (e ->> 'claim_token') !~* '^[0-9a-f-]{36}$'
                 or (e ? 'result' and jsonb_typeof(e -> 'result') not in ('object', 'null'))) then
    raise exception 'outcomes: every outcome must be an object with an id, a claim_token, an outcome of done, '
                    'error or retry, and an optional result object'
      using errcode = 'PT422';
  end if;

  select coalesce(jsonb_agg(jsonb_build_object(
           'id', r.id, 'claim_token', r.claim_token,
           'outcome', case when o.outcome = 'retry' and r.attempts >= r.max_attempts then 'error' else o.outcome end,
           'result', coalesce(o.result, '{}'::jsonb),
           'delay_seconds', coalesce(o.delay_seconds, least(10 * power(2, greatest(r.attempts - 1, 0)), 3600)),
           'duration_ms', case when jsonb_typeof(o.result -> 'duration_ms') = 'number'
                               then least(greatest((o.result ->> 'duration_ms')::numeric, 0), 2147483647)::integer end,
           'job_status', case o.outcome when 'done' then 'ok' else 'error' end)), '[]'::jsonb)
    into v_mine
    from jsonb_to_recordset(p_outcomes) as o (id uuid, claim_token uuid, outcome text, result jsonb,
                                              delay_seconds double precision)
    join public.cron_run_requests r on r.id = o.id and r.claim_token = o.claim_token and r.status = 'running'
   where exists (select 1 from public.cron_jobs j where j.id = r.job_id and j.worker_id = v_worker.id);

  return query select s.id, s.status, s.outcome from public.settle_run_requests(v_mine) s;
end
$$;

-- The Worker object the console and the CLI show: never its token or hash.
-- online: seen in the last 2 minutes and not revoked.
create or replace view public.ops_worker_objects with (security_invoker = true) as
  select w.id, w.project_id, w.name,
         jsonb_build_object(
           'id', w.id, 'project_id', w.project_id, 'name', w.name, 'agent_id', w.agent_id,
           'last_seen_at', w.last_seen_at at time zone 'UTC', 'disabled_at', w.disabled_at at time zone 'UTC',
           'created_at', w.created_at at time zone 'UTC',
           'online', w.disabled_at is null and w.last_seen_at > now() - interval '2 minutes',
           'jobs', (select count(*) from public.cron_jobs j where j.worker_id = w.id and j.worker_removed_at is null))
           as worker
    from public.cron_workers w;

-- Add a worker. The caller makes the token and passes only its hash (hex
-- sha256), so the token never reaches the database. Its agents row is made
-- now, so a worker that never starts is marked offline by check-stale too.
create or replace function public.ops_add_worker(p_project_id text, p_name text, p_token_hash text)
returns table (id uuid, worker jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_id    uuid;
  v_agent uuid;
begin
  if p_project_id is null or p_project_id !~ '^[A-Za-z0-9._:-]{1,100}$' then
    raise exception 'project_id: project_id must be 1 to 100 characters of letters, digits, . _ : -'
      using errcode = 'PT422';
  end if;
  if p_name is null or p_name !~ '^[A-Za-z0-9._:-]{1,100}$' then
    raise exception 'name: name must be 1 to 100 characters of letters, digits, . _ : -' using errcode = 'PT422';
  end if;
  if p_token_hash is null or p_token_hash !~ '^[0-9a-f]{64}$' then
    raise exception 'token_hash: token_hash must be a hex sha256' using errcode = 'PT422';
  end if;
  insert into public.cron_workers as w (project_id, name, token_hash)
  values (p_project_id, p_name, p_token_hash)
  on conflict (project_id, name) do nothing
  returning w.id, w.agent_id into v_id, v_agent;
  if v_id is null then
    raise exception 'name: a worker named % already exists in project %', p_name, p_project_id
      using errcode = 'PT409';
  end if;
  insert into public.agents (id, name, metadata)
  values (v_agent, format('worker %s/%s', p_project_id, p_name), jsonb_build_object('worker_id', v_id))
  on conflict do nothing;
  return query select o.id, o.worker from public.ops_worker_objects o where o.id = v_id;
end
$$;

-- Every worker (of one project, or all), name order, as one row: a JSON array (at most 1000).
create or replace function public.ops_list_workers(p_project text default null)
returns table (count integer, workers jsonb)
language sql
stable
security invoker
set search_path = ''
as $$
  select count(*)::integer, coalesce(jsonb_agg(o.worker order by o.project_id, o.name), '[]'::jsonb)
    from (select * from public.ops_worker_objects o
           where p_project is null or o.project_id = p_project
           order by o.project_id, o.name
           limit 1000) o;
$$;

-- Revoke a worker (by id, or by project and name): its token is refused from
-- the next call on. Its jobs and their history stay. A repeat changes nothing.
create or replace function public.ops_revoke_worker(p_worker_id uuid default null, p_project text default null,
                                                    p_name text default null)
returns table (id uuid, worker jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_id uuid;
begin
  update public.cron_workers w
     set disabled_at = coalesce(w.disabled_at, now())
   where (p_worker_id is not null and w.id = p_worker_id)
      or (p_worker_id is null and w.project_id = coalesce(p_project, 'default') and w.name = p_name)
  returning w.id into v_id;
  if v_id is null then
    raise exception 'worker: no such worker' using errcode = 'PT404';
  end if;
  return query select o.id, o.worker from public.ops_worker_objects o where o.id = v_id;
end
$$;
