CREATE FUNCTION public._alert_failed(p_job_id uuid, p_details jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_since timestamptz;
begin
  perform 1 from public.cron_jobs j where j.id = p_job_id for no key update;
  if not found then
    return;
  end if;
  insert into public.cron_job_alert_state as s (job_id, failed_since)
  values (p_job_id, now())
  on conflict (job_id) do update
     set failed_since = now(), updated_at = now()
   where s.failed_since is null
  returning s.failed_since into v_since;
  if v_since is not null then
    insert into public.cron_alert_outbox (event, job_id, payload)
    values ('job.failed', p_job_id,
            public._alert_job_fields(p_job_id) || p_details || jsonb_build_object('failing_since', v_since));
  end if;
end
$$;

CREATE FUNCTION public._alert_job_fields(p_job_id uuid) RETURNS jsonb
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select coalesce((select jsonb_build_object('job', j.name, 'job_id', j.id, 'project_id', j.project_id,
                                             'kind', j.kind)
                     from public.cron_jobs j
                    where j.id = p_job_id),
                  jsonb_build_object('job_id', p_job_id));
$$;

CREATE FUNCTION public._alert_recovered(p_job_id uuid, p_details jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_failed  timestamptz;
  v_overdue timestamptz;
begin
  -- The common case, a good run of a healthy job, reads one row and locks nothing.
  if not exists (select 1 from public.cron_job_alert_state s
                  where s.job_id = p_job_id and (s.failed_since is not null or s.overdue_since is not null)) then
    return;
  end if;
  perform 1 from public.cron_jobs j where j.id = p_job_id for no key update;
  with old as (
    select s.job_id, s.failed_since, s.overdue_since
      from public.cron_job_alert_state s
     where s.job_id = p_job_id and (s.failed_since is not null or s.overdue_since is not null)
       for update
  )
  update public.cron_job_alert_state s
     set failed_since = null, overdue_since = null, updated_at = now()
    from old
   where s.job_id = old.job_id
  returning old.failed_since, old.overdue_since into v_failed, v_overdue;
  if v_failed is null and v_overdue is null then
    return;  -- a concurrent good run closed it first and sent the one job.recovered
  end if;
  insert into public.cron_alert_outbox (event, job_id, payload)
  values ('job.recovered', p_job_id,
          public._alert_job_fields(p_job_id) || p_details
          || jsonb_build_object(
               'recovered_from',
               to_jsonb(array_remove(array[case when v_failed is not null then 'failed' end,
                                           case when v_overdue is not null then 'overdue' end], null)),
               'failing_since', v_failed,
               'overdue_since', v_overdue));
end
$$;

CREATE FUNCTION public._heartbeat_partition_ranges() RETURNS TABLE(partition_name text, lower_bound timestamp with time zone, upper_bound timestamp with time zone, is_default boolean)
    LANGUAGE sql STABLE
    SET search_path TO ''
    SET "TimeZone" TO 'UTC'
    SET "DateStyle" TO 'ISO, YMD'
    AS $_$
  select c.relname::text,
         case when b.bound = 'DEFAULT' then null
              else coalesce((regexp_match(b.bound, $r$FROM \('([^']*)'\)$r$))[1]::timestamptz, '-infinity') end,
         case when b.bound = 'DEFAULT' then null
              else coalesce((regexp_match(b.bound, $r$TO \('([^']*)'\)$r$))[1]::timestamptz, 'infinity') end,
         b.bound = 'DEFAULT'
    from pg_catalog.pg_inherits i
    join pg_catalog.pg_class c on c.oid = i.inhrelid
   cross join lateral (select pg_catalog.pg_get_expr(c.relpartbound, c.oid) as bound) b
   where i.inhparent = 'public.heartbeats'::regclass
   order by 2 nulls last;
$_$;

CREATE FUNCTION public._heartbeats_expire_before(p_retention_days integer) RETURNS timestamp with time zone
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select now() - make_interval(days => p_retention_days);
$$;

CREATE FUNCTION public._history_expires_before(p_retention_days integer) RETURNS timestamp with time zone
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select now() - make_interval(days => p_retention_days);
$$;

CREATE FUNCTION public._ops_check_definition(p_project_id text, p_name text, p_kind text, p_target text, p_payload jsonb, p_schedule_type text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $_$
begin
  if p_project_id is not null and p_project_id !~ '^[A-Za-z0-9._:-]{1,100}$' then
    raise exception 'project_id: project_id must be 1 to 100 characters of letters, digits, . _ : -'
      using errcode = 'PT422';
  end if;
  if p_name is not null and p_name !~ '^[A-Za-z0-9._:-]{1,100}$' then
    raise exception 'name: name must be 1 to 100 characters of letters, digits, . _ : -'
      using errcode = 'PT422';
  end if;
  if p_kind is not null and p_kind not in ('builtin', 'webhook') then
    raise exception 'kind: kind must be builtin or webhook' using errcode = 'PT422';
  end if;
  if p_target is not null and btrim(p_target) = '' then
    raise exception 'target: target is required (a builtin job''s name, or the webhook''s https URL)'
      using errcode = 'PT422';
  end if;
  if p_payload is not null and jsonb_typeof(p_payload) <> 'object' then
    raise exception 'payload: payload must be a JSON object' using errcode = 'PT422';
  end if;
  if p_schedule_type is not null and p_schedule_type not in ('cron', 'interval', 'once', 'manual') then
    raise exception 'schedule_type: schedule_type must be cron, interval, once or manual '
                    '(vercel rows come from vercel.json)'
      using errcode = 'PT422';
  end if;
end
$_$;

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

CREATE FUNCTION public._ops_queue_request(p_job public.cron_jobs, p_requested_by text, p_payload jsonb, p_dedup_key text, p_retry_of uuid) RETURNS uuid
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION public._queue_run_request(p_job public.cron_jobs, p_requested_by text, p_payload jsonb, p_dedup_key text, p_retry_of uuid DEFAULT NULL::uuid) RETURNS TABLE(request_id uuid, outcome text)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_id     uuid;
  v_job_id uuid;
begin
  if p_dedup_key is not null then
    select r.id, r.job_id into v_id, v_job_id from public.cron_run_requests r where r.dedup_key = p_dedup_key;
    if v_id is not null then
      return query select v_id, case when v_job_id = p_job.id then 'existing' else 'other_job' end;
      return;
    end if;
  end if;
  if not p_job.enabled then
    return query select null::uuid, 'paused'::text;
    return;
  end if;
  -- A concurrent call with the same key waits here for the first to commit,
  -- then inserts nothing and answers with the first one's request.
  insert into public.cron_run_requests as r (project_id, job_id, requested_by, payload, dedup_key, retry_of)
  values (p_job.project_id, p_job.id, p_requested_by, p_payload, p_dedup_key, p_retry_of)
  on conflict (dedup_key) do nothing
  returning r.id into v_id;
  if v_id is not null then
    return query select v_id, 'queued'::text;
    return;
  end if;
  select r.id, r.job_id into v_id, v_job_id from public.cron_run_requests r where r.dedup_key = p_dedup_key;
  return query select v_id, case when v_job_id = p_job.id then 'existing' else 'other_job' end;
end
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

CREATE FUNCTION public.claim_alert_events(p_limit integer DEFAULT 100) RETURNS TABLE(id bigint, event text, payload jsonb, created_at timestamp with time zone)
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  delete from public.cron_alert_outbox o
   where o.id in (select q.id from public.cron_alert_outbox q
                   order by q.id
                   limit greatest(1, least(coalesce(p_limit, 100), 1000))
                     for update skip locked)
  returning o.id, o.event, o.payload, o.created_at;
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

CREATE FUNCTION public.count_overdue_jobs() RETURNS TABLE(overdue integer, checked_at timestamp with time zone)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select count(*)::integer, now() from public.alert_overdue_jobs;
$$;

CREATE FUNCTION public.count_prunable_history(p_retention_days integer, p_cap integer) RETURNS TABLE(runs integer, requests integer, capped_at integer)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select (select count(*)::integer
            from (select 1 from public.cron_runs r
                   where r.started_at < public._history_expires_before(p_retention_days)
                     and r.status <> 'running'
                   limit p_cap) capped_runs),
         (select count(*)::integer
            from (select 1 from public.cron_run_requests q
                   where q.status in ('done', 'error')
                     and q.completed_at < public._history_expires_before(p_retention_days)
                   limit p_cap) capped_requests),
         p_cap;
$$;

CREATE FUNCTION public.cron_jobs_alert_watch() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  insert into public.cron_job_alert_state as s (job_id, watch_from)
  values (new.id, now())
  on conflict (job_id) do update
     set watch_from = now(), due_by = null, due_basis = null, updated_at = now();
  return null;
end
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

CREATE FUNCTION public.cron_run_requests_alert() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_details jsonb := jsonb_build_object('source', 'request', 'request_id', new.id,
                                        'requested_by', new.requested_by, 'attempts', new.attempts);
begin
  if new.status = 'error' then
    perform public._alert_failed(new.job_id,
                                 v_details || jsonb_build_object('error', left(new.result ->> 'error', 500)));
  else
    perform public._alert_recovered(new.job_id, v_details || jsonb_build_object('status', new.status));
  end if;
  return null;
end
$$;

CREATE FUNCTION public.cron_runs_alert() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_job_id  uuid;
  v_details jsonb;
begin
  select j.id into v_job_id from public.cron_jobs j where j.project_id = 'default' and j.name = new.job;
  if v_job_id is null then
    return null;
  end if;
  v_details := jsonb_build_object('source', 'run', 'run_id', new.id, 'trigger', new.trigger,
                                  'started_at', new.started_at);
  if new.status = 'error' then
    perform public._alert_failed(v_job_id, v_details || jsonb_build_object('error', new.error));
  else
    perform public._alert_recovered(v_job_id, v_details || jsonb_build_object('status', new.status));
  end if;
  return null;
end
$$;

CREATE FUNCTION public.delete_expired_heartbeats(p_retention_days integer, p_batch_size integer) RETURNS TABLE(deleted integer, batch_size integer)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $_$
declare
  v_cutoff timestamptz := public._heartbeats_expire_before(p_retention_days);
  v_left   integer := p_batch_size;
  v_count  integer;
  v_part   text;
begin
  for v_part in
    select r.partition_name
      from public._heartbeat_partition_ranges() r
     where r.is_default or r.lower_bound < v_cutoff
     order by r.is_default, r.lower_bound
  loop
    exit when v_left <= 0;
    -- The batch's rows are found through the partition's created_at index and
    -- deleted by their ctid (a Tid Scan). A ctid names a row only within one
    -- table, so the statement names the partition, never the parent. (Joining
    -- the delete back on id let the planner hash-join a sequential scan of the
    -- whole table.) No `for update skip locked`: this is a delete, not a
    -- claim, and locking first cost a fifth of the throughput. A second run
    -- (only after the job's lease lapsed) waits at most one batch for rows
    -- this one holds: both lock in ctid order, and a row already gone is skipped.
    execute format('delete from public.%1$I h where h.ctid = any(array('
                   'select d.ctid from public.%1$I d where d.created_at < $1 limit $2))', v_part)
      using v_cutoff, v_left;
    get diagnostics v_count = row_count;
    v_left := v_left - v_count;
  end loop;
  return query select p_batch_size - v_left, p_batch_size;
end
$_$;

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

CREATE FUNCTION public.heartbeat_partitions(p_retention_days integer, p_days_ahead integer DEFAULT 7) RETURNS TABLE(created integer, dropped integer, dropped_rows_estimate bigint, busy boolean)
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path TO ''
    SET "TimeZone" TO 'UTC'
    SET lock_timeout TO '2s'
    AS $$
declare
  v_cutoff  timestamptz;
  v_today   timestamptz := date_trunc('day', now(), 'UTC');
  v_day     timestamptz;
  v_name    text;
  v_part    record;
  v_created integer := 0;
  v_dropped integer := 0;
  v_rows    bigint := 0;
begin
  if p_retention_days < 1 then
    raise exception 'heartbeat_partitions: retention must be at least 1 day, got %', p_retention_days
      using errcode = '22023';
  end if;
  if p_days_ahead is null or p_days_ahead < 0 or p_days_ahead > 31 then
    raise exception 'heartbeat_partitions: days ahead must be between 0 and 31, got %', p_days_ahead
      using errcode = '22023';
  end if;
  -- No retention (migrate's call): drop nothing, make today's partition and those ahead.
  v_cutoff := coalesce(public._heartbeats_expire_before(p_retention_days), v_today);
  -- Two upkeeps at once would race to make the same partition.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('cronrelay:heartbeat_partitions'));

  begin
    for v_part in
      select r.partition_name, c.reltuples
        from public._heartbeat_partition_ranges() r
        join pg_catalog.pg_class c on c.relname = r.partition_name and c.relnamespace = 'public'::regnamespace
       where p_retention_days is not null and not r.is_default and r.upper_bound <= v_cutoff
       order by r.upper_bound
    loop
      execute format('drop table public.%I', v_part.partition_name);
      v_dropped := v_dropped + 1;
      -- The planner's count (kept by autovacuum), not a count(*) that would
      -- read the whole partition the drop saves reading; -1 is "never counted".
      v_rows := v_rows + greatest(v_part.reltuples, 0)::bigint;
    end loop;

    -- The days no partition covers, found in one pass over the catalog (not
    -- one per day); the default partition is probed through its index.
    for v_day in
      with ranges as materialized (
        select r.lower_bound, r.upper_bound from public._heartbeat_partition_ranges() r where not r.is_default
      )
      select d.day
        from generate_series(date_trunc('day', v_cutoff, 'UTC'), v_today + make_interval(days => p_days_ahead),
                             interval '1 day') as d(day)
       where not exists (select 1 from ranges r where r.lower_bound < d.day + interval '1 day' and r.upper_bound > d.day)
         -- A past day's partition only takes backdated beats; with rows in the
         -- default, each would cost a scan of it, so only days to come are made.
         and (d.day >= v_today or not exists (select 1 from public.heartbeats_default h))
         and not exists (select 1 from public.heartbeats_default h
                          where h.created_at >= d.day and h.created_at < d.day + interval '1 day')
       order by d.day
    loop
      v_name := 'heartbeats_p' || to_char(v_day, 'YYYYMMDD');
      execute format('create table public.%I partition of public.heartbeats for values from (%L) to (%L)',
                     v_name, v_day, v_day + interval '1 day');
      execute format('alter table public.%I enable row level security', v_name);
      execute format('create policy service_role_all on public.%I to service_role using (true) with check (true)',
                     v_name);
      execute format('revoke all on table public.%I from public, anon, authenticated', v_name);
      execute format('grant select, insert, update, delete on table public.%I to service_role', v_name);
      v_created := v_created + 1;
    end loop;
  exception when lock_not_available then
    -- Everything this call did is rolled back with the block; the next run tries again.
    return query select 0, 0, 0::bigint, true;
    return;
  end;

  return query select v_created, v_dropped, v_rows, false;
end
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

CREATE FUNCTION public.list_jobs_to_watch(p_limit integer DEFAULT 500) RETURNS TABLE(id uuid, name text, schedule text, schedule_type text, timezone text, basis timestamp with time zone)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select j.id, j.name, j.schedule, j.schedule_type, j.timezone,
         greatest(j.last_run_at, j.created_at, s.watch_from)
    from public.cron_jobs j
    left join public.cron_job_alert_state s on s.job_id = j.id
   where j.enabled
     and j.schedule_type in ('vercel', 'cron', 'interval')
     and j.schedule_error is null
     and nullif(btrim(j.schedule), '') is not null
     and s.due_basis is distinct from greatest(j.last_run_at, j.created_at, s.watch_from)
   order by j.id
   limit greatest(1, least(coalesce(p_limit, 500), 10000));
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

CREATE FUNCTION public.ops_create_job(p_name text, p_project_id text DEFAULT 'default'::text, p_kind text DEFAULT 'webhook'::text, p_target text DEFAULT NULL::text, p_payload jsonb DEFAULT '{}'::jsonb, p_schedule_type text DEFAULT 'manual'::text, p_schedule text DEFAULT NULL::text, p_timezone text DEFAULT 'UTC'::text, p_enabled boolean DEFAULT true, p_source text DEFAULT 'user'::text) RETURNS TABLE(id uuid, job jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_job public.cron_jobs;
begin
  perform public._ops_check_definition(coalesce(p_project_id, ''), coalesce(p_name, ''), coalesce(p_kind, ''),
                                       coalesce(p_target, ''), coalesce(p_payload, 'null'::jsonb),
                                       coalesce(p_schedule_type, ''));
  if coalesce(p_source, '') not in ('user', 'agent') then
    raise exception 'source: source must be user or agent' using errcode = 'PT422';
  end if;

  insert into public.cron_jobs as j
    (project_id, name, kind, target, payload, schedule_type, schedule, timezone, enabled, source)
  values (p_project_id, p_name, p_kind, p_target, p_payload, p_schedule_type, nullif(btrim(p_schedule), ''),
          coalesce(nullif(btrim(p_timezone), ''), 'UTC'), coalesce(p_enabled, true), p_source)
  on conflict (project_id, name) do nothing
  returning * into v_job;

  if v_job.id is null then
    raise exception 'name: a job named % already exists in project %', quote_literal(p_name),
                    quote_literal(p_project_id)
      using errcode = 'PT409';
  end if;
  return query select v.id, v.job from public.ops_job_objects v where v.id = v_job.id;
end
$$;

CREATE FUNCTION public.ops_delete_job(p_job_id uuid) RETURNS TABLE(id uuid, name text)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_job public.cron_jobs;
begin
  select * into v_job from public.cron_jobs j where j.id = p_job_id for update;
  if v_job.id is null then
    return;
  end if;
  if v_job.schedule_type = 'vercel' then
    raise exception 'job: builtin jobs are defined by vercel.json; only run, pause and resume apply'
      using errcode = 'PT409';
  end if;
  delete from public.cron_jobs j where j.id = p_job_id;
  return query select v_job.id, v_job.name;
end
$$;

CREATE FUNCTION public.ops_get_job(p_job_id uuid DEFAULT NULL::uuid, p_project text DEFAULT 'default'::text, p_name text DEFAULT NULL::text, p_history integer DEFAULT 20) RETURNS TABLE(job jsonb, runs jsonb, requests jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_job     public.cron_jobs;
  v_history integer := least(greatest(coalesce(p_history, 20), 0), 200);
begin
  if p_job_id is null and p_name is null then
    raise exception 'job: give a job id or a name' using errcode = 'PT422';
  end if;
  if p_job_id is not null then
    select * into v_job from public.cron_jobs j where j.id = p_job_id;
  else
    select * into v_job from public.cron_jobs j
     where j.project_id = coalesce(p_project, 'default') and j.name = p_name;
  end if;
  if v_job.id is null then
    return;
  end if;
  if v_history > 0 and v_job.kind = 'builtin' then
    -- A run still `running` past its lease is shown as what it is: abandoned.
    perform public.reap_abandoned_runs();
  end if;
  return query
    select (select v.job from public.ops_job_objects v where v.id = v_job.id),
           case when v_job.kind = 'builtin' and v_history > 0 then
             coalesce((select jsonb_agg(v.run order by x.started_at desc, x.id desc)
                         from (select r.id, r.started_at from public.cron_runs r
                                where r.job = v_job.target
                                order by r.started_at desc, r.id desc
                                limit v_history) x
                         join public.ops_run_objects v on v.id = x.id), '[]'::jsonb)
           else '[]'::jsonb end,
           coalesce((select jsonb_agg(v.request order by x.requested_at desc, x.id desc)
                       from (select r.id, r.requested_at from public.cron_run_requests r
                              where r.job_id = v_job.id
                              order by r.requested_at desc, r.id desc
                              limit v_history) x
                       join public.ops_request_objects v on v.id = x.id), '[]'::jsonb);
end
$$;

CREATE FUNCTION public.ops_get_request(p_request_id uuid) RETURNS TABLE(id uuid, request jsonb)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select v.id, v.request from public.ops_request_objects v where v.id = p_request_id;
$$;

CREATE FUNCTION public.ops_list_jobs(p_project text DEFAULT NULL::text, p_q text DEFAULT NULL::text, p_filter text DEFAULT 'all'::text, p_limit integer DEFAULT 50, p_offset integer DEFAULT 0) RETURNS TABLE(jobs jsonb, projects jsonb, has_more boolean)
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  v_limit   integer := least(greatest(coalesce(p_limit, 50), 1), 200);
  v_offset  integer := greatest(coalesce(p_offset, 0), 0);
  v_filter  text := coalesce(nullif(p_filter, ''), 'all');
  v_pattern text;
begin
  if v_filter not in ('all', 'enabled', 'paused', 'failing') then
    raise exception 'filter: filter must be all, enabled, paused or failing' using errcode = 'PT422';
  end if;
  if nullif(btrim(p_q), '') is not null then
    v_pattern := '%' || replace(replace(replace(btrim(p_q), '\', '\\'), '%', '\%'), '_', '\_') || '%';
  end if;
  return query
    with page as (
      -- The ids of one more than the page, to know whether another page
      -- follows, in the order of the (project_id, name) unique index; the
      -- objects are built for the page's rows only.
      select j.id, j.project_id, j.name
        from public.cron_jobs j
       where (p_project is null or j.project_id = p_project)
         and (v_pattern is null or j.name ilike v_pattern)
         and case v_filter
               when 'enabled' then j.enabled
               when 'paused' then not j.enabled
               when 'failing' then j.last_status = 'error' or j.schedule_error is not null
               else true
             end
       order by j.project_id, j.name
       limit v_limit + 1 offset v_offset
    ), shown as (
      select p.id, p.project_id, p.name from page p order by p.project_id, p.name limit v_limit
    ), project_ids as (
      -- Every distinct project_id, one index probe each (a loose index scan
      -- on the unique (project_id, name) index), not a scan of every job.
      with recursive walk as (
        select min(c.project_id) as project_id from public.cron_jobs c
        union all
        select (select min(c.project_id) from public.cron_jobs c where c.project_id > w.project_id)
          from walk w
         where w.project_id is not null
      )
      select w.project_id from walk w where w.project_id is not null limit 1000
    )
    select coalesce((select jsonb_agg(v.job order by s.project_id, s.name)
                       from shown s join public.ops_job_objects v on v.id = s.id), '[]'::jsonb),
           coalesce((select jsonb_agg(p.project_id order by p.project_id) from project_ids p), '[]'::jsonb),
           (select count(*) from page) > v_limit;
end
$$;

CREATE FUNCTION public.ops_list_requests(p_project text DEFAULT NULL::text, p_job_id uuid DEFAULT NULL::uuid, p_status text DEFAULT NULL::text, p_limit integer DEFAULT 50, p_offset integer DEFAULT 0) RETURNS TABLE(requests jsonb, has_more boolean)
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION public.ops_list_runs(p_job text DEFAULT NULL::text, p_status text DEFAULT NULL::text, p_limit integer DEFAULT 50, p_offset integer DEFAULT 0) RETURNS TABLE(runs jsonb, has_more boolean)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION public.ops_retry_request(p_request_id uuid, p_requested_by text DEFAULT 'ops'::text, p_dedup_key text DEFAULT NULL::text) RETURNS TABLE(id uuid, request jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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
  select * into v_job from public.cron_jobs j where j.id = v_old.job_id;
  v_id := public._ops_queue_request(v_job, p_requested_by, v_old.payload, nullif(p_dedup_key, ''), v_old.id);
  return query
    select v.id, v.request from public.ops_request_objects v where v.id = v_id;
end
$$;

CREATE FUNCTION public.ops_run_now(p_job_id uuid, p_requested_by text DEFAULT 'ops'::text, p_payload jsonb DEFAULT NULL::jsonb, p_dedup_key text DEFAULT NULL::text) RETURNS TABLE(id uuid, request jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION public.ops_set_job_enabled(p_job_id uuid, p_enabled boolean) RETURNS TABLE(id uuid, job jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_job public.cron_jobs;
begin
  if p_enabled is null then
    raise exception 'enabled: enabled must be true or false' using errcode = 'PT422';
  end if;
  update public.cron_jobs j
     set enabled = p_enabled, updated_at = now()
   where j.id = p_job_id and j.enabled <> p_enabled
  returning * into v_job;
  if v_job.id is null then
    select * into v_job from public.cron_jobs j where j.id = p_job_id;
  end if;
  if v_job.id is null then
    raise exception 'job: no job with id %', p_job_id using errcode = 'PT404';
  end if;
  return query select v.id, v.job from public.ops_job_objects v where v.id = v_job.id;
end
$$;

CREATE FUNCTION public.ops_update_job(p_job_id uuid, p_changes jsonb) RETURNS TABLE(id uuid, job jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_old public.cron_jobs;
  v_new public.cron_jobs;
  v_unknown text;
begin
  if p_changes is null or jsonb_typeof(p_changes) <> 'object' then
    raise exception 'changes: changes must be a JSON object of the fields to change' using errcode = 'PT422';
  end if;
  select k into v_unknown
    from jsonb_object_keys(p_changes) k
   where k not in ('project_id', 'name', 'kind', 'target', 'payload', 'schedule_type', 'schedule', 'timezone',
                   'enabled')
   limit 1;
  if v_unknown is not null then
    raise exception '%: % is not a field that can be changed', v_unknown, v_unknown using errcode = 'PT422';
  end if;

  select * into v_old from public.cron_jobs j where j.id = p_job_id for update;
  if v_old.id is null then
    raise exception 'job: no job with id %', p_job_id using errcode = 'PT404';
  end if;
  if v_old.schedule_type = 'vercel' then
    raise exception 'job: builtin jobs are defined by vercel.json; only run, pause and resume apply'
      using errcode = 'PT409';
  end if;

  v_new := v_old;
  if p_changes ? 'project_id' then v_new.project_id := p_changes ->> 'project_id'; end if;
  if p_changes ? 'name' then v_new.name := p_changes ->> 'name'; end if;
  if p_changes ? 'kind' then v_new.kind := p_changes ->> 'kind'; end if;
  if p_changes ? 'target' then v_new.target := p_changes ->> 'target'; end if;
  if p_changes ? 'payload' then v_new.payload := p_changes -> 'payload'; end if;
  if p_changes ? 'schedule_type' then v_new.schedule_type := p_changes ->> 'schedule_type'; end if;
  if p_changes ? 'schedule' then v_new.schedule := nullif(btrim(p_changes ->> 'schedule'), ''); end if;
  if p_changes ? 'timezone' then v_new.timezone := coalesce(nullif(btrim(p_changes ->> 'timezone'), ''), 'UTC'); end if;
  if p_changes ? 'enabled' then
    if jsonb_typeof(p_changes -> 'enabled') <> 'boolean' then
      raise exception 'enabled: enabled must be true or false' using errcode = 'PT422';
    end if;
    v_new.enabled := (p_changes ->> 'enabled')::boolean;
  end if;
  perform public._ops_check_definition(
    case when v_new.project_id is distinct from v_old.project_id then coalesce(v_new.project_id, '') end,
    case when v_new.name is distinct from v_old.name then coalesce(v_new.name, '') end,
    case when v_new.kind is distinct from v_old.kind then coalesce(v_new.kind, '') end,
    case when (v_new.kind, v_new.target) is distinct from (v_old.kind, v_old.target)
         then coalesce(v_new.target, '') end,
    case when v_new.payload is distinct from v_old.payload then coalesce(v_new.payload, 'null'::jsonb) end,
    case when v_new.schedule_type is distinct from v_old.schedule_type then coalesce(v_new.schedule_type, '') end);

  if (v_new.project_id, v_new.name) is distinct from (v_old.project_id, v_old.name)
     and exists (select 1 from public.cron_jobs j where j.project_id = v_new.project_id and j.name = v_new.name) then
    raise exception 'name: a job named % already exists in project %', quote_literal(v_new.name),
                    quote_literal(v_new.project_id)
      using errcode = 'PT409';
  end if;

  if (v_new.project_id, v_new.name, v_new.kind, v_new.target, v_new.payload, v_new.schedule_type, v_new.schedule,
      v_new.timezone, v_new.enabled)
     is not distinct from
     (v_old.project_id, v_old.name, v_old.kind, v_old.target, v_old.payload, v_old.schedule_type, v_old.schedule,
      v_old.timezone, v_old.enabled) then
    return query select v.id, v.job from public.ops_job_objects v where v.id = v_old.id;
    return;
  end if;

  -- A concurrent rename to the same name loses here, as a unique violation.
  begin
    update public.cron_jobs j
       set project_id = v_new.project_id, name = v_new.name, kind = v_new.kind, target = v_new.target,
           payload = v_new.payload, schedule_type = v_new.schedule_type, schedule = v_new.schedule,
           timezone = v_new.timezone, enabled = v_new.enabled, updated_at = now()
     where j.id = p_job_id
    returning * into v_new;
  exception when unique_violation then
    raise exception 'name: a job named % already exists in project %', quote_literal(v_new.name),
                    quote_literal(v_new.project_id)
      using errcode = 'PT409';
  end;
  -- Its requests follow it to its new project.
  if v_new.project_id <> v_old.project_id then
    update public.cron_run_requests r set project_id = v_new.project_id where r.job_id = p_job_id;
  end if;
  return query select v.id, v.job from public.ops_job_objects v where v.id = v_new.id;
end
$$;

CREATE FUNCTION public.prune_history(p_retention_days integer, p_batch_size integer) RETURNS TABLE(deleted_runs integer, deleted_requests integer, batch_size integer)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if p_retention_days is null or p_retention_days < 1 then
    raise exception 'prune_history: retention must be at least 1 day, got %', p_retention_days
      using errcode = '22023';
  end if;
  if p_batch_size is null or p_batch_size < 1 then
    raise exception 'prune_history: batch size must be positive, got %', p_batch_size using errcode = '22023';
  end if;

  return query
    -- Each batch's rows are found through an index and deleted by ctid (a Tid
    -- Scan). Joining the delete back on id let the planner hash-join a
    -- sequential scan of the whole table, so every batch cost the table's size.
    -- No row locks first: see delete_expired_heartbeats.
    with runs_gone as (
      delete from public.cron_runs r
       where r.ctid = any(array(
               select o.ctid
                 from public.cron_runs o
                where o.started_at < public._history_expires_before(p_retention_days)
                  and o.status <> 'running'
                order by o.started_at
                limit p_batch_size))
         and r.status <> 'running'
      returning 1
    ), requests_gone as (
      -- The status again, where the row is deleted: never a queued or running request.
      delete from public.cron_run_requests q
       where q.ctid = any(array(
               select o.ctid
                 from public.cron_run_requests o
                where o.status in ('done', 'error')
                  and o.completed_at < public._history_expires_before(p_retention_days)
                order by o.completed_at
                limit p_batch_size))
         and q.status in ('done', 'error')
      returning 1
    )
    select (select count(*)::integer from runs_gone), (select count(*)::integer from requests_gone), p_batch_size;
end
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
  v_queued  record;
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

  select * into v_queued from public._queue_run_request(v_job, request_run.requested_by, v_payload, v_key);
  if v_queued.outcome = 'other_job' then
    raise exception 'request_run: dedup_key % already names a request of another job', quote_literal(v_key)
      using errcode = '22023';
  end if;
  if v_queued.outcome = 'paused' then
    raise exception 'request_run: job % in project % is disabled (paused); resume it (enabled = true) to queue runs',
                    quote_literal(request_run.job_name), quote_literal(v_project)
      using errcode = '22023';
  end if;
  return query
    select r.id, r.job_id, r.project_id, r.status, r.requested_at
      from public.cron_run_requests r
     where r.id = v_queued.request_id;
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
                        case when least(r.reminder_count, 2147483646) + 1 >= p_max_count then 'exhausted' else 'sent' end
                      when 'transient' then
                        case when least(r.attempts, 2147483646) + 1 >= p_max_attempts then 'failed' else r.status end
                      when 'permanent' then 'failed'
                      else r.status
                    end,
           -- Counters saturate: a row another app wrote with a counter at the integer
           -- limit must not overflow and fail the whole group's settle.
           reminder_count = case when o.outcome = 'delivered'
                                 then least(r.reminder_count, 2147483646) + 1 else r.reminder_count end,
           last_reminded_at = case when o.outcome = 'delivered' then now() else r.last_reminded_at end,
           attempts = case o.outcome
                        when 'delivered' then 0
                        when 'transient' then least(r.attempts, 2147483646) + 1
                        when 'permanent' then least(r.attempts, 2147483646) + 1
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

CREATE FUNCTION public.sweep_overdue_jobs(p_deadlines jsonb, p_claim_limit integer DEFAULT 100) RETURNS TABLE(id bigint, event text, payload jsonb, created_at timestamp with time zone)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
begin
  if p_deadlines is null or jsonb_typeof(p_deadlines) <> 'array' then
    raise exception 'sweep_overdue_jobs: deadlines must be a JSON array' using errcode = '22023';
  end if;

  -- The job rows first, in id order, as every other writer of them takes them.
  perform 1
     from public.cron_jobs j
    where j.id in (select d.job_id from jsonb_to_recordset(p_deadlines) as d (job_id uuid)
                   union
                   select v.id from public.alert_overdue_jobs v where v.overdue_since is null)
    order by j.id
      for no key update;

  insert into public.cron_job_alert_state as s (job_id, due_by, due_basis)
  select d.job_id, d.due_by, d.due_basis
    from jsonb_to_recordset(p_deadlines) as d (job_id uuid, due_basis timestamptz, due_by timestamptz)
    join public.cron_jobs j on j.id = d.job_id
   where d.due_basis is not null
  on conflict (job_id) do update
     set due_by = excluded.due_by, due_basis = excluded.due_basis, updated_at = now()
   where excluded.due_basis >= coalesce(s.watch_from, '-infinity'::timestamptz);

  with opened as (
    update public.cron_job_alert_state s
       set overdue_since = now(), updated_at = now()
     where s.overdue_since is null
       and s.job_id in (select v.id from public.alert_overdue_jobs v)
    returning s.job_id, s.due_by, s.due_basis, s.overdue_since
  )
  insert into public.cron_alert_outbox (event, job_id, payload)
  select 'job.overdue', o.job_id,
         public._alert_job_fields(o.job_id)
         || jsonb_build_object('schedule', j.schedule, 'schedule_type', j.schedule_type, 'timezone', j.timezone,
                               'last_started_at', j.last_run_at, 'due_by', o.due_by,
                               'overdue_since', o.overdue_since)
    from opened o
    join public.cron_jobs j on j.id = o.job_id
   order by o.job_id;

  return query select * from public.claim_alert_events(p_claim_limit);
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

CREATE TABLE public.cron_job_alert_state (
    job_id uuid NOT NULL,
    failed_since timestamp with time zone,
    overdue_since timestamp with time zone,
    due_by timestamp with time zone,
    due_basis timestamp with time zone,
    watch_from timestamp with time zone,
    updated_at timestamp with time zone DEFAULT now() NOT NULL
);

COMMENT ON TABLE public.cron_job_alert_state IS 'Alert episodes per job (failed_since, overdue_since) and the overdue deadline (due_by, computed from due_basis).';

CREATE VIEW public.alert_overdue_jobs WITH (security_invoker='true') AS
 SELECT j.id,
    j.project_id,
    j.name,
    s.due_by,
    s.overdue_since
   FROM (public.cron_jobs j
     JOIN public.cron_job_alert_state s ON ((s.job_id = j.id)))
  WHERE (j.enabled AND (j.schedule_type = ANY (ARRAY['vercel'::text, 'cron'::text, 'interval'::text])) AND (j.schedule_error IS NULL) AND (s.due_by < now()) AND ((GREATEST(j.last_run_at, j.created_at, s.watch_from) + (s.due_by - s.due_basis)) < now()));

CREATE TABLE public.cron_alert_outbox (
    id bigint NOT NULL,
    event text NOT NULL,
    job_id uuid,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT cron_alert_outbox_event_check CHECK ((event = ANY (ARRAY['job.failed'::text, 'job.overdue'::text, 'job.recovered'::text])))
);

ALTER TABLE public.cron_alert_outbox ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.cron_alert_outbox_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

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
    retry_of uuid,
    CONSTRAINT cron_run_requests_status_check CHECK ((status = ANY (ARRAY['queued'::text, 'running'::text, 'done'::text, 'error'::text])))
);

COMMENT ON COLUMN public.cron_run_requests.retry_of IS 'The failed (status error) request this one retries, when it was queued by a retry; null otherwise.';

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
)
PARTITION BY RANGE (created_at);

COMMENT ON TABLE public.heartbeats IS 'Agents'' heartbeats, partitioned by day on created_at (heartbeats_pYYYYMMDD, UTC days; heartbeats_default catches the rest). cleanup-heartbeats makes partitions ahead and drops those wholly past retention.';

CREATE TABLE public.heartbeats_default (
    id bigint CONSTRAINT heartbeats_id_not_null NOT NULL,
    agent_id uuid CONSTRAINT heartbeats_agent_id_not_null NOT NULL,
    created_at timestamp with time zone DEFAULT now() CONSTRAINT heartbeats_created_at_not_null NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb CONSTRAINT heartbeats_payload_not_null NOT NULL
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

CREATE VIEW public.ops_job_objects WITH (security_invoker='true') AS
 SELECT id,
    project_id,
    name,
    jsonb_build_object('id', id, 'project_id', project_id, 'name', name, 'kind', kind, 'target', target, 'payload', payload, 'schedule_type', schedule_type, 'schedule', schedule, 'timezone', timezone, 'enabled', enabled, 'source', source, 'editable', (schedule_type <> 'vercel'::text), 'next_run_at', (next_run_at AT TIME ZONE 'UTC'::text), 'last_run_at', (last_run_at AT TIME ZONE 'UTC'::text), 'last_status', last_status, 'last_duration_ms', last_duration_ms, 'schedule_error', schedule_error, 'fired_at', (fired_at AT TIME ZONE 'UTC'::text), 'resumed_at', (resumed_at AT TIME ZONE 'UTC'::text), 'created_at', (created_at AT TIME ZONE 'UTC'::text), 'updated_at', (updated_at AT TIME ZONE 'UTC'::text)) AS job
   FROM public.cron_jobs j;

CREATE VIEW public.ops_request_objects WITH (security_invoker='true') AS
 SELECT r.id,
    r.job_id,
    jsonb_build_object('id', r.id, 'job_id', r.job_id, 'job_name', j.name, 'project_id', r.project_id, 'status', r.status, 'held', ((r.status = 'queued'::text) AND (NOT j.enabled)), 'requested_by', r.requested_by, 'requested_at', (r.requested_at AT TIME ZONE 'UTC'::text), 'picked_up_at', (r.picked_up_at AT TIME ZONE 'UTC'::text), 'completed_at', (r.completed_at AT TIME ZONE 'UTC'::text), 'attempts', r.attempts, 'max_attempts', r.max_attempts, 'available_at', (r.available_at AT TIME ZONE 'UTC'::text), 'result', r.result, 'payload', r.payload, 'retry_of', r.retry_of) AS request
   FROM (public.cron_run_requests r
     JOIN public.cron_jobs j ON ((j.id = r.job_id)));

CREATE VIEW public.ops_run_objects WITH (security_invoker='true') AS
 SELECT id,
    jsonb_build_object('id', id, 'job', job, 'trigger', trigger, 'status', status, 'started_at', (started_at AT TIME ZONE 'UTC'::text), 'finished_at', (finished_at AT TIME ZONE 'UTC'::text), 'duration_ms', duration_ms, 'stats', stats, 'error', error, 'request_id', request_id, 'dry_run', dry_run, 'has_more', has_more) AS run
   FROM public.cron_runs r;

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

ALTER TABLE ONLY public.heartbeats ATTACH PARTITION public.heartbeats_default DEFAULT;

ALTER TABLE ONLY public.agents
    ADD CONSTRAINT agents_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cron_alert_outbox
    ADD CONSTRAINT cron_alert_outbox_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cron_job_alert_state
    ADD CONSTRAINT cron_job_alert_state_pkey PRIMARY KEY (job_id);

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
    ADD CONSTRAINT heartbeats_pkey PRIMARY KEY (id, created_at);

ALTER TABLE ONLY public.heartbeats_default
    ADD CONSTRAINT heartbeats_default_pkey PRIMARY KEY (id, created_at);

ALTER TABLE ONLY public.scheduled_reminders
    ADD CONSTRAINT scheduled_reminders_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.schema_repeatables
    ADD CONSTRAINT schema_repeatables_pkey PRIMARY KEY (name);

CREATE INDEX agents_online_last_seen_idx ON public.agents USING btree (COALESCE(last_heartbeat_at, created_at)) WHERE (status = 'online'::text);

CREATE INDEX cron_jobs_due_idx ON public.cron_jobs USING btree (next_run_at) WHERE (enabled AND (schedule_type = ANY (ARRAY['cron'::text, 'interval'::text, 'once'::text])));

CREATE INDEX cron_run_requests_finished_idx ON public.cron_run_requests USING btree (completed_at) WHERE (status = ANY (ARRAY['done'::text, 'error'::text]));

CREATE INDEX cron_run_requests_job_requested_idx ON public.cron_run_requests USING btree (job_id, requested_at DESC);

CREATE INDEX cron_run_requests_queued_idx ON public.cron_run_requests USING btree (available_at) WHERE (status = 'queued'::text);

CREATE INDEX cron_run_requests_requested_idx ON public.cron_run_requests USING btree (requested_at DESC);

CREATE INDEX cron_run_requests_retry_of_idx ON public.cron_run_requests USING btree (retry_of) WHERE (retry_of IS NOT NULL);

CREATE INDEX cron_run_requests_running_idx ON public.cron_run_requests USING btree (locked_until) WHERE (status = 'running'::text);

CREATE INDEX cron_runs_job_started_idx ON public.cron_runs USING btree (job, started_at DESC);

CREATE UNIQUE INDEX cron_runs_run_key_idx ON public.cron_runs USING btree (run_key) WHERE (run_key IS NOT NULL);

CREATE INDEX cron_runs_running_idx ON public.cron_runs USING btree (lease_until) WHERE (status = 'running'::text);

CREATE INDEX cron_runs_started_idx ON public.cron_runs USING btree (started_at DESC);

CREATE INDEX heartbeats_agent_id_idx ON ONLY public.heartbeats USING btree (agent_id, created_at DESC);

CREATE INDEX heartbeats_created_at_idx ON ONLY public.heartbeats USING btree (created_at);

CREATE INDEX heartbeats_default_agent_id_created_at_idx ON public.heartbeats_default USING btree (agent_id, created_at DESC);

CREATE INDEX heartbeats_default_created_at_idx ON public.heartbeats_default USING btree (created_at);

CREATE INDEX scheduled_reminders_due_id_idx ON public.scheduled_reminders USING btree (due_at, id) WHERE (status = ANY (ARRAY['pending'::text, 'sent'::text]));

CREATE INDEX scheduled_reminders_lead_idx ON public.scheduled_reminders USING btree (lead_id);

ALTER INDEX public.heartbeats_agent_id_idx ATTACH PARTITION public.heartbeats_default_agent_id_created_at_idx;

ALTER INDEX public.heartbeats_created_at_idx ATTACH PARTITION public.heartbeats_default_created_at_idx;

ALTER INDEX public.heartbeats_pkey ATTACH PARTITION public.heartbeats_default_pkey;

CREATE TRIGGER cron_jobs_alert_watch AFTER UPDATE OF enabled, schedule, schedule_type, timezone ON public.cron_jobs FOR EACH ROW WHEN (((new.enabled AND (NOT old.enabled)) OR (((new.schedule IS DISTINCT FROM old.schedule) OR (new.schedule_type IS DISTINCT FROM old.schedule_type)) OR (new.timezone IS DISTINCT FROM old.timezone)))) EXECUTE FUNCTION public.cron_jobs_alert_watch();

CREATE TRIGGER cron_jobs_schedule_changed BEFORE UPDATE OF schedule, schedule_type, timezone, enabled ON public.cron_jobs FOR EACH ROW EXECUTE FUNCTION public.cron_jobs_schedule_changed();

CREATE TRIGGER cron_run_requests_alert AFTER UPDATE OF status ON public.cron_run_requests FOR EACH ROW WHEN (((old.status = 'running'::text) AND (new.status = ANY (ARRAY['done'::text, 'error'::text])))) EXECUTE FUNCTION public.cron_run_requests_alert();

CREATE TRIGGER cron_runs_alert AFTER UPDATE OF status ON public.cron_runs FOR EACH ROW WHEN (((new.status = ANY (ARRAY['ok'::text, 'partial'::text, 'error'::text])) AND (NOT new.dry_run) AND ((old.status = 'running'::text) OR ((old.status = 'error'::text) AND (new.status <> 'error'::text))))) EXECUTE FUNCTION public.cron_runs_alert();

ALTER TABLE ONLY public.cron_job_alert_state
    ADD CONSTRAINT cron_job_alert_state_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.cron_jobs(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.cron_run_requests
    ADD CONSTRAINT cron_run_requests_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.cron_jobs(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.cron_run_requests
    ADD CONSTRAINT cron_run_requests_retry_of_fkey FOREIGN KEY (retry_of) REFERENCES public.cron_run_requests(id) ON DELETE SET NULL;

ALTER TABLE public.heartbeats
    ADD CONSTRAINT heartbeats_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES public.agents(id) ON DELETE CASCADE;

ALTER TABLE public.agents ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_alert_outbox ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_job_alert_state ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_jobs ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_locks ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_run_requests ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_runs ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.heartbeats ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.heartbeats_default ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.scheduled_reminders ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.schema_migrations ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.schema_repeatables ENABLE ROW LEVEL SECURITY;

CREATE POLICY service_role_all ON public.agents TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_alert_outbox TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_job_alert_state TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_jobs TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_locks TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_run_requests TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_runs TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.heartbeats TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.heartbeats_default TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.scheduled_reminders TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.schema_migrations TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.schema_repeatables TO service_role USING (true) WITH CHECK (true);

GRANT USAGE ON SCHEMA public TO service_role;

REVOKE ALL ON FUNCTION public._alert_failed(p_job_id uuid, p_details jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public._alert_failed(p_job_id uuid, p_details jsonb) TO service_role;

REVOKE ALL ON FUNCTION public._alert_job_fields(p_job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public._alert_job_fields(p_job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION public._alert_recovered(p_job_id uuid, p_details jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public._alert_recovered(p_job_id uuid, p_details jsonb) TO service_role;

REVOKE ALL ON FUNCTION public._heartbeat_partition_ranges() FROM PUBLIC;
GRANT ALL ON FUNCTION public._heartbeat_partition_ranges() TO service_role;

REVOKE ALL ON FUNCTION public._heartbeats_expire_before(p_retention_days integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public._heartbeats_expire_before(p_retention_days integer) TO service_role;

REVOKE ALL ON FUNCTION public._history_expires_before(p_retention_days integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public._history_expires_before(p_retention_days integer) TO service_role;

REVOKE ALL ON FUNCTION public._ops_check_definition(p_project_id text, p_name text, p_kind text, p_target text, p_payload jsonb, p_schedule_type text) FROM PUBLIC;
GRANT ALL ON FUNCTION public._ops_check_definition(p_project_id text, p_name text, p_kind text, p_target text, p_payload jsonb, p_schedule_type text) TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_jobs TO service_role;

REVOKE ALL ON FUNCTION public._ops_queue_request(p_job public.cron_jobs, p_requested_by text, p_payload jsonb, p_dedup_key text, p_retry_of uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public._ops_queue_request(p_job public.cron_jobs, p_requested_by text, p_payload jsonb, p_dedup_key text, p_retry_of uuid) TO service_role;

REVOKE ALL ON FUNCTION public._queue_run_request(p_job public.cron_jobs, p_requested_by text, p_payload jsonb, p_dedup_key text, p_retry_of uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public._queue_run_request(p_job public.cron_jobs, p_requested_by text, p_payload jsonb, p_dedup_key text, p_retry_of uuid) TO service_role;

REVOKE ALL ON FUNCTION public._replay_begin_run(p_run_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public._replay_begin_run(p_run_key text) TO service_role;

REVOKE ALL ON FUNCTION public.advance_schedules(p_items jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.advance_schedules(p_items jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.begin_run(p_job text, p_trigger text, p_lease_seconds integer, p_request_id text, p_dry_run boolean, p_run_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.begin_run(p_job text, p_trigger text, p_lease_seconds integer, p_request_id text, p_dry_run boolean, p_run_key text) TO service_role;

REVOKE ALL ON FUNCTION public.cancel_reminders_for_lead(lead_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.cancel_reminders_for_lead(lead_id text) TO service_role;

REVOKE ALL ON FUNCTION public.claim_alert_events(p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.claim_alert_events(p_limit integer) TO service_role;

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

REVOKE ALL ON FUNCTION public.count_overdue_jobs() FROM PUBLIC;
GRANT ALL ON FUNCTION public.count_overdue_jobs() TO service_role;

REVOKE ALL ON FUNCTION public.count_prunable_history(p_retention_days integer, p_cap integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.count_prunable_history(p_retention_days integer, p_cap integer) TO service_role;

REVOKE ALL ON FUNCTION public.cron_jobs_alert_watch() FROM PUBLIC;
GRANT ALL ON FUNCTION public.cron_jobs_alert_watch() TO service_role;

REVOKE ALL ON FUNCTION public.cron_jobs_schedule_changed() FROM PUBLIC;
GRANT ALL ON FUNCTION public.cron_jobs_schedule_changed() TO service_role;

REVOKE ALL ON FUNCTION public.cron_run_requests_alert() FROM PUBLIC;
GRANT ALL ON FUNCTION public.cron_run_requests_alert() TO service_role;

REVOKE ALL ON FUNCTION public.cron_runs_alert() FROM PUBLIC;
GRANT ALL ON FUNCTION public.cron_runs_alert() TO service_role;

REVOKE ALL ON FUNCTION public.delete_expired_heartbeats(p_retention_days integer, p_batch_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.delete_expired_heartbeats(p_retention_days integer, p_batch_size integer) TO service_role;

REVOKE ALL ON FUNCTION public.end_run(p_run_id bigint, p_status text, p_stats jsonb, p_error text, p_has_more boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION public.end_run(p_run_id bigint, p_status text, p_stats jsonb, p_error text, p_has_more boolean) TO service_role;

REVOKE ALL ON FUNCTION public.health_check() FROM PUBLIC;
GRANT ALL ON FUNCTION public.health_check() TO service_role;

REVOKE ALL ON FUNCTION public.heartbeat_partitions(p_retention_days integer, p_days_ahead integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.heartbeat_partitions(p_retention_days integer, p_days_ahead integer) TO service_role;

REVOKE ALL ON FUNCTION public.list_due_reminders(p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_due_reminders(p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.list_due_run_requests(p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_due_run_requests(p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.list_due_schedules(p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_due_schedules(p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.list_jobs_to_watch(p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_jobs_to_watch(p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.list_run_requests(p_status text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_run_requests(p_status text, p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.list_runs(p_job text, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_runs(p_job text, p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.list_stale_agents(p_stale_after_seconds integer, p_limit integer, p_sample integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_stale_agents(p_stale_after_seconds integer, p_limit integer, p_sample integer) TO service_role;

REVOKE ALL ON FUNCTION public.mark_stale_agents_offline(p_stale_after_seconds integer, p_limit integer, p_sample integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.mark_stale_agents_offline(p_stale_after_seconds integer, p_limit integer, p_sample integer) TO service_role;

REVOKE ALL ON FUNCTION public.ops_create_job(p_name text, p_project_id text, p_kind text, p_target text, p_payload jsonb, p_schedule_type text, p_schedule text, p_timezone text, p_enabled boolean, p_source text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_create_job(p_name text, p_project_id text, p_kind text, p_target text, p_payload jsonb, p_schedule_type text, p_schedule text, p_timezone text, p_enabled boolean, p_source text) TO service_role;

REVOKE ALL ON FUNCTION public.ops_delete_job(p_job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_delete_job(p_job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION public.ops_get_job(p_job_id uuid, p_project text, p_name text, p_history integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_get_job(p_job_id uuid, p_project text, p_name text, p_history integer) TO service_role;

REVOKE ALL ON FUNCTION public.ops_get_request(p_request_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_get_request(p_request_id uuid) TO service_role;

REVOKE ALL ON FUNCTION public.ops_list_jobs(p_project text, p_q text, p_filter text, p_limit integer, p_offset integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_list_jobs(p_project text, p_q text, p_filter text, p_limit integer, p_offset integer) TO service_role;

REVOKE ALL ON FUNCTION public.ops_list_requests(p_project text, p_job_id uuid, p_status text, p_limit integer, p_offset integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_list_requests(p_project text, p_job_id uuid, p_status text, p_limit integer, p_offset integer) TO service_role;

REVOKE ALL ON FUNCTION public.ops_list_runs(p_job text, p_status text, p_limit integer, p_offset integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_list_runs(p_job text, p_status text, p_limit integer, p_offset integer) TO service_role;

REVOKE ALL ON FUNCTION public.ops_retry_request(p_request_id uuid, p_requested_by text, p_dedup_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_retry_request(p_request_id uuid, p_requested_by text, p_dedup_key text) TO service_role;

REVOKE ALL ON FUNCTION public.ops_run_now(p_job_id uuid, p_requested_by text, p_payload jsonb, p_dedup_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_run_now(p_job_id uuid, p_requested_by text, p_payload jsonb, p_dedup_key text) TO service_role;

REVOKE ALL ON FUNCTION public.ops_set_job_enabled(p_job_id uuid, p_enabled boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_set_job_enabled(p_job_id uuid, p_enabled boolean) TO service_role;

REVOKE ALL ON FUNCTION public.ops_update_job(p_job_id uuid, p_changes jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_update_job(p_job_id uuid, p_changes jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.prune_history(p_retention_days integer, p_batch_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.prune_history(p_retention_days integer, p_batch_size integer) TO service_role;

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

REVOKE ALL ON FUNCTION public.sweep_overdue_jobs(p_deadlines jsonb, p_claim_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.sweep_overdue_jobs(p_deadlines jsonb, p_claim_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.upsert_builtin_job(p_name text, p_schedule text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.upsert_builtin_job(p_name text, p_schedule text) TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.agents TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_job_alert_state TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.alert_overdue_jobs TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_alert_outbox TO service_role;

GRANT SELECT,USAGE ON SEQUENCE public.cron_alert_outbox_id_seq TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_locks TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_run_requests TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_runs TO service_role;

GRANT SELECT,USAGE ON SEQUENCE public.cron_runs_id_seq TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.scheduled_reminders TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.due_reminders TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.due_schedules TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.heartbeats TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.heartbeats_default TO service_role;

GRANT SELECT,USAGE ON SEQUENCE public.heartbeats_id_seq TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.online_agents TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.ops_job_objects TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.ops_request_objects TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.ops_run_objects TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.run_requests_ready TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.run_requests_to_recover TO service_role;

GRANT SELECT,USAGE ON SEQUENCE public.scheduled_reminders_id_seq TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.schema_migrations TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.schema_repeatables TO service_role;
