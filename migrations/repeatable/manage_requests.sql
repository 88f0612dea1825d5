-- Job management, run requests: the functions behind lib/manage's run now,
-- retry and requests (the CLI's `jobs run` and `retry`, the console's JSON
-- API). One-row JSON pages, PTnnn errors and the object views are as
-- described at the top of manage_jobs.sql.
--
-- cron_run_requests, as job management adds one
--   from                     to                          by
--   (none)                   queued                      ops_run_now (job enabled), ops_retry_request (the
--                                                        old request is `error`; retry_of links them)

-- The Request object. held: queued behind a paused job, it runs after the resume.
create or replace view public.ops_request_objects with (security_invoker = true) as
  select r.id, r.job_id,
         jsonb_build_object(
           'id', r.id, 'job_id', r.job_id, 'job_name', j.name, 'project_id', r.project_id, 'status', r.status,
           'held', r.status = 'queued' and (not j.enabled or r.held_reason is not null),
           'held_reason', case when r.status = 'queued' then r.held_reason end, 'requested_by', r.requested_by,
           'requested_at', r.requested_at at time zone 'UTC', 'picked_up_at', r.picked_up_at at time zone 'UTC',
           'completed_at', r.completed_at at time zone 'UTC', 'attempts', r.attempts,
           'max_attempts', r.max_attempts, 'available_at', r.available_at at time zone 'UTC',
           'result', case when pg_column_size(r.result) > 65536 then to_jsonb('<not shown: larger than 64 KB stored>'::text)
                when jsonb_path_exists(r.result, 'strict $.**{64}')
                then to_jsonb('<not shown: nested deeper than 64 levels>'::text)
                else r.result end,
           'payload', case when pg_column_size(r.payload) > 65536 then to_jsonb('<not shown: larger than 64 KB stored>'::text)
                when jsonb_path_exists(r.payload, 'strict $.**{64}')
                then to_jsonb('<not shown: nested deeper than 64 levels>'::text)
                else r.payload end,
           'retry_of', r.retry_of,
           -- The request that retried this one (request_history.sql): it cannot be retried again.
           'retried_by', (select x.id from public.cron_run_requests x where x.retry_of = r.id
                           order by x.requested_at limit 1)) as request
    from public.cron_run_requests r
    join public.cron_jobs j on j.id = r.job_id;

-- Queue a request for a job, or a retry of a failed one, through the queue's
-- one insert (_queue_run_request, run_requests.sql), in this API's errors.
create or replace function public._ops_queue_request(
  p_job public.cron_jobs, p_requested_by text, p_payload jsonb, p_dedup_key text, p_retry_of uuid
)
returns uuid
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_queued record;
begin
  select * into v_queued from public._queue_run_request(p_job, p_requested_by, p_payload, p_dedup_key, p_retry_of);
  if v_queued.outcome = 'other_job' then
    raise exception 'dedup_key: dedup_key already names a request of another job' using errcode = 'PT409';
  end if;
  if v_queued.outcome = 'paused' then
    raise exception 'job: % is paused; resume it to queue runs', quote_literal(p_job.name) using errcode = 'PT409';
  end if;
  return v_queued.request_id;
end
$$;

-- Run a job now: queue a run request (the drain runs it). p_payload, when
-- given, overrides the job's payload for this run.
create or replace function public.ops_run_now(
  p_job_id uuid,
  p_requested_by text default 'ops',
  p_payload jsonb default null,
  p_dedup_key text default null
)
returns table (id uuid, request jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_job     public.cron_jobs;
  v_payload jsonb := nullif(p_payload, 'null'::jsonb);
  v_id      uuid;
begin
  if v_payload is not null and jsonb_typeof(v_payload) <> 'object' then
    raise exception 'payload: payload must be a JSON object' using errcode = 'PT422';
  end if;
  select * into v_job from public.cron_jobs j where j.id = p_job_id;
  if v_job.id is null then
    raise exception 'job: no job with id %', p_job_id using errcode = 'PT404';
  end if;
  v_id := public._ops_queue_request(v_job, p_requested_by, v_payload, nullif(p_dedup_key, ''), null);
  return query
    select v.id, v.request from public.ops_request_objects v where v.id = v_id;
end
$$;

-- Retry a request that ended `error`: a new request for the same job and
-- the same payload (null stays null: the job's payload at run time), whose
-- retry_of is the old one. The old request is locked while this decides,
-- so its status cannot change under the check.
create or replace function public.ops_retry_request(
  p_request_id uuid,
  p_requested_by text default 'ops',
  p_dedup_key text default null
)
returns table (id uuid, request jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_old public.cron_run_requests;
  v_job public.cron_jobs;
  v_id  uuid;
begin
  select * into v_old from public.cron_run_requests r where r.id = p_request_id for update;
  if v_old.id is null then
    raise exception 'request: no run request with id %', p_request_id using errcode = 'PT404';
  end if;
  -- Nothing moves a request out of `error`, so a repeat of this call (the
  -- same key) passes this check too and answers with the first retry.
  if v_old.status <> 'error' then
    raise exception 'request: only a request that ended in error can be retried; this one is %', v_old.status
      using errcode = 'PT409';
  end if;
  -- Retried once is enough: a second click must not queue a duplicate. A
  -- repeat of the same call (its key) still answers with its retry.
  select r.id into v_id from public.cron_run_requests r
   where r.retry_of = v_old.id and r.dedup_key is distinct from nullif(p_dedup_key, '') limit 1;
  if v_id is not null then
    raise exception 'request: this request was already retried by %', v_id using errcode = 'PT409';
  end if;
  select * into v_job from public.cron_jobs j where j.id = v_old.job_id;
  v_id := public._ops_queue_request(v_job, p_requested_by, v_old.payload, nullif(p_dedup_key, ''), v_old.id);
  return query
    select v.id, v.request from public.ops_request_objects v where v.id = v_id;
end
$$;

-- Run requests, newest first, of a project, a job and/or a status.
create or replace function public.ops_list_requests(
  p_project text default null,
  p_job_id uuid default null,
  p_status text default null,
  p_limit integer default 50,
  p_offset integer default 0
)
returns table (requests jsonb, has_more boolean)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  v_limit  integer := least(greatest(coalesce(p_limit, 50), 1), 200);
  v_offset integer := greatest(coalesce(p_offset, 0), 0);
begin
  if p_status is not null and p_status not in ('queued', 'running', 'done', 'error') then
    raise exception 'status: status must be queued, running, done or error' using errcode = 'PT422';
  end if;
  return query
    with page as (
      select r.id, r.requested_at
        from public.cron_run_requests r
       where (p_project is null or r.project_id = p_project)
         and (p_job_id is null or r.job_id = p_job_id)
         and (p_status is null or r.status = p_status)
       order by r.requested_at desc, r.id desc
       limit v_limit + 1 offset v_offset
    ), shown as (
      select p.id, p.requested_at from page p order by p.requested_at desc, p.id desc limit v_limit
    )
    select coalesce((select jsonb_agg(v.request order by s.requested_at desc, s.id desc)
                       from shown s join public.ops_request_objects v on v.id = s.id), '[]'::jsonb),
           (select count(*) from page) > v_limit;
end
$$;

-- One run request; no row when there is none.
create or replace function public.ops_get_request(p_request_id uuid)
returns table (id uuid, request jsonb)
language sql
stable
security invoker
set search_path = ''
as $$
  select v.id, v.request from public.ops_request_objects v where v.id = p_request_id;
$$;
