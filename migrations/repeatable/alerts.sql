-- Alerts: job.failed, job.overdue and job.recovered episodes per job
-- (cron_job_alert_state), and the outbox they are sent from (cron_alert_outbox).
--
-- cron_job_alert_state, per job
--   from                        to                          by
--   no failed episode           failed_since = now()        a run ends error (cron_runs trigger), or a run
--                               + job.failed queued           request reaches its final error (cron_run_requests trigger)
--   failed episode open         unchanged, nothing queued   more failures: one alert per episode
--   no overdue episode          overdue_since = now()       sweep_overdue_jobs (the schedule tick), when the job
--                               + job.overdue queued          is in alert_overdue_jobs
--   any episode open            both closed                 the first good run (ok or partial) or request (done)
--                               + job.recovered queued
--   due_basis <> basis          due_by, due_basis           sweep_overdue_jobs, from Python's fire times
--   resumed / schedule changed  watch_from = now(),         cron_jobs trigger: the overdue clock restarts
--                               due_by cleared
--
-- Episodes change in the same transaction as the run or request that caused
-- them, through conditional writes (`... where failed_since is null`), so two
-- concurrent failures or ticks open one episode and queue one event. Senders
-- claim events by deleting them (claim_alert_events, sweep_overdue_jobs):
-- each is handed out once. Every writer of a state row first locks its
-- cron_jobs row (settle_run_requests and advance_schedules already hold it,
-- in id order), so these writes queue behind theirs instead of deadlocking.

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

-- Open a failed episode unless one is open; queue job.failed when it opens.
create or replace function public._alert_failed(p_job_id uuid, p_details jsonb)
returns void
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_since timestamptz;
begin
  perform 1 from public.cron_jobs j where j.id = p_job_id for no key update;
  if not found then
    return;
  end if;
  insert into public.cron_job_alert_state as s (job_id, failed_since)
  values (p_job_id, now())
  on conflict (job_id) do update
     set failed_since = now(), updated_at = now()
   where s.failed_since is null
  returning s.failed_since into v_since;
  if v_since is not null then
    insert into public.cron_alert_outbox (event, job_id, payload)
    values ('job.failed', p_job_id,
            public._alert_job_fields(p_job_id) || p_details || jsonb_build_object('failing_since', v_since));
  end if;
end
$$;

-- Close every open episode of the job; queue job.recovered when one was open.
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
                  where s.job_id = p_job_id and (s.failed_since is not null or s.overdue_since is not null)) then
    return;
  end if;
  perform 1 from public.cron_jobs j where j.id = p_job_id for no key update;
  with old as (
    select s.job_id, s.failed_since, s.overdue_since
      from public.cron_job_alert_state s
     where s.job_id = p_job_id and (s.failed_since is not null or s.overdue_since is not null)
       for update
  )
  update public.cron_job_alert_state s
     set failed_since = null, overdue_since = null, updated_at = now()
    from old
   where s.job_id = old.job_id
  returning old.failed_since, old.overdue_since into v_failed, v_overdue;
  if v_failed is null and v_overdue is null then
    return;  -- a concurrent good run closed it first and sent the one job.recovered
  end if;
  insert into public.cron_alert_outbox (event, job_id, payload)
  values ('job.recovered', p_job_id,
          public._alert_job_fields(p_job_id) || p_details
          || jsonb_build_object(
               'recovered_from',
               to_jsonb(array_remove(array[case when v_failed is not null then 'failed' end,
                                           case when v_overdue is not null then 'overdue' end], null)),
               'failing_since', v_failed,
               'overdue_since', v_overdue));
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
-- paused for a week is not overdue the minute it is resumed.
create or replace function public.cron_jobs_alert_watch()
returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  insert into public.cron_job_alert_state as s (job_id, watch_from)
  values (new.id, now())
  on conflict (job_id) do update
     set watch_from = now(), due_by = null, due_basis = null, updated_at = now();
  return null;
end
$$;

create or replace trigger cron_jobs_alert_watch
  after update of enabled, schedule, schedule_type, timezone on public.cron_jobs
  for each row
  when ((new.enabled and not old.enabled)
        or (new.schedule, new.schedule_type, new.timezone) is distinct from (old.schedule, old.schedule_type, old.timezone))
  execute function public.cron_jobs_alert_watch();

-- Jobs whose overdue deadline must be (re)computed: scheduled, enabled, and
-- started (or created, or resumed) since it was last computed. The tick
-- computes each one's fire times in Python and hands them to sweep_overdue_jobs.
-- A worker job without a cronrelay schedule is watched on the schedule its
-- worker mirrors (cron or interval), so a worker whose job stopped running
-- is a job.overdue (repeatable/workers.sql).
create or replace function public.list_jobs_to_watch(p_limit integer default 500)
returns table (id uuid, name text, schedule text, schedule_type text, timezone text, basis timestamptz)
language sql
stable
security invoker
set search_path = ''
as $$
  select j.id, j.name,
         case when m.mirrored then j.mirror_schedule else j.schedule end,
         case when m.mirrored then j.mirror_schedule_kind else j.schedule_type end,
         case when m.mirrored then coalesce(nullif(j.mirror_timezone, ''), 'UTC') else j.timezone end,
         greatest(j.last_run_at, j.created_at, s.watch_from)
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
-- alert_overdue_jobs without one (queueing job.overdue), and claims up to
-- p_claim_limit queued events of any kind, oldest first, for the caller to send.
create or replace function public.sweep_overdue_jobs(p_deadlines jsonb, p_claim_limit integer default 100)
returns table (id bigint, event text, payload jsonb, created_at timestamptz)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
begin
  if p_deadlines is null or jsonb_typeof(p_deadlines) <> 'array' then
    raise exception 'sweep_overdue_jobs: deadlines must be a JSON array' using errcode = '22023';
  end if;

  -- The job rows first, in id order, as every other writer of them takes them.
  perform 1
     from public.cron_jobs j
    where j.id in (select d.job_id from jsonb_to_recordset(p_deadlines) as d (job_id uuid)
                   union
                   select v.id from public.alert_overdue_jobs v where v.overdue_since is null)
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
       set overdue_since = now(), updated_at = now()
     where s.overdue_since is null
       and s.job_id in (select v.id from public.alert_overdue_jobs v)
    returning s.job_id, s.due_by, s.due_basis, s.overdue_since
  )
  insert into public.cron_alert_outbox (event, job_id, payload)
  select 'job.overdue', o.job_id,
         public._alert_job_fields(o.job_id)
         || jsonb_build_object('schedule', j.schedule, 'schedule_type', j.schedule_type, 'timezone', j.timezone,
                               'last_started_at', j.last_run_at, 'due_by', o.due_by,
                               'overdue_since', o.overdue_since)
    from opened o
    join public.cron_jobs j on j.id = o.job_id
   order by o.job_id;

  return query select * from public.claim_alert_events(p_claim_limit);
end
$$;

-- Hand out queued events, oldest first, each once: a claimed event is gone.
create or replace function public.claim_alert_events(p_limit integer default 100)
returns table (id bigint, event text, payload jsonb, created_at timestamptz)
language sql
volatile
security invoker
set search_path = ''
as $$
  delete from public.cron_alert_outbox o
   where o.id in (select q.id from public.cron_alert_outbox q
                   order by q.id
                   limit greatest(1, least(coalesce(p_limit, 100), 1000))
                     for update skip locked)
  returning o.id, o.event, o.payload, o.created_at;
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
