-- cron_jobs.version: every write that changes what a job is, or whether it
-- runs, increments it, whoever writes (the console, the CLI, migrate's
-- upsert of vercel.json rows, SQL by hand). The columns the engine itself
-- moves on every run (last_*, next_run_at, schedule leases) leave it alone:
-- an operator's edit is not refused because the job ran meanwhile.
--
-- An edit names the version it was based on (ops_update_job_at_version,
-- below); a stale one is PT409 and changes nothing. Pause, resume and run
-- need no version: they are whole actions, not edits of a form.

create or replace function public.cron_jobs_version()
returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
begin
  new.version := old.version + 1;
  return new;
end
$$;

create or replace trigger cron_jobs_version
  before update on public.cron_jobs
  for each row
  when ((new.project_id, new.name, new.kind, new.target, new.payload, new.schedule_type, new.schedule, new.timezone,
         new.enabled)
        is distinct from
        (old.project_id, old.name, old.kind, old.target, old.payload, old.schedule_type, old.schedule, old.timezone,
         old.enabled))
  execute function public.cron_jobs_version();

-- An edit of a job based on version p_version: PT409 when the job is at
-- another version now (someone else changed it), otherwise ops_update_job.
-- The row is locked first, so no write can slip between the check and the
-- update. p_version null skips the check (the CLI's `jobs edit`, SQL).
create or replace function public.ops_update_job_at_version(p_job_id uuid, p_changes jsonb, p_version bigint)
returns table (id uuid, job jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_current bigint;
begin
  select j.version into v_current from public.cron_jobs j where j.id = p_job_id for update;
  if v_current is null then
    raise exception 'job: no job with id %', p_job_id using errcode = 'PT404';
  end if;
  if p_version is not null and p_version <> v_current then
    raise exception 'version: someone else changed this job (it is at version %, the edit was based on %)',
                    v_current, p_version
      using errcode = 'PT409';
  end if;
  return query select u.id, u.job from public.ops_update_job(p_job_id, p_changes) u;
end
$$;
