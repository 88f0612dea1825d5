-- On time, every time (issue 15): what a fire that runs at once, a bounded
-- schedule, held requests and the Supabase kick need from the tables.
-- Functions are in repeatable/on_time.sql (and the files they change).

-- Why a queued request waits for the deployment, not for its turn: a setting
-- its job needs is missing (WEBHOOK_SIGNING_SECRET for webhooks, ...). Such a
-- request is held: it stays queued, no attempt is spent, and the next claim
-- once the setting is there clears this and runs it.
alter table public.cron_run_requests add column if not exists held_reason text;

comment on column public.cron_run_requests.held_reason is
  'Why this queued request is held for the deployment (a missing setting, named); null when it can run. '
  'Cleared when a drain that has the setting claims it.';

-- Coalescing: a schedule tick inserts nothing while the job's previous
-- scheduled request is unfinished. advance_schedules asks this per fired row.
create index if not exists cron_run_requests_unfinished_schedule_idx
  on public.cron_run_requests (job_id)
  where requested_by = 'schedule' and status in ('queued', 'running');

-- The Supabase kick's throttle (supabase-cron install): one row, the last
-- time an insert into cron_run_requests called the drain, so a burst of rows
-- costs at most one call per second. Empty until the kick first fires.
create table if not exists public.cron_kicks (
  id             smallint primary key default 1 check (id = 1),
  last_kicked_at timestamptz not null default '-infinity'
);

comment on table public.cron_kicks is
  'The Supabase kick''s throttle: when an insert into cron_run_requests last called /api/cron/run-requests.';

-- Its one row, so the kick's trigger only ever updates it.
insert into public.cron_kicks (id) values (1) on conflict (id) do nothing;
