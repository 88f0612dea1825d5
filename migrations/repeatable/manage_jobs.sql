-- Job management, jobs: the functions behind lib/manage's jobs (the CLI's
-- `jobs`, the operator console's JSON API). Run now and retry, and the run
-- requests, are in manage_requests.sql; the ledger's runs in manage_runs.sql.
--
-- cron_jobs, as job management changes a row
--   from                     to                          by
--   (none)                   a database-defined job      ops_create_job (name unique in its project)
--   editable job             edited                      ops_update_job (schedule edits reset the schedule's
--                                                        state through cron_jobs_schedule_changed)
--   editable job             (deleted, its requests too) ops_delete_job
--   any job                  paused (enabled = false)    ops_set_job_enabled
--   paused job               resumed (enabled = true)    ops_set_job_enabled (cron/interval: resumed_at, so
--                                                        the ticks it missed are skipped, not caught up)
-- Editable means database-defined: a `vercel` row belongs to vercel.json
-- (migrate writes it), so it can only be run, paused and resumed.
--
-- Every read answers in one round trip and one row: a page of objects as a
-- JSON array, so the console's panels cost one call each and no answer is
-- ever near PostgREST's 1000-row cap (pages are at most 200).
--
-- Errors the caller can act on use PostgREST's own HTTP-status codes
-- (SQLSTATE PTnnn: PT404, PT409, PT422), so the supabase adapter sees the
-- right status too, and their message starts with the field it is about:
-- `<field>: <one line>` (lib/manage/errors.py reads it back).

-- Helpers of an earlier draft of manage.sql (per-row functions; a function
-- with its own search_path is never inlined, so the ops_*_objects views
-- replace them).
drop function if exists public._ops_job_json(public.cron_jobs);
drop function if exists public._ops_request_json(public.cron_run_requests, public.cron_jobs);
drop function if exists public._ops_run_json(public.cron_runs);
drop function if exists public._ops_ts(timestamptz);

-- One stored value can never break a page: a JSON value too large or too
-- deeply nested to render (written by SQL, by hand, by an older version) is
-- shown as a placeholder string that says why, and the rest of the row and
-- the page render as usual (issue 20).
--
-- The console's objects, each written once, as views (the Job's here, the
-- Request's in manage_requests.sql, the Run's in manage_runs.sql): the
-- planner inlines them, so building a page costs no per-row function call.
-- Timestamps are in UTC without an offset (`at time zone 'UTC'`), whatever
-- the session's TimeZone; lib/db/queries/manage.py reads them as UTC, and
-- reads a value Python cannot hold (±infinity, BC, past 9999: rows written by
-- hand) as null.

-- The Job object (lib/manage JobView), less what Python computes
-- (schedule_text, and next_run_at as it will fire). resumed_at is passed on
-- for that computation.
-- Built as `json` (job_json), which the jobs panel aggregates as is: for a
-- page of 200, jsonb_build_object and jsonb_agg cost about 3 of the
-- function's 4 ms (sorting and deduplicating keys, then copying the binary
-- form), json_build_object and json_agg about 1 (bench/console.py). `job` is
-- the same object as jsonb, for the one-row answers (an unused column of an
-- inlined view is never computed).
create or replace view public.ops_job_objects with (security_invoker = true) as
  select o.id, o.project_id, o.name, o.job_json::jsonb as job, o.job_json
  from (
  select j.id, j.project_id, j.name,
         json_build_object(
           'id', j.id, 'project_id', j.project_id, 'name', j.name, 'kind', j.kind, 'target', j.target,
           'payload', case when pg_column_size(j.payload) > 65536 then to_jsonb('<not shown: larger than 64 KB stored>'::text)
                when jsonb_path_exists(j.payload, 'strict $.**{64}')
                then to_jsonb('<not shown: nested deeper than 64 levels>'::text)
                else j.payload end,
           'schedule_type', j.schedule_type, 'schedule', j.schedule, 'timezone', j.timezone,
           'enabled', j.enabled, 'source', j.source, 'editable', j.schedule_type <> 'vercel', 'version', j.version,
           'next_run_at', j.next_run_at at time zone 'UTC', 'last_run_at', j.last_run_at at time zone 'UTC',
           'last_status', j.last_status, 'last_duration_ms', j.last_duration_ms, 'schedule_error', j.schedule_error,
           'fired_at', j.fired_at at time zone 'UTC', 'resumed_at', j.resumed_at at time zone 'UTC',
           'created_at', j.created_at at time zone 'UTC', 'updated_at', j.updated_at at time zone 'UTC',
           -- A worker job: its worker and the fields the worker mirrors (repeatable/workers.sql).
           'worker', case when j.kind = 'worker' then json_build_object(
             'id', w.id, 'name', w.name, 'last_seen_at', w.last_seen_at at time zone 'UTC',
             'online', w.disabled_at is null and w.last_seen_at > now() - interval '2 minutes',
             'revoked', w.disabled_at is not null, 'schedule_kind', j.mirror_schedule_kind,
             'schedule', j.mirror_schedule, 'timezone', j.mirror_timezone, 'enabled', j.mirror_enabled,
             'next_run_at', j.mirror_next_run_at at time zone 'UTC', 'instructions', j.instructions,
             'mirrored_at', j.mirrored_at at time zone 'UTC', 'removed_at', j.worker_removed_at at time zone 'UTC')
           end,
           -- Noise control (alert_controls.sql), durations in seconds.
           'alert_after_failures', j.alert_after_failures, 'alerts_enabled', j.alerts_enabled,
           'realert_after', extract(epoch from j.realert_after)::bigint,
           'overdue_grace', extract(epoch from j.overdue_grace)::bigint) as job_json
    from public.cron_jobs j
    left join public.cron_workers w on w.id = j.worker_id
  ) o;


