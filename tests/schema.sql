CREATE FUNCTION public._existing_run_request(p_dedup_key text, p_job_id uuid) RETURNS TABLE(id uuid, job_id uuid, project text, status text, requested_at timestamp with time zone)
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_request public.cron_run_requests;
begin
  select * into v_request from public.cron_run_requests r where r.dedup_key = p_dedup_key;
  if v_request.id is null then
    return;
  end if;
  if v_request.job_id <> p_job_id then
    raise exception 'request_run: dedup_key % already names a request of another job', quote_literal(p_dedup_key)
      using errcode = '22023';
  end if;
  return query select v_request.id, v_request.job_id, v_request.project_id, v_request.status, v_request.requested_at;
end
$$;

CREATE FUNCTION public._heartbeats_expire_before(p_retention_days integer) RETURNS timestamp with time zone
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select now() - make_interval(days => p_retention_days);
$$;

CREATE FUNCTION public._replay_begin_run(p_run_key text) RETURNS TABLE(run_id bigint, acquired boolean, started_at timestamp with time zone, held_by bigint, paused boolean)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select r.id,
         r.status = 'running',
         r.started_at,
         (r.stats ->> 'held_by_run')::bigint,
         r.status = 'skipped' and r.stats ->> 'reason' = 'paused'
    from public.cron_runs r
   where r.run_key = p_run_key;
$$;

CREATE FUNCTION public.advance_schedules(p_items jsonb) RETURNS TABLE(job_id uuid, applied boolean, enqueued boolean, request_id uuid, dedup_key text)
    LANGUAGE sql
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION public.begin_run(p_job text, p_trigger text, p_lease_seconds integer, p_request_id text DEFAULT NULL::text, p_dry_run boolean DEFAULT false, p_run_key text DEFAULT NULL::text) RETURNS TABLE(run_id bigint, acquired boolean, started_at timestamp with time zone, held_by bigint, paused boolean)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_now     timestamptz := clock_timestamp();
  v_key     text := nullif(p_run_key, '');
  v_paused  boolean;
  v_run_id  bigint;
  v_holder  text;
  v_held_by text;
begin
  if p_lease_seconds is null or p_lease_seconds <= 0 then
    raise exception 'begin_run: lease must be a positive number of seconds, got %', p_lease_seconds
      using errcode = '22023';
  end if;

  if v_key is not null then
    return query select * from public._replay_begin_run(v_key);
    if found then
      return;
    end if;
  end if;

  perform public.reap_abandoned_runs();

  -- enabled is the operator's switch: a paused job's runs are recorded and do
  -- nothing, whoever calls (Vercel, a developer, the drain, the CLI).
  select not j.enabled into v_paused
    from public.cron_jobs j
   where j.project_id = 'default' and j.name = p_job;
  v_paused := coalesce(v_paused, false);

  -- A concurrent repeat with the same key waits here for the first to commit,
  -- then inserts nothing and answers with the first one's row.
  insert into public.cron_runs (job, trigger, status, started_at, finished_at, duration_ms, request_id,
                                lease_until, dry_run, stats, run_key)
  values (p_job, p_trigger, case when v_paused then 'skipped' else 'running' end, v_now,
          case when v_paused then v_now end, case when v_paused then 0 end, p_request_id,
          case when v_paused then null else v_now + make_interval(secs => p_lease_seconds) end,
          coalesce(p_dry_run, false),
          case when v_paused then jsonb_build_object('reason', 'paused') else '{}'::jsonb end, v_key)
  on conflict (run_key) where run_key is not null do nothing
  returning id into v_run_id;

  if v_run_id is null then
    return query select * from public._replay_begin_run(v_key);
    return;
  end if;
  if v_paused then
    return query select v_run_id, false, v_now, null::bigint, true;
    return;
  end if;

  -- Concurrent callers serialize on the lock row; the loser re-reads the
  -- winner's unexpired lease, updates nothing and gets no row back.
  insert into public.cron_locks as l (job, holder, locked_until)
  values (p_job, v_run_id::text, v_now + make_interval(secs => p_lease_seconds))
  on conflict (job) do update
     set holder = excluded.holder, locked_until = excluded.locked_until
   where l.locked_until <= v_now
  returning l.holder into v_holder;

  if v_holder is null then
    select l.holder into v_held_by from public.cron_locks l where l.job = p_job;
    update public.cron_runs r
       set status = 'skipped',
           finished_at = v_now,
           duration_ms = 0,
           lease_until = null,
           stats = jsonb_build_object('held_by_run', v_held_by::bigint)
     where r.id = v_run_id;
    return query select v_run_id, false, v_now, v_held_by::bigint, false;
  else
    return query select v_run_id, true, v_now, null::bigint, false;
  end if;
end
$$;

CREATE FUNCTION public.cancel_reminders_for_lead(lead_id text) RETURNS TABLE(id bigint, status text)
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  update public.scheduled_reminders r
     set status = 'cancelled',
         locked_until = null,
         claim_token = null,
         updated_at = now()
   where r.lead_id = cancel_reminders_for_lead.lead_id
     and r.status in ('pending', 'sent')
  returning r.id, r.status;
$$;

