-- Database-defined schedules: the `schedule` job turns due cron_jobs rows
-- (schedule_type cron, interval or once) into run requests.
--
-- cron_jobs, as the schedule job sees a row (enabled is the operator's switch
-- and no function here changes it)
--   from                          to                                  by
--   due, unclaimed                claimed (schedule_claim_token,      claim_due_schedules
--                                 schedule_locked_until)
--   claimed                       next_run_at moved, claim cleared;   advance_schedules
--                                 a run request queued for the tick
--   claimed, once, fired          fired_at set: never due again       advance_schedules
--   claimed, unusable schedule    schedule_error set: never due again advance_schedules
--   claimed, lease expired        due again (a run died mid-batch)    (time)
--   schedule/type/timezone edited schedule_error, fired_at, resumed_at  cron_jobs_schedule_changed (trigger)
--                                 and next_run_at cleared: due now
--   paused -> resumed (cron,      resumed_at = now(): missed ticks    cron_jobs_schedule_changed (trigger)
--   interval)                     are skipped, not caught up
--
-- Two calls per batch. claim_due_schedules leases due rows with a fresh
-- claim token; Python computes each one's next fire time (croniter and
-- zoneinfo, which SQL has no good equivalent of); advance_schedules then, in
-- one statement, moves next_run_at and inserts the run requests, only where
-- the row's token still matches. A run that dies between the two calls leaves
-- rows whose lease expires and are claimed again; a late advance from it
-- changes nothing. The dedup_key `<job id>@<scheduled instant>` makes any
-- second insert for the same tick a no-op on top of that.

-- What is due, written once for the claim and its dry-run twin: enabled,
-- scheduled, usable, not a `once` that already fired, due (or never
-- scheduled: due for its first next_run_at to be computed), and held by no
-- live claim. The claim locks through this view, so its plan is the partial
-- index scan on cron_jobs_due_idx and a row changed meanwhile is re-checked
-- against this predicate before it is claimed.
create or replace view public.due_schedules with (security_invoker = true) as
  select j.id, j.project_id, j.name, j.schedule, j.schedule_type, j.timezone, j.next_run_at, j.resumed_at,
         j.created_at
    from public.cron_jobs j
   where j.enabled
     and j.schedule_type in ('cron', 'interval', 'once')
     and j.schedule_error is null
     and j.fired_at is null
     and (j.next_run_at <= now() or j.next_run_at is null)
     and (j.schedule_locked_until is null or j.schedule_locked_until <= now());

-- enabled is the operator's switch alone, so the schedule's own state lives
-- beside it and is reset here:
-- - a changed schedule, schedule_type or timezone clears schedule_error and
--   fired_at, and next_run_at (computed from the old schedule) unless the
--   same update set it, so the row fires again on its new schedule;
-- - resuming a cron or interval job (enabled false -> true) records when, so
--   the ticks it missed while paused collapse into none, not a burst.
create or replace function public.cron_jobs_schedule_changed()
returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  if (new.schedule, new.schedule_type, new.timezone) is distinct from (old.schedule, old.schedule_type, old.timezone) then
    new.schedule_error := null;
    new.fired_at := null;
    new.resumed_at := null;
    if new.next_run_at is not distinct from old.next_run_at then
      new.next_run_at := null;
    end if;
  end if;
  if new.enabled and not old.enabled and new.schedule_type in ('cron', 'interval') then
    new.resumed_at := now();
  end if;
  return new;
end
$$;

create or replace trigger cron_jobs_schedule_changed
  before update of schedule, schedule_type, timezone, enabled on public.cron_jobs
  for each row execute function public.cron_jobs_schedule_changed();