-- What can be checked without Python: names, kinds and shapes. Schedules,
-- time zones and webhook URLs are checked by lib/manage before it writes.
-- A null argument is not checked: an edit checks only what it changes, so a
-- row written by hand (a name from before these rules, a target the drain
-- refuses) can still be edited, paused or renamed into shape.
create or replace function public._ops_check_definition(
  p_project_id text, p_name text, p_kind text, p_target text, p_payload jsonb, p_schedule_type text
)
returns void
language plpgsql
immutable
security invoker
set search_path = ''
as $$
begin
  if p_project_id is not null and p_project_id !~ '^[A-Za-z0-9._:-]{1,100}$' then
    raise exception 'project_id: project_id must be 1 to 100 characters of letters, digits, . _ : -'
      using errcode = 'PT422';
  end if;
  if p_name is not null and p_name !~ '^[A-Za-z0-9._:-]{1,100}$' then
    raise exception 'name: name must be 1 to 100 characters of letters, digits, . _ : -'
      using errcode = 'PT422';
  end if;
  if p_kind is not null and p_kind not in ('builtin', 'webhook') then
    raise exception 'kind: kind must be builtin or webhook' using errcode = 'PT422';
  end if;
  if p_target is not null and btrim(p_target) = '' then
    raise exception 'target: target is required (a builtin job''s name, or the webhook''s https URL)'
      using errcode = 'PT422';
  end if;
  if p_payload is not null and jsonb_typeof(p_payload) <> 'object' then
    raise exception 'payload: payload must be a JSON object' using errcode = 'PT422';
  end if;
  if p_schedule_type is not null and p_schedule_type not in ('cron', 'interval', 'once', 'manual') then
    raise exception 'schedule_type: schedule_type must be cron, interval, once or manual '
                    '(vercel rows come from vercel.json)'
      using errcode = 'PT422';
  end if;
end
$$;

