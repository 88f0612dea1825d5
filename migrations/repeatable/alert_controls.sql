-- Noise control per job (cron_jobs.alert_after_failures, realert_after,
-- overdue_grace, alerts_enabled; DESIGN.md, Alerts): the write behind
-- lib/manage's create and edit of a job, the CLI's `jobs add/edit` flags and
-- the console's job form. Any job may have them set, vercel.json's included:
-- they change how its failures are reported, not what it runs.
--
-- lib/manage validates first; the table's check constraint
-- (cron_jobs_alert_controls_check) holds the same bounds for rows written by
-- hand. A value the constraint refuses is a PT422 naming the field here.

-- p_changes holds any of {"alert_after_failures": int, "realert_after_seconds":
-- int or null, "overdue_grace_seconds": int, "alerts_enabled": bool}; a field
-- it leaves out keeps its value. Setting the same values again changes nothing.
create or replace function public.ops_set_job_alerts(p_job_id uuid, p_changes jsonb)
returns table (id uuid, job jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
#variable_conflict use_column
declare
  v_unknown text;
  v_job     public.cron_jobs;
begin
  if p_changes is null or jsonb_typeof(p_changes) <> 'object' then
    raise exception 'changes: changes must be a JSON object of the fields to change' using errcode = 'PT422';
  end if;
  select k into v_unknown
    from jsonb_object_keys(p_changes) k
   where k not in ('alert_after_failures', 'realert_after_seconds', 'overdue_grace_seconds', 'alerts_enabled')
   limit 1;
  if v_unknown is not null then
    raise exception '%: % is not an alert control', v_unknown, v_unknown using errcode = 'PT422';
  end if;
  if p_changes ? 'alerts_enabled' and jsonb_typeof(p_changes -> 'alerts_enabled') <> 'boolean' then
    raise exception 'alerts_enabled: alerts_enabled must be true or false' using errcode = 'PT422';
  end if;
  begin
    update public.cron_jobs j
       set alert_after_failures = case when p_changes ? 'alert_after_failures'
                                       then (p_changes ->> 'alert_after_failures')::integer
                                       else j.alert_after_failures end,
           realert_after = case when p_changes ? 'realert_after_seconds'
                                then make_interval(secs => (p_changes ->> 'realert_after_seconds')::double precision)
                                else j.realert_after end,
           overdue_grace = case when p_changes ? 'overdue_grace_seconds'
                                then make_interval(secs => (p_changes ->> 'overdue_grace_seconds')::double precision)
                                else j.overdue_grace end,
           alerts_enabled = case when p_changes ? 'alerts_enabled'
                                 then (p_changes ->> 'alerts_enabled')::boolean
                                 else j.alerts_enabled end,
           updated_at = now()
     where j.id = p_job_id
       and (j.alert_after_failures, j.realert_after, j.overdue_grace, j.alerts_enabled) is distinct from
           (case when p_changes ? 'alert_after_failures' then (p_changes ->> 'alert_after_failures')::integer
                 else j.alert_after_failures end,
            case when p_changes ? 'realert_after_seconds'
                 then make_interval(secs => (p_changes ->> 'realert_after_seconds')::double precision)
                 else j.realert_after end,
            case when p_changes ? 'overdue_grace_seconds'
                 then make_interval(secs => (p_changes ->> 'overdue_grace_seconds')::double precision)
                 else j.overdue_grace end,
            case when p_changes ? 'alerts_enabled' then (p_changes ->> 'alerts_enabled')::boolean
                 else j.alerts_enabled end)
    returning * into v_job;
  exception
    when check_violation or invalid_text_representation or numeric_value_out_of_range then
      raise exception 'alerts: alert_after_failures must be 1 to 1000, realert_after 1 minute to 365 days, '
                      'overdue_grace 0 to 30 days'
        using errcode = 'PT422';
  end;
  if v_job.id is null and not exists (select 1 from public.cron_jobs j where j.id = p_job_id) then
    raise exception 'job: no job with id %', p_job_id using errcode = 'PT404';
  end if;
  return query select v.id, v.job from public.ops_job_objects v where v.id = p_job_id;
end
$$;