-- Due rows, oldest first; rows another run holds (locked or leased) are
-- skipped, not waited for. p_due_before bounds a run: it claims only what
-- was due at its start (its first claim's db_now), never a tick that fell
-- due while it was going, so one run fires each job at most once.
drop function if exists public.claim_due_schedules(integer, integer);
create or replace function public.claim_due_schedules(
  p_limit integer, p_lease_seconds integer, p_due_before timestamptz default null
)
returns table (id uuid, project_id text, name text, schedule text, schedule_type text, timezone text,
               next_run_at timestamptz, claim_token uuid, db_now timestamptz, resumed_at timestamptz,
               created_at timestamptz)
language sql
volatile
security invoker
set search_path = ''
as $$
  with due as (
    select d.id
      from public.due_schedules d
     where p_due_before is null or d.next_run_at is null or d.next_run_at <= p_due_before
     order by d.next_run_at nulls first, d.id
     limit p_limit
       for update skip locked
  )
  update public.cron_jobs j
     set schedule_claim_token = gen_random_uuid(),
         schedule_locked_until = now() + make_interval(secs => greatest(p_lease_seconds, 1))
    from due
   where j.id = due.id
  returning j.id, j.project_id, j.name, j.schedule, j.schedule_type, j.timezone, j.next_run_at,
            j.schedule_claim_token, now(), j.resumed_at, j.created_at;
$$;

-- The dry-run twin of claim_due_schedules: the same rows, nothing claimed.
create or replace function public.list_due_schedules(p_limit integer)
returns table (id uuid, project_id text, name text, schedule text, schedule_type text, timezone text,
               next_run_at timestamptz, db_now timestamptz, resumed_at timestamptz, created_at timestamptz)
language sql
stable
security invoker
set search_path = ''
as $$
  select d.id, d.project_id, d.name, d.schedule, d.schedule_type, d.timezone, d.next_run_at, now(), d.resumed_at,
         d.created_at
    from public.due_schedules d
   order by d.next_run_at nulls first, d.id
   limit p_limit;
$$;

-- Settle one claimed batch. Each item:
--   {id, claim_token, scheduled_at, next_run_at, fired, error}
-- scheduled_at: the tick to enqueue now (null: nothing is due, next_run_at
--   was only computed, or missed ticks were skipped); next_run_at: the new
--   value (null: unchanged);
-- fired: a `once` that fired now; fired_at records it, so it never fires
--   again, and enabled is left alone, so its request runs;
-- error: why the row's schedule is unusable, kept in schedule_error; the row
--   is not claimed again until its schedule is changed.
-- Every claimed row leaves with its claim (and resumed_at) cleared, whatever the outcome.
-- A tick is coalesced (nothing inserted, coalesced = true) while the job's
-- previous scheduled request is unfinished (queued, held or running), so a
-- job never has more than one scheduled request waiting, however short its
-- interval; next_run_at moves on all the same. A `once` (fired) is never coalesced.
-- (A database from before coalescing has it without the coalesced column:
-- create or replace cannot change a return type, so that one is dropped first.)
do $$
begin
  if to_regprocedure('public.advance_schedules(jsonb)') is not null
     and pg_catalog.pg_get_function_result(to_regprocedure('public.advance_schedules(jsonb)')) not like '%coalesced%' then
    drop function public.advance_schedules(jsonb);
  end if;
end
$$;
create or replace function public.advance_schedules(p_items jsonb)
returns table (job_id uuid, applied boolean, enqueued boolean, request_id uuid, dedup_key text,
               coalesced boolean)
language sql
volatile
security invoker
set search_path = ''
as $$
  with item as (
    select x.id, x.claim_token, x.scheduled_at, x.next_run_at, coalesce(x.fired, false) as fired, x.error
      from jsonb_to_recordset(coalesce(p_items, '[]'::jsonb))
        as x(id uuid, claim_token uuid, scheduled_at timestamptz, next_run_at timestamptz,
             fired boolean, error text)
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
           fired_at = case when item.fired and item.error is null then now() else j.fired_at end,
           resumed_at = null,
           schedule_error = item.error,
           last_status = case when item.error is null then j.last_status else 'error' end,
           schedule_claim_token = null,
           schedule_locked_until = null,
           updated_at = now()
      from item
      join locked on locked.id = item.id
     where j.id = item.id
       and j.schedule_claim_token = item.claim_token
    returning j.id, j.project_id, item.fired,
              case when item.scheduled_at is not null and item.error is null
                   -- <job id>@<scheduled instant in UTC>, e.g. ...@2026-03-29T01:00:00Z
                   then j.id::text || '@'
                        || rtrim(rtrim(to_char(item.scheduled_at at time zone 'UTC',
                                               'YYYY-MM-DD"T"HH24:MI:SS.US'), '0'), '.')
                        || 'Z'
              end as dedup_key
  ), unfinished as (
    -- The job's previous scheduled request, still to finish
    -- (cron_run_requests_unfinished_schedule_idx).
    select moved.id
      from moved
     where moved.dedup_key is not null
       -- A `once` fires once: its fire is never a repeat of an earlier tick.
       and not moved.fired
       and exists (select 1 from public.cron_run_requests u
                    where u.job_id = moved.id and u.requested_by = 'schedule'
                      and u.status in ('queued', 'running'))
  ), request as (
    insert into public.cron_run_requests as r (project_id, job_id, requested_by, dedup_key)
    select moved.project_id, moved.id, 'schedule', moved.dedup_key
      from moved
     where moved.dedup_key is not null
       and moved.id not in (select unfinished.id from unfinished)
    on conflict (dedup_key) do nothing
    returning r.id, r.job_id
  )
  -- A repeat of the same tick (its dedup key) finds its own request
  -- unfinished too: that is a duplicate, not a coalesced tick.
  select item.id, moved.id is not null, request.id is not null, request.id, moved.dedup_key,
         unfinished.id is not null
         and not exists (select 1 from public.cron_run_requests d where d.dedup_key = moved.dedup_key)
    from item
    left join moved on moved.id = item.id
    left join unfinished on unfinished.id = item.id
    left join request on request.job_id = item.id;
$$;
