-- History a person can use (issue 20): every attempt of a run request, cancel,
-- and retry or cancel many by filter.
--
-- cron_run_requests, as this file moves it
--   from              to                          by
--   queued (or held)  error, "cancelled by <who>"  ops_cancel_request, ops_bulk_requests('cancel')
--   error             (a new queued request)       ops_bulk_requests('retry'): each not yet retried
-- A running request is never interrupted: cancel refuses it (PT409).
--
-- cron_request_attempts, one row per attempt, written by the trigger below as
-- a request leaves `running` (a settle, a worker's settle) or is claimed again
-- after its lease expired (an abandoned attempt). A release (the budget ended
-- before it started) gives its attempt back and is not one.

create or replace function public.cron_run_requests_attempt()
returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_outcome text;
  v_result  jsonb := case when jsonb_typeof(new.result) = 'object' then new.result else '{}'::jsonb end;
begin
  if new.status = 'running' then
    v_outcome := 'abandoned';
    v_result := jsonb_build_object('error', 'no result before its lease expired');
  elsif new.status = 'queued' then
    v_outcome := 'retry';
  else
    v_outcome := new.status;
  end if;
  insert into public.cron_request_attempts
    (request_id, attempt, started_at, duration_ms, outcome, status_code, error, body)
  values (
    new.id, old.attempts, old.picked_up_at,
    case when jsonb_typeof(v_result -> 'duration_ms') = 'number'
         then least(greatest((v_result ->> 'duration_ms')::numeric, 0), 2147483647)::integer end,
    v_outcome,
    case when jsonb_typeof(v_result -> 'status_code') = 'number'
         then least(greatest((v_result ->> 'status_code')::numeric, 0), 999)::integer end,
    left(v_result ->> 'error', 2000),
    left(v_result ->> 'body', 2048));
  return null;
end
$$;

-- Settled (done, error, back to queued with its attempt spent), or claimed
-- again with one more attempt after its lease expired. A release keeps
-- result and gives the attempt back (attempts - 1): not an attempt.
create or replace trigger cron_run_requests_attempt
  after update of status, attempts on public.cron_run_requests
  for each row
  when (old.status = 'running'
        and ((new.status in ('done', 'error'))
             or (new.status = 'queued' and new.attempts >= old.attempts)
             or (new.status = 'running' and new.attempts > old.attempts)))
  execute function public.cron_run_requests_attempt();

-- A run request's attempts, oldest first, and the request that retried it
-- (null when none has).
create or replace function public.ops_request_history(p_request_id uuid)
returns table (attempts jsonb, retried_by uuid)
language sql
stable
security invoker
set search_path = ''
as $$
  select coalesce((select jsonb_agg(jsonb_build_object(
                            'attempt', a.attempt, 'started_at', a.started_at at time zone 'UTC',
                            'finished_at', a.finished_at at time zone 'UTC', 'duration_ms', a.duration_ms,
                            'outcome', a.outcome, 'status_code', a.status_code, 'error', a.error, 'body', a.body)
                          order by a.id)
                     from public.cron_request_attempts a where a.request_id = p_request_id), '[]'::jsonb),
         (select r.id from public.cron_run_requests r where r.retry_of = p_request_id
           order by r.requested_at limit 1);
$$;

-- Cancel a queued (or held) request: it ends `error`, result.error
-- "cancelled by <who>". PT404 when there is none; PT409 when it is running
-- (not interrupted) or already finished. Cancelling one already cancelled
-- answers with it again, so a repeated call is harmless.
create or replace function public.ops_cancel_request(p_request_id uuid, p_by text)
returns table (id uuid, request jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_old public.cron_run_requests;
begin
  select * into v_old from public.cron_run_requests r where r.id = p_request_id for update;
  if v_old.id is null then
    raise exception 'request: no run request with id %', p_request_id using errcode = 'PT404';
  end if;
  if v_old.status = 'queued' then
    update public.cron_run_requests r
       set status = 'error', completed_at = now(), locked_until = null, claim_token = null,
           result = jsonb_build_object('error', 'cancelled by ' || coalesce(nullif(p_by, ''), 'ops'),
                                       'cancelled', true)
     where r.id = p_request_id;
  elsif not (v_old.status = 'error' and coalesce((v_old.result ->> 'cancelled') = 'true', false)) then
    raise exception 'request: only a queued request can be cancelled; this one is %',
                    case when v_old.status = 'running' then 'running (it is not interrupted)' else v_old.status end
      using errcode = 'PT409';
  end if;
  return query select v.id, v.request from public.ops_request_objects v where v.id = p_request_id;
end
$$;

-- Retry or cancel every request that matches a filter, at most p_limit per
-- call (each call stays well inside PostgREST's statement timeout; has_more
-- says to call again). p_dry_run only counts, so the page can show the count
-- before anything is done. Retry takes requests that ended `error` and have
-- no retry yet (a job that is paused is skipped: it cannot queue runs);
-- cancel takes `queued` ones (held included). Filter: p_project, p_job_id,
-- requested between p_since (inclusive) and p_until (exclusive); p_status may
-- only name the status the action takes.
create or replace function public.ops_bulk_requests(
  p_action text,
  p_by text,
  p_project text default null,
  p_job_id uuid default null,
  p_status text default null,
  p_since timestamptz default null,
  p_until timestamptz default null,
  p_dry_run boolean default true,
  p_limit integer default 500
)
returns table (matched bigint, done bigint, has_more boolean)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_status text;
  v_limit  integer := least(greatest(coalesce(p_limit, 500), 1), 1000);
  v_matched bigint;
  v_done    bigint := 0;
  v_request record;
  v_job     public.cron_jobs;
begin
  if p_action not in ('retry', 'cancel') or p_action is null then
    raise exception 'action: action must be retry or cancel' using errcode = 'PT422';
  end if;
  v_status := case p_action when 'retry' then 'error' else 'queued' end;
  if p_status is not null and p_status <> v_status then
    raise exception 'status: % takes % requests only', p_action, v_status using errcode = 'PT422';
  end if;
  if p_since is not null and p_until is not null and p_since >= p_until then
    raise exception 'since: since must be before until' using errcode = 'PT422';
  end if;

  select count(*) into v_matched
    from public.cron_run_requests r
    join public.cron_jobs j on j.id = r.job_id
   where r.status = v_status
     and (p_project is null or r.project_id = p_project)
     and (p_job_id is null or r.job_id = p_job_id)
     and (p_since is null or r.requested_at >= p_since)
     and (p_until is null or r.requested_at < p_until)
     and (p_action = 'cancel'
          or (j.enabled and not exists (select 1 from public.cron_run_requests x where x.retry_of = r.id)));
  if coalesce(p_dry_run, true) then
    return query select v_matched, 0::bigint, false;
    return;
  end if;

  if p_action = 'cancel' then
    with picked as (
      select r.id from public.cron_run_requests r
       where r.status = 'queued'
         and (p_project is null or r.project_id = p_project)
         and (p_job_id is null or r.job_id = p_job_id)
         and (p_since is null or r.requested_at >= p_since)
         and (p_until is null or r.requested_at < p_until)
       order by r.requested_at, r.id
       limit v_limit
         for update skip locked
    )
    update public.cron_run_requests r
       set status = 'error', completed_at = now(), locked_until = null, claim_token = null,
           result = jsonb_build_object('error', 'cancelled by ' || coalesce(nullif(p_by, ''), 'ops'),
                                       'cancelled', true)
      from picked p
     where r.id = p.id and r.status = 'queued';
    get diagnostics v_done = row_count;
  else
    for v_request in
      select r.id, r.job_id, r.payload from public.cron_run_requests r
        join public.cron_jobs j on j.id = r.job_id
       where r.status = 'error'
         and j.enabled
         and (p_project is null or r.project_id = p_project)
         and (p_job_id is null or r.job_id = p_job_id)
         and (p_since is null or r.requested_at >= p_since)
         and (p_until is null or r.requested_at < p_until)
         and not exists (select 1 from public.cron_run_requests x where x.retry_of = r.id)
       order by r.requested_at, r.id
       limit v_limit
         for update of r skip locked
    loop
      select * into v_job from public.cron_jobs j where j.id = v_request.job_id;
      perform public._queue_run_request(v_job, p_by, v_request.payload, 'retry:' || v_request.id::text,
                                        v_request.id);
      v_done := v_done + 1;
    end loop;
  end if;
  return query select v_matched, v_done, v_matched > v_done;
end
$$;
