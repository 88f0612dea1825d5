-- Job management, runs: the ledger as lib/manage's runs and the console's
-- JSON API read it. One-row JSON pages, PTnnn errors and the object views are
-- as described at the top of manage_jobs.sql.

-- The Run object: one ledger row.
create or replace view public.ops_run_objects with (security_invoker = true) as
  select r.id,
         jsonb_build_object(
           'id', r.id, 'job', r.job, 'trigger', r.trigger, 'status', r.status,
           'started_at', r.started_at at time zone 'UTC', 'finished_at', r.finished_at at time zone 'UTC',
           'duration_ms', r.duration_ms,
           'stats', case when pg_column_size(r.stats) > 65536 then to_jsonb('<not shown: larger than 64 KB stored>'::text)
                when jsonb_path_exists(r.stats, 'strict $.**{64}')
                then to_jsonb('<not shown: nested deeper than 64 levels>'::text)
                else r.stats end,
           'error', r.error, 'request_id', r.request_id,
           'dry_run', r.dry_run, 'has_more', r.has_more) as run
    from public.cron_runs r;

-- The ledger, newest first, of a job and/or a status. Runs still `running`
-- past their lease are reaped first, as list_runs does.
create or replace function public.ops_list_runs(
  p_job text default null,
  p_status text default null,
  p_limit integer default 50,
  p_offset integer default 0
)
returns table (runs jsonb, has_more boolean)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
declare
  v_limit  integer := least(greatest(coalesce(p_limit, 50), 1), 200);
  v_offset integer := greatest(coalesce(p_offset, 0), 0);
begin
  if p_status is not null and p_status not in ('running', 'ok', 'partial', 'skipped', 'error') then
    raise exception 'status: status must be running, ok, partial, skipped or error' using errcode = 'PT422';
  end if;
  perform public.reap_abandoned_runs();
  return query
    with page as (
      select r.id, r.started_at
        from public.cron_runs r
       where (p_job is null or r.job = p_job)
         and (p_status is null or r.status = p_status)
       order by r.started_at desc, r.id desc
       limit v_limit + 1 offset v_offset
    ), shown as (
      select p.id, p.started_at from page p order by p.started_at desc, p.id desc limit v_limit
    )
    select coalesce((select jsonb_agg(v.run order by s.started_at desc, s.id desc)
                       from shown s join public.ops_run_objects v on v.id = s.id), '[]'::jsonb),
           (select count(*) from page) > v_limit;
end
$$;
