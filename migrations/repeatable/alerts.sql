-- Alerts: job.failed, job.overdue and job.recovered episodes per job
-- (cron_job_alert_state), queued as events for the delivery queue
-- (cron_alert_events, repeatable/alert_deliveries.sql).
--
-- cron_job_alert_state, per job
--   from                        to                          by
--   no failed episode           failures + 1                a run ends error (cron_runs trigger), or a run
--                                                             request reaches its final error (cron_run_requests
--                                                             trigger)
--   failures reach the job's    failed_since = now()        the same, once failures >= alert_after_failures
--   alert_after_failures        + job.failed queued
--   failed episode open         unchanged, nothing queued   more failures: one alert per episode
--   no overdue episode          overdue_since = now()       sweep_overdue_jobs (the schedule tick), when the job
--                               + job.overdue queued          is in alert_overdue_jobs
--   an episode open for         alerted_at = now(),         sweep_overdue_jobs, while the job has realert_after
--   realert_after               repeats + 1, the event      (the event carries "repeat": n)
--                               queued again
--   any episode open            both closed, failures 0     the first good run (ok or partial) or request (done)
--                               + job.recovered queued
--   failures, no episode        failures 0, nothing queued  a good run or request: the count starts again
--   due_basis <> basis          due_by, due_basis           sweep_overdue_jobs, from Python's fire times
--   resumed / schedule changed  watch_from = now(),         cron_jobs trigger: the overdue clock restarts
--                               due_by cleared              (overdue_grace changed: due_by cleared only)
--
-- Episodes change in the same transaction as the run or request that caused
-- them, through conditional writes (`... where failed_since is null`), so two
-- concurrent failures or ticks open one episode and queue one event. Every
-- writer of a state row first locks its cron_jobs row (settle_run_requests
-- and advance_schedules already hold it, in id order), so these writes queue
-- behind theirs instead of deadlocking. A muted job (alerts_enabled false)
-- goes through the same moves; its events are recorded with no delivery.