CREATE FUNCTION public.claim_due_reminders(p_batch_size integer, p_lease_seconds integer) RETURNS TABLE(id bigint, lead_id text, telegram_id bigint, step_id text, due_at timestamp with time zone, status text, draft_text text, snooze_count integer, reminder_count integer, attempts integer, claim_token uuid, locked_until timestamp with time zone)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if p_batch_size is null or p_batch_size <= 0 or p_lease_seconds is null or p_lease_seconds <= 0 then
    raise exception 'claim_due_reminders: batch size and lease must be positive, got % and %',
      p_batch_size, p_lease_seconds
      using errcode = '22023';
  end if;

  return query
    with due as (
      select d.id
        from public.due_reminders d
       order by d.due_at, d.id
       limit p_batch_size
         for update skip locked
    ), claim as (
      select gen_random_uuid() as token
    )
    update public.scheduled_reminders r
       set locked_until = now() + make_interval(secs => p_lease_seconds),
           claim_token = claim.token
      from due, claim
     where r.id = due.id
    returning r.id, r.lead_id, r.telegram_id, r.step_id, r.due_at, r.status, r.draft_text,
              r.snooze_count, r.reminder_count, r.attempts, r.claim_token, r.locked_until;
end
$$;

CREATE FUNCTION public.claim_due_schedules(p_limit integer, p_lease_seconds integer) RETURNS TABLE(id uuid, project_id text, name text, schedule text, schedule_type text, timezone text, next_run_at timestamp with time zone, claim_token uuid, db_now timestamp with time zone, resumed_at timestamp with time zone, created_at timestamp with time zone)
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with due as (
    select d.id
      from public.due_schedules d
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

CREATE FUNCTION public.claim_run_requests(p_batch_size integer, p_lease_seconds integer) RETURNS TABLE(id uuid, project_id text, job_id uuid, requested_by text, requested_at timestamp with time zone, payload jsonb, attempts integer, max_attempts integer, picked_up_at timestamp with time zone, locked_until timestamp with time zone, claim_token uuid, recovered boolean, exhausted boolean, job_name text, job_kind text, job_target text, job_payload jsonb, job_enabled boolean)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
begin
  if p_batch_size is null or p_batch_size < 1 or p_batch_size > 1000 then
    raise exception 'claim_run_requests: batch size must be between 1 and 1000, got %', p_batch_size
      using errcode = '22023';
  end if;
  if p_lease_seconds is null or p_lease_seconds <= 0 then
    raise exception 'claim_run_requests: lease must be a positive number of seconds, got %', p_lease_seconds
      using errcode = '22023';
  end if;

  return query
    with expired as (
      select v.id, true as recovered, v.exhausted
        from public.run_requests_to_recover v
       order by v.locked_until
       limit p_batch_size
         for update skip locked
    ), due as (
      select v.id, false as recovered, false as exhausted
        from public.run_requests_ready v
       order by v.available_at
       limit p_batch_size
         for update skip locked
    ), picked as (
      -- CTEs are read on demand: when expired rows fill the batch, `due` is
      -- never scanned and locks nothing.
      select * from expired
      union all
      select * from due
      limit p_batch_size
    ), claimed as (
      update public.cron_run_requests r
         set status = 'running',
             picked_up_at = now(),
             attempts = case when p.exhausted then r.attempts else r.attempts + 1 end,
             locked_until = now() + make_interval(secs => p_lease_seconds),
             claim_token = gen_random_uuid()
        from picked p
       where r.id = p.id
      returning r.id, r.project_id, r.job_id, r.requested_by, r.requested_at, r.payload, r.attempts,
                r.max_attempts, r.picked_up_at, r.locked_until, r.claim_token, p.recovered, p.exhausted
    )
    select c.id, c.project_id, c.job_id, c.requested_by, c.requested_at, c.payload, c.attempts,
           c.max_attempts, c.picked_up_at, c.locked_until, c.claim_token, c.recovered, c.exhausted,
           j.name, j.kind, j.target, j.payload, j.enabled
      from claimed c
      join public.cron_jobs j on j.id = c.job_id
     order by c.requested_at, c.id;
end
$$;

CREATE FUNCTION public.complete_reminder(id bigint) RETURNS TABLE(reminder_id bigint, status text, completed_at timestamp with time zone)
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  update public.scheduled_reminders r
     set status = 'completed',
         completed_at = now(),
         locked_until = null,
         claim_token = null,
         updated_at = now()
   where r.id = complete_reminder.id
     and r.status in ('pending', 'sent', 'failed', 'exhausted')
  returning r.id, r.status, r.completed_at;
$$;

CREATE FUNCTION public.count_expired_heartbeats(p_retention_days integer, p_cap integer) RETURNS TABLE(expired integer, capped_at integer)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select count(*)::integer, p_cap
    from (select 1
            from public.heartbeats h
           where h.created_at < public._heartbeats_expire_before(p_retention_days)
           limit p_cap) capped;
$$;

CREATE FUNCTION public.cron_jobs_schedule_changed() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION public.delete_expired_heartbeats(p_retention_days integer, p_batch_size integer) RETURNS TABLE(deleted integer, batch_size integer)
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with doomed as (
    select h.id
      from public.heartbeats h
     where h.created_at < public._heartbeats_expire_before(p_retention_days)
     limit p_batch_size
       for update skip locked
  ), gone as (
    delete from public.heartbeats h using doomed where h.id = doomed.id returning 1
  )
  select count(*)::integer, p_batch_size from gone;
$$;

CREATE FUNCTION public.end_run(p_run_id bigint, p_status text, p_stats jsonb DEFAULT '{}'::jsonb, p_error text DEFAULT NULL::text, p_has_more boolean DEFAULT false) RETURNS TABLE(run_id bigint, job text, status text, started_at timestamp with time zone, finished_at timestamp with time zone, duration_ms integer)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_now timestamptz := clock_timestamp();
  v_run public.cron_runs;
begin
  if p_status not in ('ok', 'partial', 'error') then
    raise exception 'end_run: status must be ok, partial or error, got %', p_status
      using errcode = '22023';
  end if;

  -- A run reaped as abandoned may still report late: the work did happen, so
  -- its real outcome replaces the guess.
  update public.cron_runs r
     set status = p_status,
         finished_at = v_now,
         duration_ms = (extract(epoch from (v_now - r.started_at)) * 1000)::integer,
         stats = coalesce(p_stats, '{}'::jsonb),
         error = p_error,
         has_more = coalesce(p_has_more, false),
         lease_until = null
   where r.id = p_run_id
     and (r.status = 'running' or (r.status = 'error' and r.error like 'abandoned:%'))
  returning r.* into v_run;

  if v_run.id is null then
    return;
  end if;

  delete from public.cron_locks l where l.job = v_run.job and l.holder = p_run_id::text;

  update public.cron_jobs j
     set last_run_at = v_run.started_at,
         last_status = v_run.status,
         last_duration_ms = v_run.duration_ms,
         updated_at = v_now
   where j.project_id = 'default' and j.name = v_run.job;

  return query select v_run.id, v_run.job, v_run.status, v_run.started_at,
                      v_run.finished_at, v_run.duration_ms;
end
$$;

CREATE FUNCTION public.health_check() RETURNS TABLE(ok boolean, server_time timestamp with time zone)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select true, now();
$$;

CREATE FUNCTION public.list_due_reminders(p_limit integer) RETURNS TABLE(id bigint, telegram_id bigint, due_at timestamp with time zone, status text, reminder_count integer)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select d.id, d.telegram_id, d.due_at, d.status, d.reminder_count
    from public.due_reminders d
   order by d.due_at, d.id
   limit greatest(0, coalesce(p_limit, 1000));
$$;

CREATE FUNCTION public.list_due_run_requests(p_limit integer DEFAULT 100) RETURNS TABLE(id uuid, project_id text, job_id uuid, requested_by text, requested_at timestamp with time zone, payload jsonb, attempts integer, max_attempts integer, recovered boolean, exhausted boolean, job_name text, job_kind text, job_target text, job_payload jsonb, job_enabled boolean)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select r.id, r.project_id, r.job_id, r.requested_by, r.requested_at, r.payload, r.attempts, r.max_attempts,
         d.recovered, d.exhausted, j.name, j.kind, j.target, j.payload, j.enabled
    from (select v.id, true as recovered, v.exhausted from public.run_requests_to_recover v
          union all
          select v.id, false, false from public.run_requests_ready v) d
    join public.cron_run_requests r on r.id = d.id
    join public.cron_jobs j on j.id = r.job_id
   order by r.status = 'queued', coalesce(r.locked_until, r.available_at), r.id
   limit greatest(1, least(coalesce(p_limit, 100), 10000));
$$;

CREATE FUNCTION public.list_due_schedules(p_limit integer) RETURNS TABLE(id uuid, project_id text, name text, schedule text, schedule_type text, timezone text, next_run_at timestamp with time zone, db_now timestamp with time zone, resumed_at timestamp with time zone, created_at timestamp with time zone)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select d.id, d.project_id, d.name, d.schedule, d.schedule_type, d.timezone, d.next_run_at, now(), d.resumed_at,
         d.created_at
    from public.due_schedules d
   order by d.next_run_at nulls first, d.id
   limit p_limit;
$$;

CREATE FUNCTION public.list_run_requests(p_status text DEFAULT NULL::text, p_limit integer DEFAULT 50) RETURNS TABLE(id uuid, project_id text, job_name text, job_kind text, status text, requested_by text, requested_at timestamp with time zone, picked_up_at timestamp with time zone, completed_at timestamp with time zone, attempts integer, max_attempts integer, available_at timestamp with time zone, locked_until timestamp with time zone, result jsonb, held boolean)
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
#variable_conflict use_column
begin
  if p_status is not null and p_status not in ('queued', 'running', 'done', 'error') then
    raise exception 'list_run_requests: status must be queued, running, done or error, got %', quote_literal(p_status)
      using errcode = '22023';
  end if;
  return query
    select r.id, r.project_id, j.name, j.kind, r.status, r.requested_by, r.requested_at, r.picked_up_at,
           r.completed_at, r.attempts, r.max_attempts, r.available_at, r.locked_until, r.result,
           r.status = 'queued' and not j.enabled
      from public.cron_run_requests r
      join public.cron_jobs j on j.id = r.job_id
     where p_status is null or r.status = p_status
     order by r.requested_at desc, r.id
     limit greatest(1, least(coalesce(p_limit, 50), 1000));
end
$$;

CREATE FUNCTION public.list_runs(p_job text DEFAULT NULL::text, p_limit integer DEFAULT 50) RETURNS TABLE(id bigint, job text, trigger text, status text, started_at timestamp with time zone, finished_at timestamp with time zone, duration_ms integer, stats jsonb, error text, request_id text, dry_run boolean, has_more boolean)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  perform public.reap_abandoned_runs();
  return query
    select r.id, r.job, r.trigger, r.status, r.started_at, r.finished_at, r.duration_ms,
           r.stats, r.error, r.request_id, r.dry_run, r.has_more
      from public.cron_runs r
     where p_job is null or r.job = p_job
     order by r.started_at desc, r.id desc
     limit greatest(1, least(coalesce(p_limit, 50), 1000));
end
$$;

CREATE FUNCTION public.list_stale_agents(p_stale_after_seconds integer, p_limit integer DEFAULT NULL::integer, p_sample integer DEFAULT 100) RETURNS TABLE(stale integer, agents jsonb)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  with stale as (
    select o.id, o.name, o.last_seen_at
      from public.online_agents o
     where o.last_seen_at < now() - make_interval(secs => p_stale_after_seconds)
     order by o.last_seen_at
     limit p_limit
  )
  select (select count(*)::integer from stale),
         coalesce((select jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name, 'last_seen_at', s.last_seen_at)
                                    order by s.last_seen_at, s.id)
                     from (select t.* from stale t order by t.last_seen_at, t.id limit p_sample) s),
                  '[]'::jsonb);
