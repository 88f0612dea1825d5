-- Workers (issue 17): machines outside the cloud that run their own jobs.
-- A worker mirrors its jobs into cron_jobs (kind 'worker') and claims the run
-- requests queued for them with a token of its own. Functions are in
-- repeatable/workers.sql.

-- One row per worker. The token itself is never stored: only its sha256, so
-- a leaked table does not leak a usable token (tokens are 32 random bytes, so
-- an unsalted hash is enough). agent_id is the worker's own agents row: every
-- call it makes is a heartbeat there, so check-stale notices a silent worker.
create table if not exists public.cron_workers (
  id           uuid primary key default gen_random_uuid(),
  project_id   text not null default 'default',
  name         text not null,
  token_hash   text not null unique,
  agent_id     uuid not null default gen_random_uuid(),
  last_seen_at timestamptz,
  disabled_at  timestamptz,
  created_at   timestamptz not null default now(),
  unique (project_id, name)
);

comment on table public.cron_workers is
  'Outside workers (python -m lib workers add): token_hash is the hex sha256 of the crw_ token, shown once; '
  'disabled_at set means revoked (every call with its token is refused at once).';

-- A worker job is one an outside worker executes; target is the worker's own id for it.
alter table public.cron_jobs drop constraint if exists cron_jobs_kind_check;
alter table public.cron_jobs
  add constraint cron_jobs_kind_check check (kind in ('builtin', 'webhook', 'worker'));

-- The worker's mirror of its own job (the run-queue plan's cron_mirror
-- columns). The mirrored schedule is shown and feeds the overdue check; the
-- row's own schedule/schedule_type stay the operator's (a cronrelay schedule
-- whose fires are queued for the worker).
alter table public.cron_jobs
  add column if not exists worker_id          uuid references public.cron_workers (id) on delete cascade,
  add column if not exists instructions       text,
  add column if not exists mirror_schedule_kind text,
  add column if not exists mirror_schedule    text,
  add column if not exists mirror_timezone    text,
  add column if not exists mirror_enabled     boolean,
  add column if not exists mirror_next_run_at timestamptz,
  add column if not exists mirrored_at        timestamptz,
  add column if not exists worker_removed_at  timestamptz;

alter table public.cron_jobs drop constraint if exists cron_jobs_worker_kind_check;
alter table public.cron_jobs
  add constraint cron_jobs_worker_kind_check check (kind <> 'worker' or worker_id is not null);

comment on column public.cron_jobs.worker_removed_at is
  'When the worker''s complete sync no longer listed this job: it is not claimed or watched any more, and its '
  'queued requests ended error. A later sync that lists it again clears this.';

-- A worker's sync upserts by its own job id.
create unique index if not exists cron_jobs_worker_target_idx
  on public.cron_jobs (worker_id, target)
  where worker_id is not null;

-- A worker's claim reads the queued requests of its own jobs.
create index if not exists cron_run_requests_queued_job_idx
  on public.cron_run_requests (job_id, available_at)
  where status = 'queued';