-- The console's jobs panel in one call: a page of jobs (name order), every
-- project that has a job (for the switcher), and whether more jobs follow.
-- p_project null: every project. p_q: a case-insensitive substring of the
-- name. p_filter: all | enabled | paused | failing (last run or schedule in error).
-- Its jobs were jsonb before they were json (see ops_job_objects): a new
-- result type needs a new function. Only the older shape is dropped, so
-- re-applying this file keeps the function (and a caller's prepared call).
do $$
begin
  if pg_catalog.pg_get_function_result(to_regprocedure('public.ops_list_jobs(text, text, text, integer, integer)'))
     like '%jobs jsonb%' then
    drop function public.ops_list_jobs(text, text, text, integer, integer);
  end if;
end
$$;

create or replace function public.ops_list_jobs(
  p_project text default null,
  p_q text default null,
  p_filter text default 'all',
  p_limit integer default 50,
  p_offset integer default 0
)
returns table (jobs json, projects jsonb, has_more boolean)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_limit   integer := least(greatest(coalesce(p_limit, 50), 1), 200);
  v_offset  integer := greatest(coalesce(p_offset, 0), 0);
  v_filter  text := coalesce(nullif(p_filter, ''), 'all');
  v_pattern text;
begin
  if v_filter not in ('all', 'enabled', 'paused', 'failing') then
    raise exception 'filter: filter must be all, enabled, paused or failing' using errcode = 'PT422';
  end if;
  if nullif(btrim(p_q), '') is not null then
    v_pattern := '%' || replace(replace(replace(btrim(p_q), '\', '\\'), '%', '\%'), '_', '\_') || '%';
  end if;
  return query
    with page as (
      -- The ids of one more than the page, to know whether another page
      -- follows, in the order of the (project_id, name) unique index; the
      -- objects are built for the page's rows only.
      select j.id, j.project_id, j.name
        from public.cron_jobs j
       where (p_project is null or j.project_id = p_project)
         and (v_pattern is null or j.name ilike v_pattern)
         and case v_filter
               when 'enabled' then j.enabled
               when 'paused' then not j.enabled
               when 'failing' then j.last_status = 'error' or j.schedule_error is not null
               else true
             end
       order by j.project_id, j.name
       limit v_limit + 1 offset v_offset
    ), shown as (
      select p.id, p.project_id, p.name from page p order by p.project_id, p.name limit v_limit
    ), project_ids as (
      -- Every distinct project_id, one index probe each (a loose index scan
      -- on the unique (project_id, name) index), not a scan of every job.
      with recursive walk as (
        select min(c.project_id) as project_id from public.cron_jobs c
        union all
        select (select min(c.project_id) from public.cron_jobs c where c.project_id > w.project_id)
          from walk w
         where w.project_id is not null
      )
      select w.project_id from walk w where w.project_id is not null limit 1000
    )
    select coalesce((select json_agg(v.job_json order by s.project_id, s.name)
                       from shown s join public.ops_job_objects v on v.id = s.id), '[]'::json),
           coalesce((select jsonb_agg(p.project_id order by p.project_id) from project_ids p), '[]'::jsonb),
           (select count(*) from page) > v_limit;
end
$$;

-- One job, by id or by (project, name), with its history: the latest
-- p_history ledger rows of its builtin job (the ledger names runs after the
-- job they ran, the row's target) and its latest p_history run requests
-- (a webhook job's history). No row when there is no such job.
create or replace function public.ops_get_job(
  p_job_id uuid default null,
  p_project text default 'default',
  p_name text default null,
  p_history integer default 20
)
returns table (job jsonb, runs jsonb, requests jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_job     public.cron_jobs;
  v_history integer := least(greatest(coalesce(p_history, 20), 0), 200);
begin
  if p_job_id is null and p_name is null then
    raise exception 'job: give a job id or a name' using errcode = 'PT422';
  end if;
  if p_job_id is not null then
    select * into v_job from public.cron_jobs j where j.id = p_job_id;
  else
    select * into v_job from public.cron_jobs j
     where j.project_id = coalesce(p_project, 'default') and j.name = p_name;
  end if;
  if v_job.id is null then
    return;
  end if;
  if v_history > 0 and v_job.kind = 'builtin' then
    -- A run still `running` past its lease is shown as what it is: abandoned.
    perform public.reap_abandoned_runs();
  end if;
  return query
    select (select v.job from public.ops_job_objects v where v.id = v_job.id),
           case when v_job.kind = 'builtin' and v_history > 0 then
             coalesce((select jsonb_agg(v.run order by x.started_at desc, x.id desc)
                         from (select r.id, r.started_at from public.cron_runs r
                                where r.job = v_job.target
                                order by r.started_at desc, r.id desc
                                limit v_history) x
                         join public.ops_run_objects v on v.id = x.id), '[]'::jsonb)
           else '[]'::jsonb end,
           coalesce((select jsonb_agg(v.request order by x.requested_at desc, x.id desc)
                       from (select r.id, r.requested_at from public.cron_run_requests r
                              where r.job_id = v_job.id
                              order by r.requested_at desc, r.id desc
                              limit v_history) x
                       join public.ops_request_objects v on v.id = x.id), '[]'::jsonb);
end
$$;

-- Create a database-defined job. The name is unique in its project: taken,
-- it is PT409. (An adapter that repeats a create whose answer was lost hears
-- 409 for the job its first attempt made; the name is the job's key, so the
-- caller finds it by name.)
-- p_next_run_at: the first fire, computed by lib/manage in the same write,
-- so the next run shown never moves before the first tick.
drop function if exists public.ops_create_job(text, text, text, text, jsonb, text, text, text, boolean, text);
create or replace function public.ops_create_job(
  p_name text,
  p_project_id text default 'default',
  p_kind text default 'webhook',
  p_target text default null,
  p_payload jsonb default '{}'::jsonb,
  p_schedule_type text default 'manual',
  p_schedule text default null,
  p_timezone text default 'UTC',
  p_enabled boolean default true,
  p_source text default 'user',
  p_next_run_at timestamptz default null
)
returns table (id uuid, job jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_job public.cron_jobs;
begin
  perform public._ops_check_definition(coalesce(p_project_id, ''), coalesce(p_name, ''), coalesce(p_kind, ''),
                                       coalesce(p_target, ''), coalesce(p_payload, 'null'::jsonb),
                                       coalesce(p_schedule_type, ''));
  if coalesce(p_source, '') not in ('user', 'agent') then
    raise exception 'source: source must be user or agent' using errcode = 'PT422';
  end if;

  insert into public.cron_jobs as j
    (project_id, name, kind, target, payload, schedule_type, schedule, timezone, enabled, source, next_run_at)
  values (p_project_id, p_name, p_kind, p_target, p_payload, p_schedule_type, nullif(btrim(p_schedule), ''),
          coalesce(nullif(btrim(p_timezone), ''), 'UTC'), coalesce(p_enabled, true), p_source, p_next_run_at)
  on conflict (project_id, name) do nothing
  returning * into v_job;

  if v_job.id is null then
    raise exception 'name: a job named % already exists in project %', quote_literal(p_name),
                    quote_literal(p_project_id)
      using errcode = 'PT409';
  end if;
  return query select v.id, v.job from public.ops_job_objects v where v.id = v_job.id;
end
$$;

-- Change a database-defined job. p_changes holds the fields to set (any of
-- project_id, name, kind, target, payload, schedule_type, schedule,
-- timezone, enabled); a field it leaves out keeps its value. lib/manage
-- validates what changes, and sends kind with target, and schedule_type,
-- schedule and timezone together, so what changed ends as a combination
-- that was checked. Setting the same values again changes nothing, so a
-- repeat is harmless. next_run_at, when given, is the first fire of the
-- schedule as changed (lib/manage computes it), stored in the same write.
create or replace function public.ops_update_job(p_job_id uuid, p_changes jsonb)
returns table (id uuid, job jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_old public.cron_jobs;
  v_new public.cron_jobs;
  v_unknown text;
begin
  if p_changes is null or jsonb_typeof(p_changes) <> 'object' then
    raise exception 'changes: changes must be a JSON object of the fields to change' using errcode = 'PT422';
  end if;
  select k into v_unknown
    from jsonb_object_keys(p_changes) k
   where k not in ('project_id', 'name', 'kind', 'target', 'payload', 'schedule_type', 'schedule', 'timezone',
                   'enabled', 'next_run_at')
   limit 1;
  if v_unknown is not null then
    raise exception '%: % is not a field that can be changed', v_unknown, v_unknown using errcode = 'PT422';
  end if;

  select * into v_old from public.cron_jobs j where j.id = p_job_id for update;
  if v_old.id is null then
    raise exception 'job: no job with id %', p_job_id using errcode = 'PT404';
  end if;
  if v_old.schedule_type = 'vercel' then
    raise exception 'job: builtin jobs are defined by vercel.json; only run, pause and resume apply'
      using errcode = 'PT409';
  end if;

  v_new := v_old;
  if p_changes ? 'project_id' then v_new.project_id := p_changes ->> 'project_id'; end if;
  if p_changes ? 'name' then v_new.name := p_changes ->> 'name'; end if;
  if p_changes ? 'kind' then v_new.kind := p_changes ->> 'kind'; end if;
  if p_changes ? 'target' then v_new.target := p_changes ->> 'target'; end if;
  if p_changes ? 'payload' then v_new.payload := p_changes -> 'payload'; end if;
  if p_changes ? 'schedule_type' then v_new.schedule_type := p_changes ->> 'schedule_type'; end if;
  if p_changes ? 'schedule' then v_new.schedule := nullif(btrim(p_changes ->> 'schedule'), ''); end if;
  if p_changes ? 'timezone' then v_new.timezone := coalesce(nullif(btrim(p_changes ->> 'timezone'), ''), 'UTC'); end if;
  if p_changes ? 'enabled' then
    if jsonb_typeof(p_changes -> 'enabled') <> 'boolean' then
      raise exception 'enabled: enabled must be true or false' using errcode = 'PT422';
    end if;
    v_new.enabled := (p_changes ->> 'enabled')::boolean;
  end if;
  if p_changes ? 'next_run_at' then v_new.next_run_at := (p_changes ->> 'next_run_at')::timestamptz; end if;
  perform public._ops_check_definition(
    case when v_new.project_id is distinct from v_old.project_id then coalesce(v_new.project_id, '') end,
    case when v_new.name is distinct from v_old.name then coalesce(v_new.name, '') end,
    case when v_new.kind is distinct from v_old.kind then coalesce(v_new.kind, '') end,
    case when (v_new.kind, v_new.target) is distinct from (v_old.kind, v_old.target)
         then coalesce(v_new.target, '') end,
    case when v_new.payload is distinct from v_old.payload then coalesce(v_new.payload, 'null'::jsonb) end,
    case when v_new.schedule_type is distinct from v_old.schedule_type then coalesce(v_new.schedule_type, '') end);

  if (v_new.project_id, v_new.name) is distinct from (v_old.project_id, v_old.name)
     and exists (select 1 from public.cron_jobs j where j.project_id = v_new.project_id and j.name = v_new.name) then
    raise exception 'name: a job named % already exists in project %', quote_literal(v_new.name),
                    quote_literal(v_new.project_id)
      using errcode = 'PT409';
  end if;

  if (v_new.project_id, v_new.name, v_new.kind, v_new.target, v_new.payload, v_new.schedule_type, v_new.schedule,
      v_new.timezone, v_new.enabled)
     is not distinct from
     (v_old.project_id, v_old.name, v_old.kind, v_old.target, v_old.payload, v_old.schedule_type, v_old.schedule,
      v_old.timezone, v_old.enabled) then
    return query select v.id, v.job from public.ops_job_objects v where v.id = v_old.id;
    return;
  end if;

  -- A concurrent rename to the same name loses here, as a unique violation.
  begin
    update public.cron_jobs j
       set project_id = v_new.project_id, name = v_new.name, kind = v_new.kind, target = v_new.target,
           payload = v_new.payload, schedule_type = v_new.schedule_type, schedule = v_new.schedule,
           timezone = v_new.timezone, enabled = v_new.enabled, next_run_at = v_new.next_run_at, updated_at = now()
     where j.id = p_job_id
    returning * into v_new;
  exception when unique_violation then
    raise exception 'name: a job named % already exists in project %', quote_literal(v_new.name),
                    quote_literal(v_new.project_id)
      using errcode = 'PT409';
  end;
  -- Its requests follow it to its new project.
  if v_new.project_id <> v_old.project_id then
    update public.cron_run_requests r set project_id = v_new.project_id where r.job_id = p_job_id;
  end if;
  return query select v.id, v.job from public.ops_job_objects v where v.id = v_new.id;
end
$$;

-- Delete a database-defined job, and its run requests with it (the foreign
-- key cascades). No row when there is no such job.
create or replace function public.ops_delete_job(p_job_id uuid)
returns table (id uuid, name text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_job public.cron_jobs;
begin
  select * into v_job from public.cron_jobs j where j.id = p_job_id for update;
  if v_job.id is null then
    return;
  end if;
  if v_job.schedule_type = 'vercel' then
    raise exception 'job: builtin jobs are defined by vercel.json; only run, pause and resume apply'
      using errcode = 'PT409';
  end if;
  delete from public.cron_jobs j where j.id = p_job_id;
  return query select v_job.id, v_job.name;
end
$$;

-- Pause (false) or resume (true) any job, vercel rows included. Setting the
-- value it already has changes nothing (updated_at included). Resuming a
-- cron or interval job sets resumed_at (the cron_jobs_schedule_changed
-- trigger): the ticks it missed while paused are skipped, and it fires next
-- at its first tick after now.
create or replace function public.ops_set_job_enabled(p_job_id uuid, p_enabled boolean)
returns table (id uuid, job jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_job public.cron_jobs;
begin
  if p_enabled is null then
    raise exception 'enabled: enabled must be true or false' using errcode = 'PT422';
  end if;
  update public.cron_jobs j
     set enabled = p_enabled, updated_at = now()
   where j.id = p_job_id and j.enabled <> p_enabled
  returning * into v_job;
  if v_job.id is null then
    select * into v_job from public.cron_jobs j where j.id = p_job_id;
  end if;
  if v_job.id is null then
    raise exception 'job: no job with id %', p_job_id using errcode = 'PT404';
  end if;
  return query select v.id, v.job from public.ops_job_objects v where v.id = v_job.id;
end
$$;