$$;

CREATE FUNCTION public.mark_stale_agents_offline(p_stale_after_seconds integer, p_limit integer DEFAULT NULL::integer, p_sample integer DEFAULT 100) RETURNS TABLE(marked integer, agents jsonb)
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with stale as (
    select o.id
      from public.online_agents o
     where o.last_seen_at < now() - make_interval(secs => p_stale_after_seconds)
     order by o.last_seen_at
     limit p_limit
       for update skip locked
  ), changed as (
    update public.agents a
       set status = 'offline', went_offline_at = now(), updated_at = now()
      from stale
     where a.id = stale.id
    returning a.id, a.name, coalesce(a.last_heartbeat_at, a.created_at) as last_seen_at, a.went_offline_at
  )
  select (select count(*)::integer from changed),
         coalesce((select jsonb_agg(jsonb_build_object('id', s.id, 'name', s.name, 'last_seen_at', s.last_seen_at,
                                                       'went_offline_at', s.went_offline_at)
                                    order by s.last_seen_at, s.id)
                     from (select c.* from changed c order by c.last_seen_at, c.id limit p_sample) s),
                  '[]'::jsonb);
$$;

CREATE FUNCTION public.reap_abandoned_runs() RETURNS TABLE(run_id bigint, job text)
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  update public.cron_runs r
     set status = 'error',
         finished_at = r.lease_until,
         duration_ms = (extract(epoch from (r.lease_until - r.started_at)) * 1000)::integer,
         error = 'abandoned: no result before the lease expired'
   where r.status = 'running'
     and r.lease_until < now()
  returning r.id, r.job;
