-- Run requests: "run job X now", queued by callers and drained by /api/cron/run-requests.
--
-- cron_run_requests.status
--   from                      to        by
--   (none)                    queued    request_run, advance_schedules (a schedule's tick)
--   queued (due, job enabled) running   claim_run_requests (attempts + 1, lease and claim_token set)
--   running (lease expired)   running   claim_run_requests (recovered; an exhausted one keeps its attempts)
--   running                   done      settle_run_requests: done
--   running                   error     settle_run_requests: error
--   running                   queued    settle_run_requests: retry (available_at later), release (attempt given back)
-- A request of a paused job (cron_jobs.enabled = false) is held where it is:
-- neither claimed nor recovered until the job is resumed. A request of a
-- `worker` job is never claimed here: its worker claims it (repeatable/workers.sql).
--
-- A drain claims a batch (one statement) and executes it in Python, claiming
-- the next batch while the last requests of this one are still in flight. It
-- settles outcomes as they complete, a group per statement, guarded by the
-- claim token: a settle from a drain whose lease ran out (and whose rows
-- another drain has since claimed) changes nothing.

-- What is claimable, written once for the claim and its dry-run twin, as the
-- two ways a request becomes claimable. Two views, not one with an OR: each
-- is a range on its own partial index (cron_run_requests_running_idx,
-- cron_run_requests_queued_idx), and the claim locks through them, so a row
-- changed meanwhile is re-checked against the predicate before it is taken.

-- Running requests whose lease expired: their drain crashed or was killed.
-- exhausted: it already used all its attempts, so it is settled as an error
-- instead of being run again (a request that kills its drain every time
-- cannot loop for ever).
create or replace view public.run_requests_to_recover with (security_invoker = true) as
  select r.id, r.locked_until, r.attempts >= r.max_attempts as exhausted
    from public.cron_run_requests r
   where r.status = 'running' and r.locked_until < now()
     and exists (select 1 from public.cron_jobs j where j.id = r.job_id and j.enabled and j.kind <> 'worker');

-- Queued requests whose time has come.
create or replace view public.run_requests_ready with (security_invoker = true) as
  select r.id, r.available_at
    from public.cron_run_requests r
   where r.status = 'queued' and r.available_at <= now()
     and exists (select 1 from public.cron_jobs j where j.id = r.job_id and j.enabled and j.kind <> 'worker');

-- The request a dedup_key already names, as request_run returns it. A key
-- that names a request of another job is the caller's mistake, not a repeat.
-- Replaced by _queue_run_request; a database migrated before keeps it otherwise.
drop function if exists public._existing_run_request(text, uuid);

-- Queue a run request for p_job, once per dedup key: the one insert every
-- caller shares (request_run here, run now and retry in manage_requests.sql), which
-- words its own refusals from the outcome:
--   queued     a new request was inserted;
--   existing   the key already names a request of this job (a repeat of the
--              call answers with the first one, even if the job was paused since);
--   other_job  the key names another job's request; nothing queued;
--   paused     the job is paused (enabled = false); nothing queued.
create or replace function public._queue_run_request(
  p_job public.cron_jobs, p_requested_by text, p_payload jsonb, p_dedup_key text, p_retry_of uuid default null
)
returns table (request_id uuid, outcome text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_id     uuid;
  v_job_id uuid;
begin
  if p_dedup_key is not null then
    select r.id, r.job_id into v_id, v_job_id from public.cron_run_requests r where r.dedup_key = p_dedup_key;
    if v_id is not null then
      return query select v_id, case when v_job_id = p_job.id then 'existing' else 'other_job' end;
      return;
    end if;
  end if;
  if not p_job.enabled then
    return query select null::uuid, 'paused'::text;
    return;
  end if;
  -- A concurrent call with the same key waits here for the first to commit,
  -- then inserts nothing and answers with the first one's request.
  insert into public.cron_run_requests as r (project_id, job_id, requested_by, payload, dedup_key, retry_of)
  values (p_job.project_id, p_job.id, p_requested_by, p_payload, p_dedup_key, p_retry_of)
  on conflict (dedup_key) do nothing
  returning r.id into v_id;
  if v_id is not null then
    return query select v_id, 'queued'::text;
    return;
  end if;
  select r.id, r.job_id into v_id, v_job_id from public.cron_run_requests r where r.dedup_key = p_dedup_key;
  return query select v_id, case when v_job_id = p_job.id then 'existing' else 'other_job' end;
end
$$;

-- The write path for callers (a dashboard, a bot, the CLI). Refuses what can
-- never run, so the caller hears about it now rather than from result later,
-- and refuses a paused job, so the caller is not left waiting on it unawares.
--
-- dedup_key makes a call safe to repeat: a caller (or an adapter retrying
-- after a read timeout, when the first call may have committed) that sends
-- the same key again gets the first request back instead of queuing a second.
create or replace function public.request_run(
  job_name text,
  project_id text default 'default',
  requested_by text default null,
  payload jsonb default null,
  dedup_key text default null
)
returns table (id uuid, job_id uuid, project text, status text, requested_at timestamptz)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_project text := coalesce(request_run.project_id, 'default');
  v_payload jsonb := nullif(request_run.payload, 'null'::jsonb);
  v_key     text := nullif(request_run.dedup_key, '');
  v_job     public.cron_jobs;
  v_queued  record;
begin
  if v_payload is not null and jsonb_typeof(v_payload) <> 'object' then
    raise exception 'request_run: payload must be a JSON object (or null), got %', jsonb_typeof(v_payload)
      using errcode = '22023';
  end if;

  select * into v_job from public.cron_jobs j where j.project_id = v_project and j.name = request_run.job_name;
  if v_job.id is null then
    raise exception 'request_run: unknown job % in project %', quote_literal(coalesce(request_run.job_name, '')),
                    quote_literal(v_project)
      using errcode = '22023',
            hint = 'Jobs are rows of public.cron_jobs; builtin ones are created by migrate from vercel.json.';
  end if;

  select * into v_queued from public._queue_run_request(v_job, request_run.requested_by, v_payload, v_key);
  if v_queued.outcome = 'other_job' then
    raise exception 'request_run: dedup_key % already names a request of another job', quote_literal(v_key)
      using errcode = '22023';
  end if;
  if v_queued.outcome = 'paused' then
    raise exception 'request_run: job % in project % is disabled (paused); resume it (enabled = true) to queue runs',
                    quote_literal(request_run.job_name), quote_literal(v_project)
      using errcode = '22023';
  end if;
  return query
    select r.id, r.job_id, r.project_id, r.status, r.requested_at
      from public.cron_run_requests r
     where r.id = v_queued.request_id;
end
$$;

-- Whether a drain that lacks the settings in p_blocked (see
-- claim_run_requests) must leave this request alone. Only called when
-- something is blocked, so the healthy claim pays nothing for it.
create or replace function public._run_request_blocked(p_request_id uuid, p_blocked jsonb)
returns boolean
language sql
stable
security invoker
set search_path = ''
as $$
  select exists (select 1
                   from public.cron_run_requests r
                   join public.cron_jobs j on j.id = r.job_id
                  where r.id = p_request_id
                    and (p_blocked ? j.kind or p_blocked ? ('builtin:' || coalesce(j.target, j.name))));
$$;

-- Claim up to p_batch_size requests: expired ones first, so a recovered
-- request is not starved by a busy queue, then due queued ones.
-- p_blocked: what this drain cannot run for want of a setting, as
-- {"<kind>" | "builtin:<target>": "<reason naming the setting>"}; those
-- requests are left where they are (hold_run_requests marks them held), so
-- no attempt is spent on a deployment's mistake. A claim clears held_reason:
-- the drain that claims a request has what it needs.
drop function if exists public.claim_run_requests(integer, integer);
create or replace function public.claim_run_requests(
  p_batch_size integer, p_lease_seconds integer, p_blocked jsonb default null
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
  if p_batch_size is null or p_batch_size < 1 or p_batch_size > 1000 then
    raise exception 'claim_run_requests: batch size must be between 1 and 1000, got %', p_batch_size
      using errcode = '22023';
  end if;
  if p_lease_seconds is null or p_lease_seconds <= 0 then
    raise exception 'claim_run_requests: lease must be a positive number of seconds, got %', p_lease_seconds
      using errcode = '22023';
  end if;

  return query
    with expired as (
      select v.id, true as recovered, v.exhausted
        from public.run_requests_to_recover v
       where v_open or not public._run_request_blocked(v.id, p_blocked)
       order by v.locked_until
       limit p_batch_size
         for update skip locked
    ), due as (
      select v.id, false as recovered, false as exhausted
        from public.run_requests_ready v
       where v_open or not public._run_request_blocked(v.id, p_blocked)
       order by v.available_at
       limit p_batch_size
         for update skip locked
    ), picked as (
      -- CTEs are read on demand: when expired rows fill the batch, `due` is
      -- never scanned and locks nothing.
      select * from expired
      union all
      select * from due
      limit p_batch_size
    ), claimed as (
      update public.cron_run_requests r
         set status = 'running',
             picked_up_at = now(),
             attempts = case when p.exhausted then r.attempts else r.attempts + 1 end,
             locked_until = now() + make_interval(secs => p_lease_seconds),
             claim_token = gen_random_uuid(),
             held_reason = null
        from picked p
       where r.id = p.id
      returning r.id, r.project_id, r.job_id, r.requested_by, r.requested_at, r.payload, r.attempts,
                r.max_attempts, r.picked_up_at, r.locked_until, r.claim_token, p.recovered, p.exhausted
    )
    select c.id, c.project_id, c.job_id, c.requested_by, c.requested_at, c.payload, c.attempts,
           c.max_attempts, c.picked_up_at, c.locked_until, c.claim_token, c.recovered, c.exhausted,
           j.name, j.kind, j.target, j.payload, j.enabled
      from claimed c
      join public.cron_jobs j on j.id = c.job_id
     order by c.requested_at, c.id;
end
$$;

-- The dry-run twin of claim_run_requests: the same rows, in the same order, untouched.
create or replace function public.list_due_run_requests(p_limit integer default 100)
returns table (id uuid, project_id text, job_id uuid, requested_by text, requested_at timestamptz,
               payload jsonb, attempts integer, max_attempts integer, recovered boolean, exhausted boolean,
               job_name text, job_kind text, job_target text, job_payload jsonb, job_enabled boolean)
language sql
stable
security invoker
set search_path = ''
as $$
  select r.id, r.project_id, r.job_id, r.requested_by, r.requested_at, r.payload, r.attempts, r.max_attempts,
         d.recovered, d.exhausted, j.name, j.kind, j.target, j.payload, j.enabled
    from (select v.id, true as recovered, v.exhausted from public.run_requests_to_recover v
          union all
          select v.id, false, false from public.run_requests_ready v) d
    join public.cron_run_requests r on r.id = d.id
    join public.cron_jobs j on j.id = r.job_id
   order by r.status = 'queued', coalesce(r.locked_until, r.available_at), r.id
   limit greatest(1, least(coalesce(p_limit, 100), 10000));
$$;

-- Settle a batch of outcomes in one statement. p_outcomes is a JSON array of
--   {"id", "claim_token", "outcome", "result", "delay_seconds", "duration_ms", "job_status"}
-- where outcome is
--   done    -> status done, completed_at now, result;
--   error   -> status error, completed_at now, result;
--   retry   -> status queued again, available_at = now() + delay_seconds, result (the failure);
--   release -> not attempted (the run's budget ended, or the builtin job was busy): queued again,
--              available_at = now() + delay_seconds, the claim's attempt given back, result kept.
-- Only rows still running under the same claim token change. Every outcome but
-- release also updates its job's last_run_at / last_status / last_duration_ms.
-- Returns the rows that were settled.
create or replace function public.settle_run_requests(p_outcomes jsonb)
returns table (id uuid, status text, outcome text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
begin
  if p_outcomes is null or jsonb_typeof(p_outcomes) <> 'array' then
    raise exception 'settle_run_requests: outcomes must be a JSON array' using errcode = '22023';
  end if;
  if exists (select 1 from jsonb_array_elements(p_outcomes) e
              where jsonb_typeof(e) <> 'object'
                 or coalesce(e ->> 'outcome', '') not in ('done', 'error', 'retry', 'release')) then
    raise exception 'settle_run_requests: every outcome must be an object whose outcome is done, error, retry or release'
      using errcode = '22023';
  end if;

  -- Concurrent settles of the same jobs take the job rows in one order, so
  -- they queue behind each other instead of deadlocking. NO KEY UPDATE does
  -- not block inserts of new requests (their foreign key check).
  perform 1
     from public.cron_jobs j
    where j.id in (select r.job_id
                     from jsonb_to_recordset(p_outcomes) as o (id uuid, claim_token uuid)
                     join public.cron_run_requests r on r.id = o.id and r.claim_token = o.claim_token)
    order by j.id
      for no key update;

  return query
    with o as (
      select *
        from jsonb_to_recordset(p_outcomes) as o (id uuid, claim_token uuid, outcome text, result jsonb,
                                                  delay_seconds double precision, duration_ms integer,
                                                  job_status text)
    ), settled as (
      update public.cron_run_requests r
         set status = case when o.outcome in ('done', 'error') then o.outcome else 'queued' end,
             completed_at = case when o.outcome in ('done', 'error') then now() end,
             result = case when o.outcome = 'release' then r.result else o.result end,
             attempts = case when o.outcome = 'release' then greatest(r.attempts - 1, 0) else r.attempts end,
             -- Clamped to a day, as settle_reminders does: an absurd delay must not overflow the interval.
             available_at = case when o.outcome in ('retry', 'release')
                                 then now() + make_interval(secs => least(greatest(coalesce(o.delay_seconds, 0), 0), 86400))
                                 else r.available_at end,
             locked_until = null,
             claim_token = null
        from o
       where r.id = o.id
         and r.claim_token = o.claim_token
         and r.status = 'running'
      returning r.id, r.job_id, r.status, r.picked_up_at, o.outcome, o.duration_ms, o.job_status
    ), latest as (
      -- Several requests of one job may settle together; the job shows the latest.
      select distinct on (s.job_id) s.job_id, s.picked_up_at, s.duration_ms,
             coalesce(s.job_status, case when s.outcome = 'done' then 'ok' else 'error' end) as job_status
        from settled s
       where s.outcome <> 'release'
       order by s.job_id, s.picked_up_at desc
    ), jobs as (
      update public.cron_jobs j
         set last_run_at = l.picked_up_at,
             last_status = l.job_status,
             last_duration_ms = l.duration_ms,
             updated_at = now()
        from latest l
       where j.id = l.job_id
      returning j.id
    )
    select s.id, s.status, s.outcome from settled s;
end
$$;

-- The operator's view (python -m lib requests): newest first. held: a queued
-- request of a paused job, which waits for the resume, or one held for a
-- missing setting (held_reason names it).
-- (A database from before held_reason has it without that column: create or
-- replace cannot change a return type, so that one is dropped first.)
do $$
begin
  if to_regprocedure('public.list_run_requests(text, integer)') is not null
     and pg_catalog.pg_get_function_result(to_regprocedure('public.list_run_requests(text, integer)'))
         not like '%held_reason%' then
    drop function public.list_run_requests(text, integer);
  end if;
end
$$;
create or replace function public.list_run_requests(p_status text default null, p_limit integer default 50)
returns table (id uuid, project_id text, job_name text, job_kind text, status text, requested_by text,
               requested_at timestamptz, picked_up_at timestamptz, completed_at timestamptz,
               attempts integer, max_attempts integer, available_at timestamptz,
               locked_until timestamptz, result jsonb, held boolean, held_reason text)
language plpgsql
stable
security invoker
set search_path = ''
as $$
#variable_conflict use_column
begin
  if p_status is not null and p_status not in ('queued', 'running', 'done', 'error') then
    raise exception 'list_run_requests: status must be queued, running, done or error, got %', quote_literal(p_status)
      using errcode = '22023';
  end if;
  return query
    select r.id, r.project_id, j.name, j.kind, r.status, r.requested_by, r.requested_at, r.picked_up_at,
           r.completed_at, r.attempts, r.max_attempts, r.available_at, r.locked_until, r.result,
           r.status = 'queued' and (not j.enabled or r.held_reason is not null),
           case when r.status = 'queued' then r.held_reason end
      from public.cron_run_requests r
      join public.cron_jobs j on j.id = r.job_id
     where p_status is null or r.status = p_status
     order by r.requested_at desc, r.id
     limit greatest(1, least(coalesce(p_limit, 50), 1000));
end
$$;
