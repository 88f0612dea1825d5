-- Job management (issue 9): retries link to the request they retry, and the
-- console's lists (a job's requests, the newest requests) read an index, not
-- the whole queue. Functions are in repeatable/manage.sql.

-- A retry is a new request for the same job and payload; retry_of names the
-- failed request it repeats. Pruning the old request leaves the link null.
alter table public.cron_run_requests
  add column if not exists retry_of uuid references public.cron_run_requests (id) on delete set null;

comment on column public.cron_run_requests.retry_of is
  'The failed (status error) request this one retries, when it was queued by a retry; null otherwise.';

-- The foreign key's own lookups (on delete set null when prune-history
-- deletes a retried request) read this instead of the whole table.
create index if not exists cron_run_requests_retry_of_idx
  on public.cron_run_requests (retry_of)
  where retry_of is not null;

-- A job's history (its requests, newest first), and deleting a job (the
-- cascade to its requests): job_id had no index of its own.
create index if not exists cron_run_requests_job_requested_idx
  on public.cron_run_requests (job_id, requested_at desc);

-- The newest requests of every job (the console's request list).
create index if not exists cron_run_requests_requested_idx
  on public.cron_run_requests (requested_at desc);