$$;

CREATE FUNCTION public.record_heartbeat(agent_id uuid, payload jsonb DEFAULT '{}'::jsonb) RETURNS TABLE(heartbeat_id bigint, status text, last_heartbeat_at timestamp with time zone)
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with agent as (
    insert into public.agents as a (id, status, last_heartbeat_at)
    values (record_heartbeat.agent_id, 'online', now())
    on conflict (id) do update
       set status = 'online',
           last_heartbeat_at = now(),
           went_offline_at = null,
           updated_at = now()
    returning a.id, a.status, a.last_heartbeat_at
  ), beat as (
    insert into public.heartbeats (agent_id, payload)
    select agent.id, coalesce(record_heartbeat.payload, '{}'::jsonb) from agent
    returning id
  )
  select beat.id, agent.status, agent.last_heartbeat_at from beat, agent;
$$;

CREATE FUNCTION public.request_run(job_name text, project_id text DEFAULT 'default'::text, requested_by text DEFAULT NULL::text, payload jsonb DEFAULT NULL::jsonb, dedup_key text DEFAULT NULL::text) RETURNS TABLE(id uuid, job_id uuid, project text, status text, requested_at timestamp with time zone)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_project text := coalesce(request_run.project_id, 'default');
  v_payload jsonb := nullif(request_run.payload, 'null'::jsonb);
  v_key     text := nullif(request_run.dedup_key, '');
  v_job     public.cron_jobs;
  v_id      uuid;
begin
  if v_payload is not null and jsonb_typeof(v_payload) <> 'object' then
    raise exception 'request_run: payload must be a JSON object (or null), got %', jsonb_typeof(v_payload)
      using errcode = '22023';
  end if;

  select * into v_job from public.cron_jobs j where j.project_id = v_project and j.name = request_run.job_name;
  if v_job.id is null then
    raise exception 'request_run: unknown job % in project %', quote_literal(coalesce(request_run.job_name, '')),
                    quote_literal(v_project)
      using errcode = '22023',
            hint = 'Jobs are rows of public.cron_jobs; builtin ones are created by migrate from vercel.json.';
  end if;

  if v_key is not null then
    -- A repeat answers with the first request, even if the job was paused since.
    return query select * from public._existing_run_request(v_key, v_job.id);
    if found then
      return;
    end if;
  end if;

  if not v_job.enabled then
    raise exception 'request_run: job % in project % is disabled (paused); resume it (enabled = true) to queue runs',
                    quote_literal(request_run.job_name), quote_literal(v_project)
      using errcode = '22023';
  end if;

  -- A concurrent call with the same key waits here for the first to commit,
  -- then inserts nothing and answers with the first one's request.
  insert into public.cron_run_requests as r (project_id, job_id, requested_by, payload, dedup_key)
  values (v_project, v_job.id, request_run.requested_by, v_payload, v_key)
  on conflict (dedup_key) do nothing
  returning r.id into v_id;

  if v_id is null then
    return query select * from public._existing_run_request(v_key, v_job.id);
    return;
  end if;
  return query
    select r.id, r.job_id, r.project_id, r.status, r.requested_at
      from public.cron_run_requests r
     where r.id = v_id;
end
$$;