-- The earlier outbox's functions, and the ones whose answers changed shape.
drop function if exists public.claim_alert_events(integer);
drop function if exists public.sweep_overdue_jobs(jsonb, integer);
do $$
begin
  -- Only the older shape: re-applying this file must keep the function (and a caller's prepared call).
  if exists (select 1 from pg_catalog.pg_proc p
              where p.oid = to_regprocedure('public.list_jobs_to_watch(integer)')
                and not ('grace_seconds' = any (p.proargnames))) then
    drop function public.list_jobs_to_watch(integer);
  end if;
end
$$;

-- Overdue: an enabled job with a schedule whose deadline has passed. A paused
-- job is never overdue. Written once, for /api/health's count and for the
-- tick that opens episodes.
-- The deadline is due_by while the job's last start (or creation, or resume)
-- is still due_basis, the one it was computed from. A job that started since
-- is given the same window from its new start: the tick recomputes it exactly
-- a minute later, but when every cron has stopped there is no next tick, and
-- that is when /api/health's count must still climb.
create or replace view public.alert_overdue_jobs with (security_invoker = true) as
  select j.id, j.project_id, j.name, s.due_by, s.overdue_since
    from public.cron_jobs j
    join public.cron_job_alert_state s on s.job_id = j.id
   where j.enabled
     and (j.schedule_type in ('vercel', 'cron', 'interval')
          -- A worker job watched on its worker's mirrored schedule (list_jobs_to_watch).
          or (j.kind = 'worker' and j.schedule_type = 'manual' and j.worker_removed_at is null
              and coalesce(j.mirror_enabled, true)))
     and j.schedule_error is null
     and s.due_by < now()
     and greatest(j.last_run_at, j.created_at, s.watch_from) + (s.due_by - s.due_basis) < now();

-- The fields every job event carries. Never null: these run inside the
-- statement that ends a run or settles a request, and must not fail it.
create or replace function public._alert_job_fields(p_job_id uuid)
returns jsonb
language sql
stable
security invoker
set search_path = ''
as $$
  select coalesce((select jsonb_build_object('job', j.name, 'job_id', j.id, 'project_id', j.project_id,
                                             'kind', j.kind)
                     from public.cron_jobs j
                    where j.id = p_job_id),
                  jsonb_build_object('job_id', p_job_id));
$$;

-- Count a final failure; open a failed episode (and queue job.failed) once
-- the job's alert_after_failures failures in a row are reached, unless one is open.
create or replace function public._alert_failed(p_job_id uuid, p_details jsonb)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_threshold integer;
  v_failures  integer;
  v_since     timestamptz;
begin
  select j.alert_after_failures into v_threshold from public.cron_jobs j where j.id = p_job_id for no key update;
  if not found then
    return;
  end if;
  insert into public.cron_job_alert_state as s (job_id, failures, last_error)
  values (p_job_id, 1, left(p_details ->> 'error', 500))
  on conflict (job_id) do update
     set failures = s.failures + 1, last_error = excluded.last_error, updated_at = now()
  returning s.failures, s.failed_since into v_failures, v_since;
  if v_since is not null or v_failures < coalesce(v_threshold, 1) then
    return;  -- an episode is open already, or the job tolerates this many failures in a row
  end if;
  update public.cron_job_alert_state s
     set failed_since = now(), alerted_at = now(), repeats = 0, updated_at = now()
   where s.job_id = p_job_id and s.failed_since is null
  returning s.failed_since into v_since;
  if v_since is not null then
    perform public._alert_queue('job.failed', p_job_id,
                                public._alert_job_fields(p_job_id) || p_details
                                || jsonb_build_object('failing_since', v_since, 'failures', v_failures), 0);
  end if;
end
$$;

-- Close every open episode of the job and queue job.recovered when one was
-- open; a good run also starts the count of failures in a row again.
create or replace function public._alert_recovered(p_job_id uuid, p_details jsonb)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_failed  timestamptz;
  v_overdue timestamptz;
begin
  -- The common case, a good run of a healthy job, reads one row and locks nothing.
  if not exists (select 1 from public.cron_job_alert_state s
                  where s.job_id = p_job_id
                    and (s.failed_since is not null or s.overdue_since is not null or s.failures > 0)) then
    return;
  end if;
  perform 1 from public.cron_jobs j where j.id = p_job_id for no key update;
  with old as (
    select s.job_id, s.failed_since, s.overdue_since
      from public.cron_job_alert_state s
     where s.job_id = p_job_id
       and (s.failed_since is not null or s.overdue_since is not null or s.failures > 0)
       for update
  )
  update public.cron_job_alert_state s
     set failed_since = null, overdue_since = null, failures = 0, repeats = 0, alerted_at = null,
         updated_at = now()
    from old
   where s.job_id = old.job_id
  returning old.failed_since, old.overdue_since into v_failed, v_overdue;
  if v_failed is null and v_overdue is null then
    return;  -- no episode was open (or a concurrent good run closed it and sent the one job.recovered)
  end if;
  perform public._alert_queue(
    'job.recovered', p_job_id,
    public._alert_job_fields(p_job_id) || p_details
    || jsonb_build_object(
         'recovered_from',
         to_jsonb(array_remove(array[case when v_failed is not null then 'failed' end,
                                     case when v_overdue is not null then 'overdue' end], null)),
         'failing_since', v_failed,
         'overdue_since', v_overdue),
    0);
end
$$;

-- A ledger row that ended: error opens a failed episode, ok/partial closes
-- any. A late report replacing an abandoned run's guess counts too. Dry runs
-- say nothing about the job's health.
create or replace function public.cron_runs_alert()
returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_job_id  uuid;
  v_details jsonb;
begin
  select j.id into v_job_id from public.cron_jobs j where j.project_id = 'default' and j.name = new.job;
  if v_job_id is null then
    return null;
  end if;
  v_details := jsonb_build_object('source', 'run', 'run_id', new.id, 'trigger', new.trigger,
                                  'started_at', new.started_at);
  if new.status = 'error' then
    perform public._alert_failed(v_job_id, v_details || jsonb_build_object('error', new.error));
  else
    perform public._alert_recovered(v_job_id, v_details || jsonb_build_object('status', new.status));
  end if;
  return null;
end
$$;

create or replace trigger cron_runs_alert
  after update of status on public.cron_runs
  for each row
  when (new.status in ('ok', 'partial', 'error') and not new.dry_run
        and (old.status = 'running' or (old.status = 'error' and new.status <> 'error')))
  execute function public.cron_runs_alert();

-- A run request that reached a final status: error (after its last attempt,
-- or at once for a permanent failure) opens a failed episode, done closes any.
-- Retries and releases go back to queued and say nothing yet.
create or replace function public.cron_run_requests_alert()
returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_details jsonb := jsonb_build_object('source', 'request', 'request_id', new.id,
                                        'requested_by', new.requested_by, 'attempts', new.attempts);
begin
  if new.status = 'error' then
    perform public._alert_failed(new.job_id,
                                 v_details || jsonb_build_object('error', left(new.result ->> 'error', 500)));
  else
    perform public._alert_recovered(new.job_id, v_details || jsonb_build_object('status', new.status));
  end if;
  return null;
end
$$;

create or replace trigger cron_run_requests_alert
  after update of status on public.cron_run_requests
  for each row
  when (old.status = 'running' and new.status in ('done', 'error'))
  execute function public.cron_run_requests_alert();

-- Resuming a job or changing its schedule restarts its overdue clock: a job
-- paused for a week is not overdue the minute it is resumed. A new
-- overdue_grace only makes the tick compute the deadline again.
create or replace function public.cron_jobs_alert_watch()
returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_restart boolean := (new.enabled and not old.enabled)
                       or (new.schedule, new.schedule_type, new.timezone)
                          is distinct from (old.schedule, old.schedule_type, old.timezone);
begin
  insert into public.cron_job_alert_state as s (job_id, watch_from)
  values (new.id, now())
  on conflict (job_id) do update
     set watch_from = case when v_restart then now() else s.watch_from end,
         due_by = null, due_basis = null, updated_at = now();
  return null;
end
$$;

create or replace trigger cron_jobs_alert_watch
  after update of enabled, schedule, schedule_type, timezone, overdue_grace on public.cron_jobs
  for each row
  when ((new.enabled and not old.enabled)
        or (new.schedule, new.schedule_type, new.timezone, new.overdue_grace)
           is distinct from (old.schedule, old.schedule_type, old.timezone, old.overdue_grace))
  execute function public.cron_jobs_alert_watch();

-- Jobs whose overdue deadline must be (re)computed: scheduled, enabled, and
-- started (or created, or resumed) since it was last computed. The tick
-- computes each one's fire times in Python and hands them to sweep_overdue_jobs.
-- A worker job without a cronrelay schedule is watched on the schedule its
-- worker mirrors (cron or interval), so a worker whose job stopped running
-- is a job.overdue (repeatable/workers.sql).
create or replace function public.list_jobs_to_watch(p_limit integer default 500)
returns table (id uuid, name text, schedule text, schedule_type text, timezone text, basis timestamptz,
               grace_seconds double precision)
language sql
stable
security invoker
set search_path = ''
as $$
  select j.id, j.name,
         case when m.mirrored then j.mirror_schedule else j.schedule end,
         case when m.mirrored then j.mirror_schedule_kind else j.schedule_type end,
         case when m.mirrored then coalesce(nullif(j.mirror_timezone, ''), 'UTC') else j.timezone end,
         greatest(j.last_run_at, j.created_at, s.watch_from),
         extract(epoch from j.overdue_grace)::double precision
    from public.cron_jobs j
    left join public.cron_job_alert_state s on s.job_id = j.id
   cross join lateral (select j.kind = 'worker' and j.schedule_type = 'manual' as mirrored) m
   where j.enabled
     and ((j.schedule_type in ('vercel', 'cron', 'interval')
           and j.schedule_error is null
           and nullif(btrim(j.schedule), '') is not null)
          or (m.mirrored and j.worker_removed_at is null and coalesce(j.mirror_enabled, true)
              and j.mirror_schedule_kind in ('cron', 'interval')
              and nullif(btrim(j.mirror_schedule), '') is not null))
     and s.due_basis is distinct from greatest(j.last_run_at, j.created_at, s.watch_from)
   order by j.id
   limit greatest(1, least(coalesce(p_limit, 500), 10000));
$$;

-- The schedule tick's one statement for alerts. p_deadlines is a JSON array of
--   {"job_id", "due_basis", "due_by"}   (due_by null: the schedule has no usable fire time)
-- It records the deadlines (only where the basis is still the one they were
-- computed from), opens an overdue episode for every job now in
-- alert_overdue_jobs without one (queueing job.overdue), and queues the
-- repeats of open episodes whose job's realert_after has passed since they
-- last alerted. The events go out through the delivery queue.
create or replace function public.sweep_overdue_jobs(p_deadlines jsonb)
returns table (opened integer, repeated integer)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_opened   integer;
  v_repeated integer;
begin
  if p_deadlines is null or jsonb_typeof(p_deadlines) <> 'array' then
    raise exception 'sweep_overdue_jobs: deadlines must be a JSON array' using errcode = '22023';
  end if;

  -- The job rows first, in id order, as every other writer of them takes them.
  perform 1
     from public.cron_jobs j
    where j.id in (select d.job_id from jsonb_to_recordset(p_deadlines) as d (job_id uuid)
                   union
                   select v.id from public.alert_overdue_jobs v where v.overdue_since is null
                   union
                   select s.job_id from public.cron_job_alert_state s
                     join public.cron_jobs r on r.id = s.job_id
                    where (s.failed_since is not null or s.overdue_since is not null)
                      and r.realert_after is not null
                      and s.alerted_at + r.realert_after <= now())
    order by j.id
      for no key update;

  insert into public.cron_job_alert_state as s (job_id, due_by, due_basis)
  select d.job_id, d.due_by, d.due_basis
    from jsonb_to_recordset(p_deadlines) as d (job_id uuid, due_basis timestamptz, due_by timestamptz)
    join public.cron_jobs j on j.id = d.job_id
   where d.due_basis is not null
  on conflict (job_id) do update
     set due_by = excluded.due_by, due_basis = excluded.due_basis, updated_at = now()
   where excluded.due_basis >= coalesce(s.watch_from, '-infinity'::timestamptz);

  with opened as (
    update public.cron_job_alert_state s
       set overdue_since = now(), updated_at = now(),
           -- A job already in a failed episode keeps its re-alert clock and count.
           alerted_at = case when s.failed_since is null then now() else s.alerted_at end,
           repeats = case when s.failed_since is null then 0 else s.repeats end
     where s.overdue_since is null
       and s.job_id in (select v.id from public.alert_overdue_jobs v)
    returning s.job_id, s.due_by, s.due_basis, s.overdue_since
  )
  select count(public._alert_queue(
           'job.overdue', o.job_id,
           public._alert_job_fields(o.job_id)
           || jsonb_build_object('schedule', j.schedule, 'schedule_type', j.schedule_type, 'timezone', j.timezone,
                                 'last_started_at', j.last_run_at, 'due_by', o.due_by,
                                 'overdue_since', o.overdue_since),
           0))::integer
    into v_opened
    from (select * from opened order by job_id) o
    join public.cron_jobs j on j.id = o.job_id;

  -- Re-alerts: one event per open episode that has been quiet for its job's
  -- realert_after, counted from its last alert, so a late tick sends one, not a burst.
  with due as (
    update public.cron_job_alert_state s
       set alerted_at = now(), repeats = s.repeats + 1, updated_at = now()
      from public.cron_jobs j
     where j.id = s.job_id
       and (s.failed_since is not null or s.overdue_since is not null)
       and j.realert_after is not null
       and s.alerted_at + j.realert_after <= now()
    returning s.job_id, s.repeats, s.failed_since, s.overdue_since, s.last_error, j.schedule, j.schedule_type,
              j.timezone, j.last_run_at
  )
  select count(public._alert_queue(
           case when d.failed_since is not null then 'job.failed' else 'job.overdue' end, d.job_id,
           public._alert_job_fields(d.job_id)
           || case when d.failed_since is not null
                   then jsonb_build_object('failing_since', d.failed_since, 'error', d.last_error)
                   else jsonb_build_object('schedule', d.schedule, 'schedule_type', d.schedule_type,
                                           'timezone', d.timezone, 'last_started_at', d.last_run_at,
                                           'overdue_since', d.overdue_since)
              end
           || jsonb_build_object('repeat', d.repeats),
           d.repeats))::integer
    into v_repeated
    from (select * from due order by job_id) d;

  return query select v_opened, v_repeated;
end
$$;

-- /api/health's dead man's switch: how many jobs are overdue, and nothing else
-- (health needs no secret, so it names none).
-- Two columns: the adapters would hand back a one-column row as a bare value.
create or replace function public.count_overdue_jobs()
returns table (overdue integer, checked_at timestamptz)
language sql
stable
security invoker
set search_path = ''
as $$
  select count(*)::integer, now() from public.alert_overdue_jobs;
$$;

-- /api/health's alert counts in one round trip: overdue jobs (the dead man's
-- switch), deliveries still to go, and deliveries given up on. Counts only
-- (health needs no secret, so it names nothing).
create or replace function public.alert_health()
returns table (overdue integer, alerts_pending integer, alerts_dead integer)
language sql
stable
security invoker
set search_path = ''
as $$
  select (select count(*)::integer from public.alert_overdue_jobs),
         (select count(*)::integer from public.cron_alert_deliveries d where d.status = 'pending'),
         (select count(*)::integer from public.cron_alert_deliveries d where d.status = 'dead');
$$;
