-- Database-defined schedules: the `schedule` job turns due cron_jobs rows
-- (schedule_type cron, interval or once) into run requests.
--
-- Two calls per batch. claim_due_schedules leases due rows with a fresh
-- claim token; Python computes each one's next fire time (croniter and
-- zoneinfo, which SQL has no good equivalent of); advance_schedules then, in
-- one statement, moves next_run_at and inserts the run requests, only where
-- the row's token still matches. A run that dies between the two calls leaves
-- rows whose lease expires and are claimed again; a late advance from it
-- changes nothing. The dedup_key `<job id>@<scheduled instant>` makes any
-- second insert for the same tick a no-op on top of that.

alter table public.cron_jobs
  add column if not exists schedule_error text,
  add column if not exists schedule_claim_token uuid,
  add column if not exists schedule_locked_until timestamptz;

comment on column public.cron_jobs.schedule_error is
  'Why the schedule job disabled this row (bad cron expression, time zone, interval or timestamp); null when fine.';
comment on column public.cron_jobs.schedule_claim_token is
  'The schedule job''s claim on this row while it computes the next fire time.';
comment on column public.cron_jobs.schedule_locked_until is
  'When that claim lapses; a row claimed by a run that died is claimable again after it.';

-- Due rows, oldest first; a row never scheduled (next_run_at null) is "due"
-- for its first next_run_at to be computed. Rows another run holds (locked or
-- leased) are skipped, not waited for.
create or replace function public.claim_due_schedules(p_limit integer, p_lease_seconds integer)
returns table (id uuid, project_id text, name text, schedule text, schedule_type text, timezone text,
               next_run_at timestamptz, claim_token uuid, db_now timestamptz)
language sql
volatile
security invoker
set search_path = ''
as $$
  with due as (
    select j.id
      from public.cron_jobs j
     where j.enabled
       and j.schedule_type in ('cron', 'interval', 'once')
       and (j.next_run_at <= now() or j.next_run_at is null)
       and (j.schedule_locked_until is null or j.schedule_locked_until <= now())
     order by j.next_run_at nulls first, j.id
     limit p_limit
       for update skip locked
  )
  update public.cron_jobs j
     set schedule_claim_token = gen_random_uuid(),
         schedule_locked_until = now() + make_interval(secs => greatest(p_lease_seconds, 1))
    from due
   where j.id = due.id
  returning j.id, j.project_id, j.name, j.schedule, j.schedule_type, j.timezone, j.next_run_at,
            j.schedule_claim_token, now();
$$;

-- The dry-run twin of claim_due_schedules: the same rows, nothing claimed.
create or replace function public.list_due_schedules(p_limit integer)
returns table (id uuid, project_id text, name text, schedule text, schedule_type text, timezone text,
               next_run_at timestamptz, db_now timestamptz)
language sql
stable
security invoker
set search_path = ''
as $$
  select j.id, j.project_id, j.name, j.schedule, j.schedule_type, j.timezone, j.next_run_at, now()
    from public.cron_jobs j
   where j.enabled
     and j.schedule_type in ('cron', 'interval', 'once')
     and (j.next_run_at <= now() or j.next_run_at is null)
     and (j.schedule_locked_until is null or j.schedule_locked_until <= now())
   order by j.next_run_at nulls first, j.id
   limit p_limit;
$$;

-- Settle one claimed batch. Each item:
--   {id, claim_token, scheduled_at, next_run_at, disable, error}
-- scheduled_at: the tick to enqueue now (null: nothing is due, next_run_at
--   was only computed); next_run_at: the new value (null: unchanged);
-- disable: turn the job off (a `once` that fired, or a row in error);
-- error: why the row's schedule is unusable, kept in schedule_error.
-- Every claimed row leaves with its claim cleared, whatever the outcome.
create or replace function public.advance_schedules(p_items jsonb)
returns table (job_id uuid, applied boolean, enqueued boolean, request_id uuid, dedup_key text)
language sql
volatile
security invoker
set search_path = ''
as $$
  with item as (
    select x.id, x.claim_token, x.scheduled_at, x.next_run_at, coalesce(x.disable, false) as disable, x.error
      from jsonb_to_recordset(coalesce(p_items, '[]'::jsonb))
        as x(id uuid, claim_token uuid, scheduled_at timestamptz, next_run_at timestamptz,
             disable boolean, error text)
  ), locked as (
    -- Take the job rows in id order, as settle_run_requests does, so the two
    -- queue behind each other instead of deadlocking on cron_jobs.
    select j.id
      from public.cron_jobs j
      join item on item.id = j.id and j.schedule_claim_token = item.claim_token
     order by j.id
       for no key update of j
  ), moved as (
    update public.cron_jobs j
       set next_run_at = coalesce(item.next_run_at, j.next_run_at),
           enabled = j.enabled and not item.disable and item.error is null,
           schedule_error = item.error,
           last_status = case when item.error is null then j.last_status else 'error' end,
           schedule_claim_token = null,
           schedule_locked_until = null,
           updated_at = now()
      from item
      join locked on locked.id = item.id
     where j.id = item.id
       and j.schedule_claim_token = item.claim_token
    returning j.id, j.project_id,
              case when item.scheduled_at is not null and item.error is null
                   -- <job id>@<scheduled instant in UTC>, e.g. ...@2026-03-29T01:00:00Z
                   then j.id::text || '@'
                        || rtrim(rtrim(to_char(item.scheduled_at at time zone 'UTC',
                                               'YYYY-MM-DD"T"HH24:MI:SS.US'), '0'), '.')
                        || 'Z'
              end as dedup_key
  ), request as (
    insert into public.cron_run_requests as r (project_id, job_id, requested_by, dedup_key)
    select moved.project_id, moved.id, 'schedule', moved.dedup_key
      from moved
     where moved.dedup_key is not null
    on conflict (dedup_key) do nothing
    returning r.id, r.job_id
  )
  select item.id, moved.id is not null, request.id is not null, request.id, moved.dedup_key
    from item
    left join moved on moved.id = item.id
    left join request on request.job_id = item.id;
$$;

revoke execute on function public.claim_due_schedules(integer, integer) from public, anon, authenticated;
revoke execute on function public.list_due_schedules(integer) from public, anon, authenticated;
revoke execute on function public.advance_schedules(jsonb) from public, anon, authenticated;
grant execute on function public.claim_due_schedules(integer, integer) to service_role;
grant execute on function public.list_due_schedules(integer) to service_role;
grant execute on function public.advance_schedules(jsonb) to service_role;