CREATE FUNCTION public.settle_reminders(p_outcomes jsonb, p_repeat_hours double precision, p_max_count integer, p_max_attempts integer) RETURNS TABLE(id bigint, outcome text, status text, attempts integer, due_at timestamp with time zone)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if jsonb_typeof(coalesce(p_outcomes, '[]'::jsonb)) <> 'array' then
    raise exception 'settle_reminders: outcomes must be a JSON array' using errcode = '22023';
  end if;
  if exists (
    select 1
      from jsonb_to_recordset(coalesce(p_outcomes, '[]'::jsonb)) as o(outcome text)
     where o.outcome is null
        or o.outcome not in ('delivered', 'transient', 'permanent', 'released', 'deferred')
  ) then
    raise exception 'settle_reminders: unknown outcome in batch' using errcode = '22023';
  end if;

  return query
    with o as (
      -- One outcome per row: a batch never holds two, but a repeated id must
      -- not apply twice.
      select distinct on (x.id) x.*
        from jsonb_to_recordset(coalesce(p_outcomes, '[]'::jsonb))
             as x(id bigint, claim_token uuid, outcome text, error text,
                  delay_seconds double precision, until timestamptz)
       order by x.id
    )
    update public.scheduled_reminders r
       set status = case o.outcome
                      when 'delivered' then
                        case when r.reminder_count + 1 >= p_max_count then 'exhausted' else 'sent' end
                      when 'transient' then
                        case when r.attempts + 1 >= p_max_attempts then 'failed' else r.status end
                      when 'permanent' then 'failed'
                      else r.status
                    end,
           reminder_count = r.reminder_count + case when o.outcome = 'delivered' then 1 else 0 end,
           last_reminded_at = case when o.outcome = 'delivered' then now() else r.last_reminded_at end,
           attempts = case o.outcome
                        when 'delivered' then 0
                        when 'transient' then r.attempts + 1
                        when 'permanent' then r.attempts + 1
                        else r.attempts
                      end,
           last_error = case when o.outcome in ('delivered', 'transient', 'permanent')
                             then left(o.error, 1000) else r.last_error end,
           due_at = case o.outcome
                      when 'delivered' then now() + make_interval(
                        secs => least(greatest(0, coalesce(p_repeat_hours, 24)), 87600) * 3600)
                      -- Clamped to a day: an absurd delay (1e13, NaN) must never
                      -- overflow the interval and fail the whole group's settle.
                      when 'transient' then now() + make_interval(
                        secs => least(greatest(0, coalesce(o.delay_seconds, 0)), 86400))
                      when 'deferred' then coalesce(o.until, r.due_at)
                      else r.due_at
                    end,
           locked_until = null,
           claim_token = null,
           -- Releasing a claim is not a change to the reminder.
           updated_at = case when o.outcome = 'released' then r.updated_at else now() end
      from o
     where r.id = o.id
       and r.claim_token = o.claim_token
       and r.status in ('pending', 'sent')
    returning r.id, o.outcome, r.status, r.attempts, r.due_at;
end
$$;

CREATE FUNCTION public.settle_run_requests(p_outcomes jsonb) RETURNS TABLE(id uuid, status text, outcome text)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
begin
  if p_outcomes is null or jsonb_typeof(p_outcomes) <> 'array' then
    raise exception 'settle_run_requests: outcomes must be a JSON array' using errcode = '22023';
  end if;
  if exists (select 1 from jsonb_array_elements(p_outcomes) e
              where jsonb_typeof(e) <> 'object'
                 or coalesce(e ->> 'outcome', '') not in ('done', 'error', 'retry', 'release')) then
    raise exception 'settle_run_requests: every outcome must be an object whose outcome is done, error, retry or release'
      using errcode = '22023';
  end if;

  -- Concurrent settles of the same jobs take the job rows in one order, so
  -- they queue behind each other instead of deadlocking. NO KEY UPDATE does
  -- not block inserts of new requests (their foreign key check).
  perform 1
     from public.cron_jobs j
    where j.id in (select r.job_id
                     from jsonb_to_recordset(p_outcomes) as o (id uuid, claim_token uuid)
                     join public.cron_run_requests r on r.id = o.id and r.claim_token = o.claim_token)
    order by j.id
      for no key update;

  return query
    with o as (
      select *
        from jsonb_to_recordset(p_outcomes) as o (id uuid, claim_token uuid, outcome text, result jsonb,
                                                  delay_seconds double precision, duration_ms integer,
                                                  job_status text)
    ), settled as (
      update public.cron_run_requests r
         set status = case when o.outcome in ('done', 'error') then o.outcome else 'queued' end,
             completed_at = case when o.outcome in ('done', 'error') then now() end,
             result = case when o.outcome = 'release' then r.result else o.result end,
             attempts = case when o.outcome = 'release' then greatest(r.attempts - 1, 0) else r.attempts end,
             -- Clamped to a day, as settle_reminders does: an absurd delay must not overflow the interval.
             available_at = case when o.outcome in ('retry', 'release')
                                 then now() + make_interval(secs => least(greatest(coalesce(o.delay_seconds, 0), 0), 86400))
                                 else r.available_at end,
             locked_until = null,
             claim_token = null
        from o
       where r.id = o.id
         and r.claim_token = o.claim_token
         and r.status = 'running'
      returning r.id, r.job_id, r.status, r.picked_up_at, o.outcome, o.duration_ms, o.job_status
    ), latest as (
      -- Several requests of one job may settle together; the job shows the latest.
      select distinct on (s.job_id) s.job_id, s.picked_up_at, s.duration_ms,
             coalesce(s.job_status, case when s.outcome = 'done' then 'ok' else 'error' end) as job_status
        from settled s
       where s.outcome <> 'release'
       order by s.job_id, s.picked_up_at desc
    ), jobs as (
      update public.cron_jobs j
         set last_run_at = l.picked_up_at,
             last_status = l.job_status,
             last_duration_ms = l.duration_ms,
             updated_at = now()
        from latest l
       where j.id = l.job_id
      returning j.id
    )
    select s.id, s.status, s.outcome from settled s;
end
$$;

CREATE FUNCTION public.snooze_reminder(id bigint, until timestamp with time zone) RETURNS TABLE(reminder_id bigint, status text, due_at timestamp with time zone, snooze_count integer)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if snooze_reminder.until is null then
    raise exception 'snooze_reminder: until is required' using errcode = '22023';
  end if;
  return query
    update public.scheduled_reminders r
       set status = 'pending',
           due_at = snooze_reminder.until,
           snooze_count = r.snooze_count + 1,
           attempts = 0,
           last_error = null,
           locked_until = null,
           claim_token = null,
           updated_at = now()
     where r.id = snooze_reminder.id
       and r.status in ('pending', 'sent', 'failed', 'exhausted')
    returning r.id, r.status, r.due_at, r.snooze_count;
end
$$;

CREATE FUNCTION public.upsert_builtin_job(p_name text, p_schedule text DEFAULT NULL::text) RETURNS TABLE(id uuid, name text)
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  insert into public.cron_jobs as j (project_id, name, kind, target, schedule, schedule_type)
  values ('default', p_name, 'builtin', p_name, p_schedule,
          case when p_schedule is null then 'manual' else 'vercel' end)
  on conflict (project_id, name) do update
     set kind = 'builtin',
         target = excluded.target,
         schedule = excluded.schedule,
         schedule_type = excluded.schedule_type,
         updated_at = now()
   where (j.kind, j.target, j.schedule, j.schedule_type)
         is distinct from (excluded.kind, excluded.target, excluded.schedule, excluded.schedule_type)
  returning j.id, j.name;
$$;

CREATE TABLE public.agents (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text,
    status text DEFAULT 'online'::text NOT NULL,
    last_heartbeat_at timestamp with time zone,
    went_offline_at timestamp with time zone,
    metadata jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT agents_status_check CHECK ((status = ANY (ARRAY['online'::text, 'offline'::text])))
);

CREATE TABLE public.cron_jobs (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    project_id text DEFAULT 'default'::text NOT NULL,
    name text NOT NULL,
    kind text DEFAULT 'builtin'::text NOT NULL,
    target text,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    schedule text,
    schedule_type text DEFAULT 'manual'::text NOT NULL,
    timezone text DEFAULT 'UTC'::text NOT NULL,
    enabled boolean DEFAULT true NOT NULL,
    source text DEFAULT 'user'::text NOT NULL,
    next_run_at timestamp with time zone,
    last_run_at timestamp with time zone,
    last_status text,
    last_duration_ms integer,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    schedule_error text,
    schedule_claim_token uuid,
    schedule_locked_until timestamp with time zone,
    fired_at timestamp with time zone,
    resumed_at timestamp with time zone,
    CONSTRAINT cron_jobs_kind_check CHECK ((kind = ANY (ARRAY['builtin'::text, 'webhook'::text]))),
    CONSTRAINT cron_jobs_schedule_type_check CHECK ((schedule_type = ANY (ARRAY['vercel'::text, 'cron'::text, 'interval'::text, 'once'::text, 'manual'::text]))),
    CONSTRAINT cron_jobs_source_check CHECK ((source = ANY (ARRAY['user'::text, 'agent'::text])))
);

COMMENT ON COLUMN public.cron_jobs.schedule_error IS 'Why this row''s schedule cannot be used (bad cron expression, time zone, interval or timestamp): it stops firing until the schedule, schedule_type or timezone is changed, which clears this. null when fine.';

COMMENT ON COLUMN public.cron_jobs.schedule_claim_token IS 'The schedule job''s claim on this row while it computes the next fire time.';

COMMENT ON COLUMN public.cron_jobs.schedule_locked_until IS 'When that claim lapses; a row claimed by a run that died is claimable again after it.';

COMMENT ON COLUMN public.cron_jobs.fired_at IS 'When a `once` schedule fired; it never fires again (until its schedule is changed). enabled stays as it was.';

COMMENT ON COLUMN public.cron_jobs.resumed_at IS 'When a paused cron/interval job was last resumed: ticks scheduled before it were missed while paused and are skipped, not caught up. Cleared by the next tick.';

CREATE TABLE public.cron_locks (
    job text NOT NULL,
    holder text NOT NULL,
    locked_until timestamp with time zone NOT NULL
);

CREATE TABLE public.cron_run_requests (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    project_id text DEFAULT 'default'::text NOT NULL,
    job_id uuid NOT NULL,
    requested_by text,
    requested_at timestamp with time zone DEFAULT now() NOT NULL,
    status text DEFAULT 'queued'::text NOT NULL,
    picked_up_at timestamp with time zone,
    completed_at timestamp with time zone,
    result jsonb,
    payload jsonb,
    attempts integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 5 NOT NULL,
    available_at timestamp with time zone DEFAULT now() NOT NULL,
    locked_until timestamp with time zone,
    claim_token uuid,
    dedup_key text,
    CONSTRAINT cron_run_requests_status_check CHECK ((status = ANY (ARRAY['queued'::text, 'running'::text, 'done'::text, 'error'::text])))
);

CREATE TABLE public.cron_runs (
    id bigint NOT NULL,
    job text NOT NULL,
    trigger text NOT NULL,
    status text DEFAULT 'running'::text NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    finished_at timestamp with time zone,
    duration_ms integer,
    stats jsonb DEFAULT '{}'::jsonb NOT NULL,
    error text,
    request_id text,
    lease_until timestamp with time zone,
    dry_run boolean DEFAULT false NOT NULL,
    has_more boolean DEFAULT false NOT NULL,
    run_key text,
    CONSTRAINT cron_runs_status_check CHECK ((status = ANY (ARRAY['running'::text, 'ok'::text, 'partial'::text, 'skipped'::text, 'error'::text])))
);

ALTER TABLE public.cron_runs ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.cron_runs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.scheduled_reminders (
    id bigint NOT NULL,
    lead_id text,
    telegram_id bigint,
    step_id text,
    due_at timestamp with time zone DEFAULT now() NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    snooze_count integer DEFAULT 0 NOT NULL,
    reminder_count integer DEFAULT 0 NOT NULL,
    last_reminded_at timestamp with time zone,
    draft_text text,
    completed_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    last_error text,
    locked_until timestamp with time zone,
    claim_token uuid,
    CONSTRAINT scheduled_reminders_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'sent'::text, 'completed'::text, 'cancelled'::text, 'failed'::text, 'exhausted'::text])))
);

CREATE VIEW public.due_reminders WITH (security_invoker='true') AS
 SELECT id,
    telegram_id,
    due_at,
    status,
    reminder_count
   FROM public.scheduled_reminders r
  WHERE ((status = ANY (ARRAY['pending'::text, 'sent'::text])) AND (due_at <= now()) AND ((locked_until IS NULL) OR (locked_until <= now())));

CREATE VIEW public.due_schedules WITH (security_invoker='true') AS
 SELECT id,
    project_id,
    name,
    schedule,
    schedule_type,
    timezone,
    next_run_at,
    resumed_at,
    created_at
   FROM public.cron_jobs j
  WHERE (enabled AND (schedule_type = ANY (ARRAY['cron'::text, 'interval'::text, 'once'::text])) AND (schedule_error IS NULL) AND (fired_at IS NULL) AND ((next_run_at <= now()) OR (next_run_at IS NULL)) AND ((schedule_locked_until IS NULL) OR (schedule_locked_until <= now())));

CREATE TABLE public.heartbeats (
    id bigint NOT NULL,
    agent_id uuid NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL
);

ALTER TABLE public.heartbeats ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.heartbeats_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE VIEW public.online_agents WITH (security_invoker='true') AS
 SELECT id,
    name,
    COALESCE(last_heartbeat_at, created_at) AS last_seen_at
   FROM public.agents a
  WHERE (status = 'online'::text);

CREATE VIEW public.run_requests_ready WITH (security_invoker='true') AS
 SELECT id,
    available_at
   FROM public.cron_run_requests r
  WHERE ((status = 'queued'::text) AND (available_at <= now()) AND (EXISTS ( SELECT 1
           FROM public.cron_jobs j
          WHERE ((j.id = r.job_id) AND j.enabled))));

CREATE VIEW public.run_requests_to_recover WITH (security_invoker='true') AS
 SELECT id,
    locked_until,
    (attempts >= max_attempts) AS exhausted
   FROM public.cron_run_requests r
  WHERE ((status = 'running'::text) AND (locked_until < now()) AND (EXISTS ( SELECT 1
           FROM public.cron_jobs j
          WHERE ((j.id = r.job_id) AND j.enabled))));

ALTER TABLE public.scheduled_reminders ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.scheduled_reminders_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.schema_migrations (
    version text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

CREATE TABLE public.schema_repeatables (
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY public.agents
    ADD CONSTRAINT agents_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cron_jobs
    ADD CONSTRAINT cron_jobs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cron_jobs
    ADD CONSTRAINT cron_jobs_project_id_name_key UNIQUE (project_id, name);

ALTER TABLE ONLY public.cron_locks
    ADD CONSTRAINT cron_locks_pkey PRIMARY KEY (job);

ALTER TABLE ONLY public.cron_run_requests
    ADD CONSTRAINT cron_run_requests_dedup_key_key UNIQUE (dedup_key);

ALTER TABLE ONLY public.cron_run_requests
    ADD CONSTRAINT cron_run_requests_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cron_runs
    ADD CONSTRAINT cron_runs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.heartbeats
    ADD CONSTRAINT heartbeats_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.scheduled_reminders
    ADD CONSTRAINT scheduled_reminders_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.schema_repeatables
    ADD CONSTRAINT schema_repeatables_pkey PRIMARY KEY (name);

CREATE INDEX agents_online_last_seen_idx ON public.agents USING btree (COALESCE(last_heartbeat_at, created_at)) WHERE (status = 'online'::text);

CREATE INDEX cron_jobs_due_idx ON public.cron_jobs USING btree (next_run_at) WHERE (enabled AND (schedule_type = ANY (ARRAY['cron'::text, 'interval'::text, 'once'::text])));

CREATE INDEX cron_run_requests_queued_idx ON public.cron_run_requests USING btree (available_at) WHERE (status = 'queued'::text);

CREATE INDEX cron_run_requests_running_idx ON public.cron_run_requests USING btree (locked_until) WHERE (status = 'running'::text);

CREATE INDEX cron_runs_job_started_idx ON public.cron_runs USING btree (job, started_at DESC);

CREATE UNIQUE INDEX cron_runs_run_key_idx ON public.cron_runs USING btree (run_key) WHERE (run_key IS NOT NULL);

CREATE INDEX cron_runs_running_idx ON public.cron_runs USING btree (lease_until) WHERE (status = 'running'::text);

CREATE INDEX cron_runs_started_idx ON public.cron_runs USING btree (started_at DESC);

CREATE INDEX heartbeats_agent_id_idx ON public.heartbeats USING btree (agent_id, created_at DESC);

CREATE INDEX heartbeats_created_at_idx ON public.heartbeats USING btree (created_at);

CREATE INDEX scheduled_reminders_due_idx ON public.scheduled_reminders USING btree (due_at) WHERE (status = ANY (ARRAY['pending'::text, 'sent'::text]));

CREATE INDEX scheduled_reminders_lead_idx ON public.scheduled_reminders USING btree (lead_id);

CREATE TRIGGER cron_jobs_schedule_changed BEFORE UPDATE OF schedule, schedule_type, timezone, enabled ON public.cron_jobs FOR EACH ROW EXECUTE FUNCTION public.cron_jobs_schedule_changed();

ALTER TABLE ONLY public.cron_run_requests
    ADD CONSTRAINT cron_run_requests_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.cron_jobs(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.heartbeats
    ADD CONSTRAINT heartbeats_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES public.agents(id) ON DELETE CASCADE;

ALTER TABLE public.agents ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_jobs ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_locks ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_run_requests ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_runs ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.heartbeats ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.scheduled_reminders ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.schema_migrations ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.schema_repeatables ENABLE ROW LEVEL SECURITY;

CREATE POLICY service_role_all ON public.agents TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_jobs TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_locks TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_run_requests TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_runs TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.heartbeats TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.scheduled_reminders TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.schema_migrations TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.schema_repeatables TO service_role USING (true) WITH CHECK (true);

GRANT USAGE ON SCHEMA public TO service_role;

REVOKE ALL ON FUNCTION public._existing_run_request(p_dedup_key text, p_job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public._existing_run_request(p_dedup_key text, p_job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION public._heartbeats_expire_before(p_retention_days integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public._heartbeats_expire_before(p_retention_days integer) TO service_role;

REVOKE ALL ON FUNCTION public._replay_begin_run(p_run_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public._replay_begin_run(p_run_key text) TO service_role;

REVOKE ALL ON FUNCTION public.advance_schedules(p_items jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.advance_schedules(p_items jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.begin_run(p_job text, p_trigger text, p_lease_seconds integer, p_request_id text, p_dry_run boolean, p_run_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.begin_run(p_job text, p_trigger text, p_lease_seconds integer, p_request_id text, p_dry_run boolean, p_run_key text) TO service_role;

REVOKE ALL ON FUNCTION public.cancel_reminders_for_lead(lead_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.cancel_reminders_for_lead(lead_id text) TO service_role;

REVOKE ALL ON FUNCTION public.claim_due_reminders(p_batch_size integer, p_lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.claim_due_reminders(p_batch_size integer, p_lease_seconds integer) TO service_role;

REVOKE ALL ON FUNCTION public.claim_due_schedules(p_limit integer, p_lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.claim_due_schedules(p_limit integer, p_lease_seconds integer) TO service_role;

REVOKE ALL ON FUNCTION public.claim_run_requests(p_batch_size integer, p_lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.claim_run_requests(p_batch_size integer, p_lease_seconds integer) TO service_role;

REVOKE ALL ON FUNCTION public.complete_reminder(id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION public.complete_reminder(id bigint) TO service_role;

REVOKE ALL ON FUNCTION public.count_expired_heartbeats(p_retention_days integer, p_cap integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.count_expired_heartbeats(p_retention_days integer, p_cap integer) TO service_role;

REVOKE ALL ON FUNCTION public.cron_jobs_schedule_changed() FROM PUBLIC;
GRANT ALL ON FUNCTION public.cron_jobs_schedule_changed() TO service_role;

REVOKE ALL ON FUNCTION public.delete_expired_heartbeats(p_retention_days integer, p_batch_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.delete_expired_heartbeats(p_retention_days integer, p_batch_size integer) TO service_role;

REVOKE ALL ON FUNCTION public.end_run(p_run_id bigint, p_status text, p_stats jsonb, p_error text, p_has_more boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION public.end_run(p_run_id bigint, p_status text, p_stats jsonb, p_error text, p_has_more boolean) TO service_role;

REVOKE ALL ON FUNCTION public.health_check() FROM PUBLIC;
GRANT ALL ON FUNCTION public.health_check() TO service_role;

REVOKE ALL ON FUNCTION public.list_due_reminders(p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_due_reminders(p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.list_due_run_requests(p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_due_run_requests(p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.list_due_schedules(p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_due_schedules(p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.list_run_requests(p_status text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_run_requests(p_status text, p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.list_runs(p_job text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_runs(p_job text, p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.list_stale_agents(p_stale_after_seconds integer, p_limit integer, p_sample integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_stale_agents(p_stale_after_seconds integer, p_limit integer, p_sample integer) TO service_role;

REVOKE ALL ON FUNCTION public.mark_stale_agents_offline(p_stale_after_seconds integer, p_limit integer, p_sample integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.mark_stale_agents_offline(p_stale_after_seconds integer, p_limit integer, p_sample integer) TO service_role;

REVOKE ALL ON FUNCTION public.reap_abandoned_runs() FROM PUBLIC;
GRANT ALL ON FUNCTION public.reap_abandoned_runs() TO service_role;

REVOKE ALL ON FUNCTION public.record_heartbeat(agent_id uuid, payload jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.record_heartbeat(agent_id uuid, payload jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.request_run(job_name text, project_id text, requested_by text, payload jsonb, dedup_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.request_run(job_name text, project_id text, requested_by text, payload jsonb, dedup_key text) TO service_role;

REVOKE ALL ON FUNCTION public.settle_reminders(p_outcomes jsonb, p_repeat_hours double precision, p_max_count integer, p_max_attempts integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.settle_reminders(p_outcomes jsonb, p_repeat_hours double precision, p_max_count integer, p_max_attempts integer) TO service_role;

REVOKE ALL ON FUNCTION public.settle_run_requests(p_outcomes jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.settle_run_requests(p_outcomes jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.snooze_reminder(id bigint, until timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION public.snooze_reminder(id bigint, until timestamp with time zone) TO service_role;

REVOKE ALL ON FUNCTION public.upsert_builtin_job(p_name text, p_schedule text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.upsert_builtin_job(p_name text, p_schedule text) TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.agents TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_jobs TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_locks TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_run_requests TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_runs TO service_role;

GRANT SELECT,USAGE ON SEQUENCE public.cron_runs_id_seq TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.scheduled_reminders TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.due_reminders TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.due_schedules TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.heartbeats TO service_role;

GRANT SELECT,USAGE ON SEQUENCE public.heartbeats_id_seq TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.online_agents TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.run_requests_ready TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.run_requests_to_recover TO service_role;

GRANT SELECT,USAGE ON SEQUENCE public.scheduled_reminders_id_seq TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.schema_migrations TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.schema_repeatables TO service_role;
