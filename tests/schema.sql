CREATE FUNCTION public._alert_failed(p_job_id uuid, p_details jsonb) RETURNS void
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_threshold integer;
  v_failures  integer;
  v_since     timestamptz;
begin
  select j.alert_after_failures into v_threshold from public.cron_jobs j where j.id = p_job_id for no key update;
  if not found then
    return;
  end if;
  insert into public.cron_job_alert_state as s (job_id, failures, last_error)
  values (p_job_id, 1, left(p_details ->> 'error', 500))
  on conflict (job_id) do update
     set failures = s.failures + 1, last_error = excluded.last_error, updated_at = now()
  returning s.failures, s.failed_since into v_failures, v_since;
  if v_since is not null or v_failures < coalesce(v_threshold, 1) then
    return;  -- an episode is open already, or the job tolerates this many failures in a row
  end if;
  update public.cron_job_alert_state s
     set failed_since = now(), alerted_at = now(), repeats = 0, updated_at = now()
   where s.job_id = p_job_id and s.failed_since is null
  returning s.failed_since into v_since;
  if v_since is not null then
    perform public._alert_queue('job.failed', p_job_id,
                                public._alert_job_fields(p_job_id) || p_details
                                || jsonb_build_object('failing_since', v_since, 'failures', v_failures), 0);
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

CREATE FUNCTION public._alert_queue(p_event text, p_job_id uuid, p_payload jsonb, p_repeat integer) RETURNS bigint
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  insert into public.cron_alert_events (event, job_id, repeat, muted, payload)
  values (p_event, p_job_id, coalesce(p_repeat, 0),
          coalesce((select not j.alerts_enabled from public.cron_jobs j where j.id = p_job_id), false),
          coalesce(p_payload, '{}'::jsonb))
  returning id;
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
                  where s.job_id = p_job_id
                    and (s.failed_since is not null or s.overdue_since is not null or s.failures > 0)) then
    return;
  end if;
  perform 1 from public.cron_jobs j where j.id = p_job_id for no key update;
  with old as (
    select s.job_id, s.failed_since, s.overdue_since
      from public.cron_job_alert_state s
     where s.job_id = p_job_id
       and (s.failed_since is not null or s.overdue_since is not null or s.failures > 0)
       for update
  )
  update public.cron_job_alert_state s
     set failed_since = null, overdue_since = null, failures = 0, repeats = 0, alerted_at = null,
         updated_at = now()
    from old
   where s.job_id = old.job_id
  returning old.failed_since, old.overdue_since into v_failed, v_overdue;
  if v_failed is null and v_overdue is null then
    return;  -- no episode was open (or a concurrent good run closed it and sent the one job.recovered)
  end if;
  perform public._alert_queue(
    'job.recovered', p_job_id,
    public._alert_job_fields(p_job_id) || p_details
    || jsonb_build_object(
         'recovered_from',
         to_jsonb(array_remove(array[case when v_failed is not null then 'failed' end,
                                     case when v_overdue is not null then 'overdue' end], null)),
         'failing_since', v_failed,
         'overdue_since', v_overdue),
    0);
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

CREATE FUNCTION public._ops_audit_row() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_hidden text[] := coalesce(TG_ARGV[1:], '{}'::text[]);
  v_old    jsonb := case when TG_OP <> 'INSERT' then to_jsonb(OLD) end;
  v_new    jsonb := case when TG_OP <> 'DELETE' then to_jsonb(NEW) end;
  v_row    jsonb := coalesce(v_new, v_old);
  v_before jsonb;
  v_after  jsonb;
  v_secret text;
begin
  if TG_OP = 'UPDATE' then
    select jsonb_object_agg(o.key, case when o.key = any (v_hidden) then '"(hidden)"'::jsonb else o.value end),
           jsonb_object_agg(o.key, case when o.key = any (v_hidden) then '"(changed)"'::jsonb else v_new -> o.key end)
      into v_before, v_after
      from jsonb_each(v_old) o
     where o.value is distinct from v_new -> o.key
       and o.key not in ('updated_at', 'version');
    if v_before is null then
      return null;
    end if;
  else
    foreach v_secret in array v_hidden loop
      v_old := v_old - v_secret;
      v_new := v_new - v_secret;
    end loop;
    v_before := v_old;
    v_after := v_new;
  end if;
  insert into public.ops_audit (actor, action, object_type, object_id, object_name, before, after, call_key)
  values (current_setting('cronrelay.actor', true), coalesce(current_setting('cronrelay.action', true), ''),
          TG_ARGV[0], v_row ->> 'id', v_row ->> 'name', v_before, v_after,
          nullif(current_setting('cronrelay.call_key', true), '')::uuid);
  return null;
end
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

CREATE FUNCTION public._ops_check_operator(p_name text, p_role text) RETURNS void
    LANGUAGE plpgsql IMMUTABLE
    SET search_path TO ''
    AS $_$
begin
  if p_name is not null and p_name !~ '^[a-z0-9][a-z0-9._-]{0,63}$' then
    raise exception 'name: name must be 1 to 64 characters of lower-case letters, digits, . _ - '
                    '(starting with a letter or digit)'
      using errcode = 'PT422';
  end if;
  if p_role is not null and p_role not in ('viewer', 'operator', 'admin') then
    raise exception 'role: role must be viewer, operator or admin' using errcode = 'PT422';
  end if;
end
$_$;

CREATE FUNCTION public._ops_keep_an_admin() RETURNS void
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
begin
  if not exists (select 1 from public.ops_users u where u.role = 'admin' and not u.disabled) then
    raise exception 'role: this would leave no enabled admin; make another operator admin first'
      using errcode = 'PT409';
  end if;
end
$$;

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
    alert_after_failures integer DEFAULT 1 NOT NULL,
    realert_after interval,
    overdue_grace interval DEFAULT '00:05:00'::interval NOT NULL,
    alerts_enabled boolean DEFAULT true NOT NULL,
    worker_id uuid,
    instructions text,
    mirror_schedule_kind text,
    mirror_schedule text,
    mirror_timezone text,
    mirror_enabled boolean,
    mirror_next_run_at timestamp with time zone,
    mirrored_at timestamp with time zone,
    worker_removed_at timestamp with time zone,
    version bigint DEFAULT 1 NOT NULL,
    CONSTRAINT cron_jobs_alert_controls_check CHECK ((((alert_after_failures >= 1) AND (alert_after_failures <= 1000)) AND ((realert_after IS NULL) OR ((realert_after >= '00:01:00'::interval) AND (realert_after <= '365 days'::interval))) AND (overdue_grace >= '00:00:00'::interval) AND (overdue_grace <= '30 days'::interval))),
    CONSTRAINT cron_jobs_kind_check CHECK ((kind = ANY (ARRAY['builtin'::text, 'webhook'::text, 'worker'::text]))),
    CONSTRAINT cron_jobs_schedule_type_check CHECK ((schedule_type = ANY (ARRAY['vercel'::text, 'cron'::text, 'interval'::text, 'once'::text, 'manual'::text]))),
    CONSTRAINT cron_jobs_source_check CHECK ((source = ANY (ARRAY['user'::text, 'agent'::text]))),
    CONSTRAINT cron_jobs_worker_kind_check CHECK (((kind <> 'worker'::text) OR (worker_id IS NOT NULL)))
);

COMMENT ON COLUMN public.cron_jobs.schedule_error IS 'Why this row''s schedule cannot be used (bad cron expression, time zone, interval or timestamp): it stops firing until the schedule, schedule_type or timezone is changed, which clears this. null when fine.';

COMMENT ON COLUMN public.cron_jobs.schedule_claim_token IS 'The schedule job''s claim on this row while it computes the next fire time.';

COMMENT ON COLUMN public.cron_jobs.schedule_locked_until IS 'When that claim lapses; a row claimed by a run that died is claimable again after it.';

COMMENT ON COLUMN public.cron_jobs.fired_at IS 'When a `once` schedule fired; it never fires again (until its schedule is changed). enabled stays as it was.';

COMMENT ON COLUMN public.cron_jobs.resumed_at IS 'When a paused cron/interval job was last resumed: ticks scheduled before it were missed while paused and are skipped, not caught up. Cleared by the next tick.';

COMMENT ON COLUMN public.cron_jobs.worker_removed_at IS 'When the worker''s complete sync no longer listed this job: it is not claimed or watched any more, and its queued requests ended error. A later sync that lists it again clears this.';

COMMENT ON COLUMN public.cron_jobs.version IS 'Incremented by every change to the job''s definition or enabled; an edit based on an older version is refused.';

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

CREATE FUNCTION public._ops_signin_wait(p_address text, p_account text, p_window interval, p_limit integer) RETURNS integer
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  with recent as (
    select f.failed_at
      from public.ops_signin_failures f
     where f.failed_at > now() - p_window
       and (case when p_account is null then f.address = p_address else f.account = p_account end)
  ), counted as (
    select count(*) as n from recent
  )
  select case when c.n < p_limit then 0
              else greatest(1, ceil(extract(epoch from (
                     (select r.failed_at from recent r order by r.failed_at offset (c.n - p_limit) limit 1)
                     + p_window - now())))::integer)
         end
    from counted c;
$$;

CREATE FUNCTION public._ops_user_id(p_name text) RETURNS uuid
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_id uuid;
begin
  select u.id into v_id from public.ops_users u where u.name = p_name for update;
  if v_id is null then
    raise exception 'operator: no operator named %', quote_literal(left(coalesce(p_name, ''), 64))
      using errcode = 'PT404';
  end if;
  return v_id;
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

CREATE FUNCTION public._run_request_blocked(p_request_id uuid, p_blocked jsonb) RETURNS boolean
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select exists (select 1
                   from public.cron_run_requests r
                   join public.cron_jobs j on j.id = r.job_id
                  where r.id = p_request_id
                    and (p_blocked ? j.kind or p_blocked ? ('builtin:' || coalesce(j.target, j.name))));
$$;

CREATE TABLE public.cron_workers (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    project_id text DEFAULT 'default'::text NOT NULL,
    name text NOT NULL,
    token_hash text NOT NULL,
    agent_id uuid DEFAULT gen_random_uuid() NOT NULL,
    last_seen_at timestamp with time zone,
    disabled_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

COMMENT ON TABLE public.cron_workers IS 'Outside workers (python -m lib workers add): token_hash is the hex sha256 of the crw_ token, shown once; disabled_at set means revoked (every call with its token is refused at once).';

CREATE FUNCTION public._worker_for_token(p_token text) RETURNS public.cron_workers
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $_$
declare
  v_worker public.cron_workers;
  v_beat   timestamptz;
begin
  if p_token is null or p_token !~ '^crw_[A-Za-z0-9_-]{32,200}$' then
    raise exception 'worker token refused' using errcode = 'PT401';
  end if;
  select * into v_worker
    from public.cron_workers w
   where w.token_hash = pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8')), 'hex');
  if v_worker.id is null or v_worker.disabled_at is not null then
    raise exception 'worker token refused (unknown or revoked)' using errcode = 'PT401';
  end if;
  if v_worker.last_seen_at is null or v_worker.last_seen_at < now() - interval '5 seconds' then
    -- Of concurrent calls, one beats; the others skip the locked row rather
    -- than wait for the winner's whole call. Into a variable of its own: a
    -- call that did not beat keeps v_worker as it read it.
    update public.cron_workers w
       set last_seen_at = now()
     where w.id = (select x.id from public.cron_workers x
                    where x.id = v_worker.id
                      and (x.last_seen_at is null or x.last_seen_at < now() - interval '5 seconds')
                      for update skip locked)
    returning w.last_seen_at into v_beat;
    if v_beat is not null then
      v_worker.last_seen_at := v_beat;
      perform public.record_heartbeat(v_worker.agent_id,
                                      jsonb_build_object('worker', v_worker.name, 'project_id', v_worker.project_id));
    end if;
  end if;
  return v_worker;
end
$_$;

CREATE FUNCTION public.abandon_alert_deliveries(p_channels jsonb, p_settings jsonb, p_horizon_seconds integer, p_limit integer DEFAULT 500) RETURNS TABLE(channel text, abandoned integer)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_channels text[];
  v_horizon  interval;
  v_limit    integer := least(greatest(coalesce(p_limit, 500), 1), 1000);
begin
  if p_channels is null or jsonb_typeof(p_channels) <> 'array' then
    raise exception 'abandon_alert_deliveries: channels must be a JSON array' using errcode = '22023';
  end if;
  if p_settings is null or jsonb_typeof(p_settings) <> 'object' then
    raise exception 'abandon_alert_deliveries: settings must be a JSON object' using errcode = '22023';
  end if;
  -- Below an hour the caller has mistaken the unit: a retry alone waits up to 8 h.
  if p_horizon_seconds is null or p_horizon_seconds < 3600 then
    raise exception 'abandon_alert_deliveries: the horizon must be at least 3600 seconds' using errcode = '22023';
  end if;
  select coalesce(array_agg(distinct c), '{}') into v_channels from jsonb_array_elements_text(p_channels) c;
  v_horizon := make_interval(secs => p_horizon_seconds);

  return query
    with stranded as (
      select d.id
        from public.cron_alert_deliveries d
       where d.status = 'pending'
         and d.available_at <= now() - v_horizon
         and d.updated_at <= now() - v_horizon
         and d.channel <> all (v_channels)
       order by d.available_at, d.id
       limit v_limit
         for update skip locked
    ), ended as (
      update public.cron_alert_deliveries d
         set status = 'dead',
             last_error = format('channel %s is not configured (%s unset) anywhere this queue ran for %s h',
                                 d.channel,
                                 coalesce(p_settings ->> d.channel, 'its setting'),
                                 round(p_horizon_seconds / 3600.0)),
             status_code = null,
             locked_until = null,
             claim_token = null,
             updated_at = now()
        from stranded s
       where d.id = s.id
         and d.status = 'pending'
      returning d.channel
    )
    select e.channel, count(*)::integer from ended e group by e.channel order by e.channel;
end
$$;

CREATE FUNCTION public.advance_schedules(p_items jsonb) RETURNS TABLE(job_id uuid, applied boolean, enqueued boolean, request_id uuid, dedup_key text, coalesced boolean)
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

CREATE FUNCTION public.alert_health() RETURNS TABLE(overdue integer, alerts_pending integer, alerts_dead integer)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select (select count(*)::integer from public.alert_overdue_jobs),
         (select count(*)::integer from public.cron_alert_deliveries d where d.status = 'pending'),
         (select count(*)::integer from public.cron_alert_deliveries d where d.status = 'dead');
$$;

CREATE FUNCTION public.alert_pending_by_channel() RETURNS TABLE(channel text, pending integer, oldest_at timestamp with time zone)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select d.channel, count(*)::integer, min(d.created_at)
    from public.cron_alert_deliveries d
   where d.status = 'pending'
   group by d.channel
   order by d.channel;
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

CREATE FUNCTION public.begin_run_if_due(p_job text, p_trigger text, p_lease_seconds integer, p_empty_stats jsonb, p_request_id text DEFAULT NULL::text, p_run_key text DEFAULT NULL::text, p_blocked jsonb DEFAULT NULL::jsonb) RETURNS TABLE(run_id bigint, acquired boolean, started_at timestamp with time zone, held_by bigint, paused boolean, finished boolean, duration_ms integer, held jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_key   text := nullif(p_run_key, '');
  v_open  boolean := p_blocked is null or p_blocked = '{}'::jsonb;
  v_done  public.cron_runs;
  v_start record;
  v_held  jsonb := '{}'::jsonb;
  v_stats jsonb := coalesce(p_empty_stats, '{}'::jsonb);
  v_due   boolean;
begin
  if p_job is distinct from 'run-requests' then
    raise exception 'begin_run_if_due: no empty-run check for job %', quote_literal(coalesce(p_job, ''))
      using errcode = '22023';
  end if;
  if v_key is not null then
    select * into v_done from public.cron_runs r
     where r.run_key = v_key and r.status in ('ok', 'partial', 'error') and r.stats @> v_stats;
    if v_done.id is not null then
      return query select v_done.id, true, v_done.started_at, null::bigint, false, true, v_done.duration_ms,
                          '{}'::jsonb;
      return;
    end if;
  end if;

  select * into v_start
    from public.begin_run(p_job, p_trigger, p_lease_seconds, p_request_id, false, v_key);
  if not v_start.acquired then
    return query select v_start.run_id, false, v_start.started_at, v_start.held_by, v_start.paused, false,
                        null::integer, v_held;
    return;
  end if;

  if not v_open then
    -- Only a row still to mark takes hold_run_requests' row locks; an
    -- unchanged held queue is counted with a plain read (a tick where nothing
    -- is due stays read-only on the queue).
    if exists (select 1
                 from public.cron_jobs j
                 join public.cron_run_requests r on r.job_id = j.id
                where j.enabled
                  and (p_blocked ? j.kind or p_blocked ? ('builtin:' || coalesce(j.target, j.name)))
                  and ((r.status = 'queued'
                        and r.held_reason is distinct from
                            coalesce(p_blocked ->> j.kind, p_blocked ->> ('builtin:' || coalesce(j.target, j.name))))
                       or (r.status = 'running' and r.locked_until < now()))) then
      select coalesce(jsonb_object_agg(h.reason, h.waiting), '{}'::jsonb) into v_held
        from public.hold_run_requests(p_blocked) h;
    else
      select coalesce(jsonb_object_agg(c.reason, c.waiting), '{}'::jsonb) into v_held
        from (select r.held_reason as reason, count(*) as waiting
                from public.cron_jobs j
                join public.cron_run_requests r on r.job_id = j.id
               where j.enabled and r.status = 'queued' and r.held_reason is not null
                 and (p_blocked ? j.kind or p_blocked ? ('builtin:' || coalesce(j.target, j.name)))
               group by r.held_reason) c;
    end if;
  end if;

  -- What claim_run_requests would take: a due queued request, or a running
  -- one whose lease expired (each a range on its partial index), that this
  -- deployment can run.
  v_due := exists (select 1 from public.run_requests_ready v
                    where v_open or not public._run_request_blocked(v.id, p_blocked))
        or exists (select 1 from public.run_requests_to_recover v
                    where v_open or not public._run_request_blocked(v.id, p_blocked));
  if v_due then
    return query select v_start.run_id, true, v_start.started_at, null::bigint, false, false, null::integer, v_held;
    return;
  end if;

  -- Nothing ran, so this transaction's only news is the empty run's ledger
  -- row (and the lease it takes and gives back). Its commit need not wait for
  -- the WAL flush: a database crash in the next instant would lose a record
  -- of nothing done, never work. That wait is most of an empty tick's cost.
  perform pg_catalog.set_config('synchronous_commit', 'off', true);
  if v_held <> '{}'::jsonb then
    -- The run names the setting the held requests wait for.
    v_stats := v_stats || jsonb_build_object('held', (select sum(value::bigint) from jsonb_each_text(v_held)),
                                             'held_for', (select jsonb_agg(key order by key) from jsonb_each(v_held)));
  end if;
  return query
    select v_start.run_id, true, v_start.started_at, null::bigint, false, true, e.duration_ms, v_held
      from public.end_run(v_start.run_id, 'ok', v_stats, null, false) e;
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

CREATE FUNCTION public.claim_alert_deliveries(p_channels jsonb, p_limit integer DEFAULT 50, p_lease_seconds integer DEFAULT 120, p_max_attempts integer DEFAULT 10) RETURNS TABLE(id bigint, claim_token uuid, channel text, attempts integer, max_attempts integer, event_id bigint, alert_id uuid, event text, job_id uuid, repeat integer, payload jsonb, created_at timestamp with time zone)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_channels text[];
  v_limit    integer := least(greatest(coalesce(p_limit, 50), 1), 500);
  v_lease    interval := make_interval(secs => greatest(coalesce(p_lease_seconds, 120), 1));
begin
  if p_channels is null or jsonb_typeof(p_channels) <> 'array' then
    raise exception 'claim_alert_deliveries: channels must be a JSON array' using errcode = '22023';
  end if;
  select coalesce(array_agg(distinct c), '{}') into v_channels from jsonb_array_elements_text(p_channels) c;
  if not v_channels <@ array['webhook', 'slack', 'discord', 'telegram'] then
    raise exception 'claim_alert_deliveries: channels are webhook, slack, discord and telegram' using errcode = '22023';
  end if;

  with fresh as (
    update public.cron_alert_events e
       set fanned_out_at = now()
     where e.id in (select q.id from public.cron_alert_events q
                     where q.fanned_out_at is null
                     order by q.id
                     limit 1000
                       for update skip locked)
    returning e.id, e.muted
  )
  insert into public.cron_alert_deliveries (event_id, channel, max_attempts)
  select f.id, c.channel, greatest(coalesce(p_max_attempts, 10), 1)
    from fresh f
   cross join unnest(v_channels) as c (channel)
   where not f.muted
   order by f.id, c.channel
  on conflict (event_id, channel) do nothing;

  return query
    with due as (
      select d.id
        from public.cron_alert_deliveries d
       where d.status = 'pending'
         and d.available_at <= now()
         and d.channel = any (v_channels)
       order by d.available_at, d.id
       limit v_limit
         for update skip locked
    ), claimed as (
      update public.cron_alert_deliveries d
         set attempts = d.attempts + 1,
             claim_token = gen_random_uuid(),
             locked_until = now() + v_lease,
             available_at = now() + v_lease,
             updated_at = now()
        from due
       where d.id = due.id
      returning d.id, d.claim_token, d.channel, d.attempts, d.max_attempts, d.event_id
    )
    select c.id, c.claim_token, c.channel, c.attempts, c.max_attempts, e.id, e.alert_id, e.event, e.job_id,
           e.repeat, e.payload, e.created_at
      from claimed c
      join public.cron_alert_events e on e.id = c.event_id
     order by c.id;
end
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

CREATE FUNCTION public.claim_due_schedules(p_limit integer, p_lease_seconds integer, p_due_before timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS TABLE(id uuid, project_id text, name text, schedule text, schedule_type text, timezone text, next_run_at timestamp with time zone, claim_token uuid, db_now timestamp with time zone, resumed_at timestamp with time zone, created_at timestamp with time zone)
    LANGUAGE sql
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION public.claim_run_requests(p_batch_size integer, p_lease_seconds integer, p_blocked jsonb DEFAULT NULL::jsonb) RETURNS TABLE(id uuid, project_id text, job_id uuid, requested_by text, requested_at timestamp with time zone, payload jsonb, attempts integer, max_attempts integer, picked_up_at timestamp with time zone, locked_until timestamp with time zone, claim_token uuid, recovered boolean, exhausted boolean, job_name text, job_kind text, job_target text, job_payload jsonb, job_enabled boolean)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_open boolean := p_blocked is null or p_blocked = '{}'::jsonb;
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
       where v_open or not public._run_request_blocked(v.id, p_blocked)
       order by v.locked_until
       limit p_batch_size
         for update skip locked
    ), due as (
      select v.id, false as recovered, false as exhausted
        from public.run_requests_ready v
       where v_open or not public._run_request_blocked(v.id, p_blocked)
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
             claim_token = gen_random_uuid(),
             held_reason = null
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

CREATE FUNCTION public.claim_run_requests_by_id(p_ids jsonb, p_lease_seconds integer, p_blocked jsonb DEFAULT NULL::jsonb, p_limit integer DEFAULT 1000) RETURNS TABLE(id uuid, project_id text, job_id uuid, requested_by text, requested_at timestamp with time zone, payload jsonb, attempts integer, max_attempts integer, picked_up_at timestamp with time zone, locked_until timestamp with time zone, claim_token uuid, recovered boolean, exhausted boolean, job_name text, job_kind text, job_target text, job_payload jsonb, job_enabled boolean)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_open boolean := p_blocked is null or p_blocked = '{}'::jsonb;
begin
  if p_ids is null or jsonb_typeof(p_ids) <> 'array' or jsonb_array_length(p_ids) > 1000 then
    raise exception 'claim_run_requests_by_id: ids must be a JSON array of at most 1000 request ids'
      using errcode = '22023';
  end if;
  if p_lease_seconds is null or p_lease_seconds <= 0 then
    raise exception 'claim_run_requests_by_id: lease must be a positive number of seconds, got %', p_lease_seconds
      using errcode = '22023';
  end if;

  return query
    with wanted as (
      select distinct x.value::uuid as id from jsonb_array_elements_text(p_ids) x
    ), picked as (
      select r.id
        from public.cron_run_requests r
        join wanted w on w.id = r.id
       where r.status = 'queued' and r.available_at <= now()
         and exists (select 1 from public.cron_jobs j
                      where j.id = r.job_id and j.enabled and j.kind in ('builtin', 'webhook'))
         and (v_open or not public._run_request_blocked(r.id, p_blocked))
       order by r.requested_at, r.id
       limit greatest(coalesce(p_limit, 1000), 1)
         for update of r skip locked
    ), claimed as (
      update public.cron_run_requests r
         set status = 'running',
             picked_up_at = now(),
             attempts = r.attempts + 1,
             locked_until = now() + make_interval(secs => p_lease_seconds),
             claim_token = gen_random_uuid(),
             held_reason = null
        from picked p
       where r.id = p.id
      returning r.id, r.project_id, r.job_id, r.requested_by, r.requested_at, r.payload, r.attempts,
                r.max_attempts, r.picked_up_at, r.locked_until, r.claim_token
    )
    select c.id, c.project_id, c.job_id, c.requested_by, c.requested_at, c.payload, c.attempts,
           c.max_attempts, c.picked_up_at, c.locked_until, c.claim_token, false, false,
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
declare
  v_restart boolean := (new.enabled and not old.enabled)
                       or (new.schedule, new.schedule_type, new.timezone)
                          is distinct from (old.schedule, old.schedule_type, old.timezone);
begin
  insert into public.cron_job_alert_state as s (job_id, watch_from)
  values (new.id, now())
  on conflict (job_id) do update
     set watch_from = case when v_restart then now() else s.watch_from end,
         due_by = null, due_basis = null, updated_at = now();
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

CREATE FUNCTION public.cron_jobs_version() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  new.version := old.version + 1;
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

CREATE FUNCTION public.cron_run_requests_attempt() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_outcome text;
  v_result  jsonb := case when jsonb_typeof(new.result) = 'object' then new.result else '{}'::jsonb end;
begin
  if new.status = 'running' then
    v_outcome := 'abandoned';
    v_result := jsonb_build_object('error', 'no result before its lease expired');
  elsif new.status = 'queued' then
    v_outcome := 'retry';
  else
    v_outcome := new.status;
  end if;
  insert into public.cron_request_attempts
    (request_id, attempt, started_at, duration_ms, outcome, status_code, error, body)
  values (
    new.id, old.attempts, old.picked_up_at,
    case when jsonb_typeof(v_result -> 'duration_ms') = 'number'
         then least(greatest((v_result ->> 'duration_ms')::numeric, 0), 2147483647)::integer end,
    v_outcome,
    case when jsonb_typeof(v_result -> 'status_code') = 'number'
         then least(greatest((v_result ->> 'status_code')::numeric, 0), 999)::integer end,
    left(v_result ->> 'error', 2000),
    left(v_result ->> 'body', 2048));
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

CREATE FUNCTION public.heartbeat_partitions(p_retention_days integer, p_days_ahead integer DEFAULT 7, p_drop_megabytes integer DEFAULT 1024) RETURNS TABLE(created integer, dropped integer, dropped_rows_estimate bigint, busy boolean, left_to_drop integer)
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
  v_left    integer := 0;
  v_bytes   bigint := 0;
begin
  if p_retention_days < 1 then
    raise exception 'heartbeat_partitions: retention must be at least 1 day, got %', p_retention_days
      using errcode = '22023';
  end if;
  if p_days_ahead is null or p_days_ahead < 0 or p_days_ahead > 31 then
    raise exception 'heartbeat_partitions: days ahead must be between 0 and 31, got %', p_days_ahead
      using errcode = '22023';
  end if;
  if p_drop_megabytes is null or p_drop_megabytes < 0 then
    raise exception 'heartbeat_partitions: megabytes to drop per call must be 0 or more, got %', p_drop_megabytes
      using errcode = '22023';
  end if;
  -- No retention (migrate's call): drop nothing, make today's partition and those ahead.
  v_cutoff := coalesce(public._heartbeats_expire_before(p_retention_days), v_today);
  -- Two upkeeps at once would race to make the same partition.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('cronrelay:heartbeat_partitions'));

  begin
    for v_part in
      select r.partition_name, c.reltuples, pg_catalog.pg_total_relation_size(c.oid) as bytes,
             count(*) over () as expired
        from public._heartbeat_partition_ranges() r
        join pg_catalog.pg_class c on c.relname = r.partition_name and c.relnamespace = 'public'::regnamespace
       where p_retention_days is not null and not r.is_default and r.upper_bound <= v_cutoff
       order by r.upper_bound
    loop
      exit when v_dropped > 0 and v_bytes + v_part.bytes > p_drop_megabytes::bigint * 1048576;
      execute format('drop table public.%I', v_part.partition_name);
      v_dropped := v_dropped + 1;
      v_left := v_part.expired - v_dropped;
      v_bytes := v_bytes + v_part.bytes;
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
    return query select 0, 0, 0::bigint, true, null::integer;
    return;
  end;

  return query select v_created, v_dropped, v_rows, false, v_left;
end
$$;

CREATE FUNCTION public.hold_run_requests(p_blocked jsonb, p_limit integer DEFAULT 1000) RETURNS TABLE(reason text, waiting bigint)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
begin
  if p_blocked is null or jsonb_typeof(p_blocked) <> 'object' then
    raise exception 'hold_run_requests: blocked must be a JSON object of reasons' using errcode = '22023';
  end if;
  return query
    with blocked_job as (
      select j.id, coalesce(p_blocked ->> j.kind, p_blocked ->> ('builtin:' || coalesce(j.target, j.name))) as reason
        from public.cron_jobs j
       where j.enabled
         and (p_blocked ? j.kind or p_blocked ? ('builtin:' || coalesce(j.target, j.name)))
    ), candidate as (
      select r.id, b.reason, r.held_reason, r.status
        from blocked_job b
        join public.cron_run_requests r on r.job_id = b.id
       where r.status = 'queued' or (r.status = 'running' and r.locked_until < now())
    ), marked as (
      update public.cron_run_requests r
         set held_reason = c.reason,
             status = 'queued',
             locked_until = null,
             claim_token = null
        from (select c.id, c.reason
                from candidate c
                join public.cron_run_requests x on x.id = c.id
               where c.held_reason is distinct from c.reason or c.status <> 'queued'
               limit greatest(coalesce(p_limit, 1000), 1)
                 for update of x skip locked) c
       where r.id = c.id
      returning r.id
    )
    -- Counted from the candidates (this statement's snapshot), marked or not.
    select c.reason, count(*) from candidate c group by c.reason order by c.reason;
end
$$;

CREATE FUNCTION public.list_alerts(p_limit integer DEFAULT 50, p_before_id bigint DEFAULT NULL::bigint) RETURNS TABLE(alerts jsonb, has_more boolean)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  with page as (
    select e.*
      from public.cron_alert_events e
     where p_before_id is null or e.id < p_before_id
     order by e.id desc
     limit least(greatest(coalesce(p_limit, 50), 1), 200) + 1
  ), shown as (
    select p.* from page p order by p.id desc limit least(greatest(coalesce(p_limit, 50), 1), 200)
  )
  select coalesce(jsonb_agg(jsonb_build_object(
           'id', s.id, 'alert_id', s.alert_id, 'event', s.event, 'job_id', s.job_id,
           'job', coalesce(j.name, s.payload ->> 'job'), 'project_id', coalesce(j.project_id, s.payload ->> 'project_id'),
           'repeat', s.repeat, 'muted', s.muted, 'routed', s.fanned_out_at is not null,
           'created_at', s.created_at at time zone 'UTC', 'payload', s.payload,
           'deliveries', coalesce((select jsonb_agg(jsonb_build_object(
                                            'channel', d.channel, 'status', d.status, 'attempts', d.attempts,
                                            'max_attempts', d.max_attempts, 'last_error', d.last_error,
                                            'status_code', d.status_code,
                                            'sent_at', d.sent_at at time zone 'UTC',
                                            'next_attempt_at', case when d.status = 'pending'
                                                                    then d.available_at at time zone 'UTC' end)
                                          order by d.channel)
                                     from public.cron_alert_deliveries d where d.event_id = s.id), '[]'::jsonb))
           order by s.id desc), '[]'::jsonb),
         (select count(*) from page) > (select count(*) from shown)
    from shown s
    left join public.cron_jobs j on j.id = s.job_id;
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

CREATE FUNCTION public.list_jobs_to_watch(p_limit integer DEFAULT 500) RETURNS TABLE(id uuid, name text, schedule text, schedule_type text, timezone text, basis timestamp with time zone, grace_seconds double precision)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select j.id, j.name,
         case when m.mirrored then j.mirror_schedule else j.schedule end,
         case when m.mirrored then j.mirror_schedule_kind else j.schedule_type end,
         case when m.mirrored then coalesce(nullif(j.mirror_timezone, ''), 'UTC') else j.timezone end,
         greatest(j.last_run_at, j.created_at, s.watch_from),
         extract(epoch from j.overdue_grace)::double precision
    from public.cron_jobs j
    left join public.cron_job_alert_state s on s.job_id = j.id
   cross join lateral (select j.kind = 'worker' and j.schedule_type = 'manual' as mirrored) m
   where j.enabled
     and ((j.schedule_type in ('vercel', 'cron', 'interval')
           and j.schedule_error is null
           and nullif(btrim(j.schedule), '') is not null)
          or (m.mirrored and j.worker_removed_at is null and coalesce(j.mirror_enabled, true)
              and j.mirror_schedule_kind in ('cron', 'interval')
              and nullif(btrim(j.mirror_schedule), '') is not null))
     and s.due_basis is distinct from greatest(j.last_run_at, j.created_at, s.watch_from)
   order by j.id
   limit greatest(1, least(coalesce(p_limit, 500), 10000));
$$;

CREATE FUNCTION public.list_run_requests(p_status text DEFAULT NULL::text, p_limit integer DEFAULT 50) RETURNS TABLE(id uuid, project_id text, job_name text, job_kind text, status text, requested_by text, requested_at timestamp with time zone, picked_up_at timestamp with time zone, completed_at timestamp with time zone, attempts integer, max_attempts integer, available_at timestamp with time zone, locked_until timestamp with time zone, result jsonb, held boolean, held_reason text)
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
           r.status = 'queued' and (not j.enabled or r.held_reason is not null),
           case when r.status = 'queued' then r.held_reason end
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

CREATE FUNCTION public.ops_act(p_actor text, p_action text, p_function text, p_args jsonb DEFAULT '{}'::jsonb, p_call_key uuid DEFAULT NULL::uuid) RETURNS TABLE(result jsonb, audited integer)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $_$
declare
  v_oid       oid;
  v_arguments text;
  v_missing   text;
  v_rows      jsonb;
  v_audited   integer;
  v_repeat    boolean;
  v_key       uuid := coalesce(p_call_key, gen_random_uuid());
begin
  if coalesce(p_actor, '') = '' then
    raise exception 'actor: who acts must be named' using errcode = 'PT422';
  end if;
  if coalesce(p_function, '') !~ '^(ops_[a-z0-9_]+|request_run)$' or p_function = 'ops_act' then
    raise exception 'function: ops_act runs ops_... functions only' using errcode = 'PT422';
  end if;
  if p_args is not null and jsonb_typeof(p_args) <> 'object' then
    raise exception 'args: args must be a JSON object' using errcode = 'PT422';
  end if;
  -- Of the functions by that name (an overload left by a changed signature),
  -- the one that takes every argument given, and the fewest others.
  select p.oid into v_oid
    from pg_catalog.pg_proc p
   where p.pronamespace = 'public'::regnamespace and p.proname = p_function
     and not exists (select 1 from jsonb_object_keys(coalesce(p_args, '{}'::jsonb)) k (key)
                      where not (k.key = any (coalesce(p.proargnames, '{}'::text[]))))
   order by p.pronargs, p.oid
   limit 1;
  if v_oid is null then
    raise exception 'function: no function % taking these arguments', p_function using errcode = 'PT404';
  end if;

  -- Each argument cast to its parameter's type, read from the catalog.
  with params as (
    select a.name, a.type_oid
      from pg_catalog.pg_proc p,
           unnest(coalesce(p.proallargtypes, p.proargtypes::oid[]), p.proargnames,
                  coalesce(p.proargmodes, array_fill('i'::"char", array[p.pronargs])))
             as a (type_oid, name, mode)
     where p.oid = v_oid and a.mode in ('i', 'b')
  )
  select string_agg(
           format('%I => %s', k.key,
                  case
                    when pr.type_oid = 'jsonb'::regtype then format('nullif($1 -> %L, ''null''::jsonb)', k.key)
                    when pr.type_oid = 'json'::regtype then format('nullif($1 -> %L, ''null''::jsonb)::json', k.key)
                    when t.typcategory = 'A' then
                      format('(select array_agg(e) from jsonb_array_elements_text(nullif($1 -> %L, ''null''::jsonb)) e)::%s',
                             k.key, pg_catalog.format_type(pr.type_oid, null))
                    else format('($1 ->> %L)::%s', k.key, pg_catalog.format_type(pr.type_oid, null))
                  end), ', '),
         min(k.key) filter (where pr.name is null)
    into v_arguments, v_missing
    from jsonb_object_keys(coalesce(p_args, '{}'::jsonb)) k (key)
    left join params pr on pr.name = k.key
    left join pg_catalog.pg_type t on t.oid = pr.type_oid;
  if v_missing is not null then
    raise exception 'args: % takes no argument %', p_function, v_missing using errcode = 'PT422';
  end if;

  v_repeat := p_call_key is not null
              and exists (select 1 from public.ops_audit a where a.call_key = p_call_key);
  if not v_repeat then
    perform set_config('cronrelay.actor', p_actor, true);
    perform set_config('cronrelay.action', coalesce(p_action, p_function), true);
    perform set_config('cronrelay.call_key', v_key::text, true);
  end if;
  execute format('select coalesce(jsonb_agg(to_jsonb(r)), ''[]''::jsonb) from public.%I(%s) r',
                 p_function, coalesce(v_arguments, ''))
     into v_rows
    using coalesce(p_args, '{}'::jsonb);
  perform set_config('cronrelay.actor', '', true);

  v_audited := 0;
  if not v_repeat then
    select count(*)::integer into v_audited from public.ops_audit a where a.call_key = v_key;
    if v_audited = 0 then
      -- It changed nothing (a pause of a paused job): the action is still
      -- recorded, with what it was asked (secrets left out).
      insert into public.ops_audit (actor, action, object_id, detail, call_key)
      values (p_actor, coalesce(p_action, p_function),
              coalesce(p_args ->> 'p_job_id', p_args ->> 'p_request_id', p_args ->> 'p_name'),
              (select jsonb_object_agg(e.k, e.v) from jsonb_each(coalesce(p_args, '{}'::jsonb)) e (k, v)
                where e.k !~ '(password|hash|token|secret)'),
              v_key);
      v_audited := 1;
    end if;
  end if;
  return query select e.value, v_audited from jsonb_array_elements(v_rows) e;
end
$_$;

CREATE FUNCTION public.ops_add_worker(p_project_id text, p_name text, p_token_hash text) RETURNS TABLE(id uuid, worker jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $_$
#variable_conflict use_column
declare
  v_id    uuid;
  v_agent uuid;
begin
  if p_project_id is null or p_project_id !~ '^[A-Za-z0-9._:-]{1,100}$' then
    raise exception 'project_id: project_id must be 1 to 100 characters of letters, digits, . _ : -'
      using errcode = 'PT422';
  end if;
  if p_name is null or p_name !~ '^[A-Za-z0-9._:-]{1,100}$' then
    raise exception 'name: name must be 1 to 100 characters of letters, digits, . _ : -' using errcode = 'PT422';
  end if;
  if p_token_hash is null or p_token_hash !~ '^[0-9a-f]{64}$' then
    raise exception 'token_hash: token_hash must be a hex sha256' using errcode = 'PT422';
  end if;
  insert into public.cron_workers as w (project_id, name, token_hash)
  values (p_project_id, p_name, p_token_hash)
  on conflict (project_id, name) do nothing
  returning w.id, w.agent_id into v_id, v_agent;
  if v_id is null then
    raise exception 'name: a worker named % already exists in project %', p_name, p_project_id
      using errcode = 'PT409';
  end if;
  insert into public.agents (id, name, metadata)
  values (v_agent, format('worker %s/%s', p_project_id, p_name), jsonb_build_object('worker_id', v_id))
  on conflict do nothing;
  return query select o.id, o.worker from public.ops_worker_objects o where o.id = v_id;
end
$_$;

CREATE FUNCTION public.ops_audit_list(p_actor text DEFAULT NULL::text, p_object_id text DEFAULT NULL::text, p_limit integer DEFAULT 50, p_offset integer DEFAULT 0) RETURNS TABLE(entries jsonb, has_more boolean)
    LANGUAGE plpgsql STABLE
    SET search_path TO ''
    AS $$
declare
  v_limit  integer := least(greatest(coalesce(p_limit, 50), 1), 200);
  v_offset integer := greatest(coalesce(p_offset, 0), 0);
begin
  return query
    with page as (
      select a.*
        from public.ops_audit a
       where (p_actor is null or a.actor = p_actor)
         and (p_object_id is null or a.object_id = p_object_id)
       order by a.at desc, a.id desc
       limit v_limit + 1 offset v_offset
    ), shown as (
      select * from page p order by p.at desc, p.id desc limit v_limit
    )
    select coalesce((select jsonb_agg(jsonb_build_object(
                       'id', s.id, 'at', s.at at time zone 'UTC', 'actor', s.actor, 'action', s.action,
                       'object_type', s.object_type, 'object_id', s.object_id, 'object_name', s.object_name,
                       'before', s.before, 'after', s.after, 'detail', s.detail)
                       order by s.at desc, s.id desc) from shown s), '[]'::jsonb),
           (select count(*) from page) > v_limit;
end
$$;

CREATE FUNCTION public.ops_bulk_requests(p_action text, p_by text, p_project text DEFAULT NULL::text, p_job_id uuid DEFAULT NULL::uuid, p_status text DEFAULT NULL::text, p_since timestamp with time zone DEFAULT NULL::timestamp with time zone, p_until timestamp with time zone DEFAULT NULL::timestamp with time zone, p_dry_run boolean DEFAULT true, p_limit integer DEFAULT 500) RETURNS TABLE(matched bigint, done bigint, has_more boolean)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
declare
  v_status text;
  v_limit  integer := least(greatest(coalesce(p_limit, 500), 1), 1000);
  v_matched bigint;
  v_done    bigint := 0;
  v_request record;
  v_job     public.cron_jobs;
begin
  if p_action not in ('retry', 'cancel') or p_action is null then
    raise exception 'action: action must be retry or cancel' using errcode = 'PT422';
  end if;
  v_status := case p_action when 'retry' then 'error' else 'queued' end;
  if p_status is not null and p_status <> v_status then
    raise exception 'status: % takes % requests only', p_action, v_status using errcode = 'PT422';
  end if;
  if p_since is not null and p_until is not null and p_since >= p_until then
    raise exception 'since: since must be before until' using errcode = 'PT422';
  end if;

  select count(*) into v_matched
    from public.cron_run_requests r
    join public.cron_jobs j on j.id = r.job_id
   where r.status = v_status
     and (p_project is null or r.project_id = p_project)
     and (p_job_id is null or r.job_id = p_job_id)
     and (p_since is null or r.requested_at >= p_since)
     and (p_until is null or r.requested_at < p_until)
     and (p_action = 'cancel'
          or (j.enabled and not exists (select 1 from public.cron_run_requests x where x.retry_of = r.id)));
  if coalesce(p_dry_run, true) then
    return query select v_matched, 0::bigint, false;
    return;
  end if;

  if p_action = 'cancel' then
    with picked as (
      select r.id from public.cron_run_requests r
       where r.status = 'queued'
         and (p_project is null or r.project_id = p_project)
         and (p_job_id is null or r.job_id = p_job_id)
         and (p_since is null or r.requested_at >= p_since)
         and (p_until is null or r.requested_at < p_until)
       order by r.requested_at, r.id
       limit v_limit
         for update skip locked
    )
    update public.cron_run_requests r
       set status = 'error', completed_at = now(), locked_until = null, claim_token = null,
           result = jsonb_build_object('error', 'cancelled by ' || coalesce(nullif(p_by, ''), 'ops'),
                                       'cancelled', true)
      from picked p
     where r.id = p.id and r.status = 'queued';
    get diagnostics v_done = row_count;
  else
    for v_request in
      select r.id, r.job_id, r.payload from public.cron_run_requests r
        join public.cron_jobs j on j.id = r.job_id
       where r.status = 'error'
         and j.enabled
         and (p_project is null or r.project_id = p_project)
         and (p_job_id is null or r.job_id = p_job_id)
         and (p_since is null or r.requested_at >= p_since)
         and (p_until is null or r.requested_at < p_until)
         and not exists (select 1 from public.cron_run_requests x where x.retry_of = r.id)
       order by r.requested_at, r.id
       limit v_limit
         for update of r skip locked
    loop
      select * into v_job from public.cron_jobs j where j.id = v_request.job_id;
      perform public._queue_run_request(v_job, p_by, v_request.payload, 'retry:' || v_request.id::text,
                                        v_request.id);
      v_done := v_done + 1;
    end loop;
  end if;
  return query select v_matched, v_done, v_matched > v_done;
end
$$;

CREATE FUNCTION public.ops_cancel_request(p_request_id uuid, p_by text) RETURNS TABLE(id uuid, request jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_old public.cron_run_requests;
begin
  select * into v_old from public.cron_run_requests r where r.id = p_request_id for update;
  if v_old.id is null then
    raise exception 'request: no run request with id %', p_request_id using errcode = 'PT404';
  end if;
  if v_old.status = 'queued' then
    update public.cron_run_requests r
       set status = 'error', completed_at = now(), locked_until = null, claim_token = null,
           result = jsonb_build_object('error', 'cancelled by ' || coalesce(nullif(p_by, ''), 'ops'),
                                       'cancelled', true)
     where r.id = p_request_id;
  elsif not (v_old.status = 'error' and coalesce((v_old.result ->> 'cancelled') = 'true', false)) then
    raise exception 'request: only a queued request can be cancelled; this one is %',
                    case when v_old.status = 'running' then 'running (it is not interrupted)' else v_old.status end
      using errcode = 'PT409';
  end if;
  return query select v.id, v.request from public.ops_request_objects v where v.id = p_request_id;
end
$$;

CREATE FUNCTION public.ops_create_job(p_name text, p_project_id text DEFAULT 'default'::text, p_kind text DEFAULT 'webhook'::text, p_target text DEFAULT NULL::text, p_payload jsonb DEFAULT '{}'::jsonb, p_schedule_type text DEFAULT 'manual'::text, p_schedule text DEFAULT NULL::text, p_timezone text DEFAULT 'UTC'::text, p_enabled boolean DEFAULT true, p_source text DEFAULT 'user'::text, p_next_run_at timestamp with time zone DEFAULT NULL::timestamp with time zone) RETURNS TABLE(id uuid, job jsonb)
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
    (project_id, name, kind, target, payload, schedule_type, schedule, timezone, enabled, source, next_run_at)
  values (p_project_id, p_name, p_kind, p_target, p_payload, p_schedule_type, nullif(btrim(p_schedule), ''),
          coalesce(nullif(btrim(p_timezone), ''), 'UTC'), coalesce(p_enabled, true), p_source, p_next_run_at)
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

CREATE FUNCTION public.ops_list_jobs(p_project text DEFAULT NULL::text, p_q text DEFAULT NULL::text, p_filter text DEFAULT 'all'::text, p_limit integer DEFAULT 50, p_offset integer DEFAULT 0) RETURNS TABLE(jobs json, projects jsonb, has_more boolean)
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
    select coalesce((select json_agg(v.job_json order by s.project_id, s.name)
                       from shown s join public.ops_job_objects v on v.id = s.id), '[]'::json),
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

CREATE FUNCTION public.ops_list_workers(p_project text DEFAULT NULL::text) RETURNS TABLE(count integer, workers jsonb)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select count(*)::integer, coalesce(jsonb_agg(o.worker order by o.project_id, o.name), '[]'::jsonb)
    from (select * from public.ops_worker_objects o
           where p_project is null or o.project_id = p_project
           order by o.project_id, o.name
           limit 1000) o;
$$;

CREATE FUNCTION public.ops_me_set_password(p_token_hash text, p_password_hash text, p_attempt_id bigint DEFAULT NULL::bigint) RETURNS TABLE(id uuid, operator jsonb, sessions_ended integer)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $_$
#variable_conflict use_column
declare
  v_id    uuid;
  v_name  text;
  v_ended integer;
begin
  if coalesce(p_password_hash, '') !~ '^scrypt\$' then
    raise exception 'password: password must be set' using errcode = 'PT422';
  end if;
  select u.id, u.name into v_id, v_name
    from public.ops_sessions s
    join public.ops_users u on u.id = s.user_id
   where s.token_hash = p_token_hash
     and s.via = 'password'
     and s.expires_at > now()
     and not u.disabled
     for update of u;
  if v_id is null then
    raise exception 'session: this session has ended or has no operator account; sign in again'
      using errcode = 'PT401';
  end if;
  update public.ops_users u
     set password_hash = p_password_hash, password_changed_at = now(), updated_at = now()
   where u.id = v_id;
  with gone as (
    delete from public.ops_sessions s where s.user_id = v_id and s.token_hash <> p_token_hash returning 1
  )
  select count(*)::integer into v_ended from gone;
  delete from public.ops_signin_failures f where f.id = p_attempt_id and f.account = v_name;
  return query select v.id, v.operator, v_ended from public.ops_user_objects v where v.id = v_id;
end
$_$;

CREATE FUNCTION public.ops_request_history(p_request_id uuid) RETURNS TABLE(attempts jsonb, retried_by uuid)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select coalesce((select jsonb_agg(jsonb_build_object(
                            'attempt', a.attempt, 'started_at', a.started_at at time zone 'UTC',
                            'finished_at', a.finished_at at time zone 'UTC', 'duration_ms', a.duration_ms,
                            'outcome', a.outcome, 'status_code', a.status_code, 'error', a.error, 'body', a.body)
                          order by a.id)
                     from public.cron_request_attempts a where a.request_id = p_request_id), '[]'::jsonb),
         (select r.id from public.cron_run_requests r where r.retry_of = p_request_id
           order by r.requested_at limit 1);
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
  -- Retried once is enough: a second click must not queue a duplicate. A
  -- repeat of the same call (its key) still answers with its retry.
  select r.id into v_id from public.cron_run_requests r
   where r.retry_of = v_old.id and r.dedup_key is distinct from nullif(p_dedup_key, '') limit 1;
  if v_id is not null then
    raise exception 'request: this request was already retried by %', v_id using errcode = 'PT409';
  end if;
  select * into v_job from public.cron_jobs j where j.id = v_old.job_id;
  v_id := public._ops_queue_request(v_job, p_requested_by, v_old.payload, nullif(p_dedup_key, ''), v_old.id);
  return query
    select v.id, v.request from public.ops_request_objects v where v.id = v_id;
end
$$;

CREATE FUNCTION public.ops_revoke_worker(p_worker_id uuid DEFAULT NULL::uuid, p_project text DEFAULT NULL::text, p_name text DEFAULT NULL::text) RETURNS TABLE(id uuid, worker jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_id uuid;
begin
  update public.cron_workers w
     set disabled_at = coalesce(w.disabled_at, now())
   where (p_worker_id is not null and w.id = p_worker_id)
      or (p_worker_id is null and w.project_id = coalesce(p_project, 'default') and w.name = p_name)
  returning w.id into v_id;
  if v_id is null then
    raise exception 'worker: no such worker' using errcode = 'PT404';
  end if;
  return query select o.id, o.worker from public.ops_worker_objects o where o.id = v_id;
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

CREATE FUNCTION public.ops_session_end(p_token_hash text) RETURNS TABLE(ended integer, token_hash text)
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with gone as (delete from public.ops_sessions s where s.token_hash = p_token_hash returning s.token_hash)
  select (select count(*)::integer from gone), p_token_hash;
$$;

CREATE FUNCTION public.ops_session_get(p_token_hash text) RETURNS TABLE(user_name text, role text, via text, secret_tag text, expires_at timestamp with time zone, operators integer)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select u.name, coalesce(u.role, 'admin'), s.via, s.secret_tag, s.expires_at,
         (select count(*)::integer from public.ops_users o where not o.disabled)
    from public.ops_sessions s
    left join public.ops_users u on u.id = s.user_id
   where s.token_hash = p_token_hash
     and s.expires_at > now()
     and (s.user_id is null or (u.id is not null and not u.disabled));
$$;

CREATE FUNCTION public.ops_set_job_alerts(p_job_id uuid, p_changes jsonb) RETURNS TABLE(id uuid, job jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION public.ops_signin_begin(p_address text, p_account text DEFAULT NULL::text, p_window_seconds integer DEFAULT 900, p_address_limit integer DEFAULT 10, p_account_limit integer DEFAULT 20) RETURNS TABLE(attempt_id bigint, retry_after integer, user_id uuid, role text, password_hash text, disabled boolean, operators integer)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_address text := left(coalesce(p_address, ''), 100);
  v_account text := nullif(lower(left(btrim(coalesce(p_account, '')), 100)), '');
  v_window  interval := make_interval(secs => greatest(coalesce(p_window_seconds, 900), 1));
  v_wait    integer;
  v_id      bigint;
begin
  -- Address first, then account: every sign-in takes them in this order.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('cronrelay:signin:address:' || v_address));
  if v_account is not null then
    perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('cronrelay:signin:account:' || v_account));
  end if;
  -- Old failures count for nothing; a few go with every attempt, so the
  -- table stays small without a job of its own.
  delete from public.ops_signin_failures f
   where f.id in (select o.id from public.ops_signin_failures o
                   where o.failed_at < now() - v_window order by o.failed_at limit 100);

  v_wait := public._ops_signin_wait(v_address, null, v_window, greatest(coalesce(p_address_limit, 10), 1));
  if v_account is not null then
    v_wait := greatest(v_wait,
                       public._ops_signin_wait(null, v_account, v_window, greatest(coalesce(p_account_limit, 20), 1)));
  end if;
  if v_wait > 0 then
    return query select null::bigint, v_wait, null::uuid, null::text, null::text, null::boolean, null::integer;
    return;
  end if;

  insert into public.ops_signin_failures as f (address, account) values (v_address, v_account)
  returning f.id into v_id;
  return query
    select v_id, 0, u.id, u.role, u.password_hash, u.disabled,
           (select count(*)::integer from public.ops_users o where not o.disabled)
      from (select 1) one
      left join public.ops_users u on u.name = v_account;
end
$$;

CREATE FUNCTION public.ops_signin_state() RETURNS TABLE(operators integer, admins integer)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select (select count(*)::integer from public.ops_users u where not u.disabled),
         (select count(*)::integer from public.ops_users u where not u.disabled and u.role = 'admin');
$$;

CREATE FUNCTION public.ops_signin_succeeded(p_attempt_id bigint, p_token_hash text, p_user_id uuid DEFAULT NULL::uuid, p_secret_tag text DEFAULT NULL::text, p_address text DEFAULT NULL::text, p_seconds integer DEFAULT 43200) RETURNS TABLE(expires_at timestamp with time zone, via text)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $_$
#variable_conflict use_column
declare
  v_via text := case when p_user_id is null then 'secret' else 'password' end;
  v_expires timestamptz := now() + make_interval(secs => least(greatest(coalesce(p_seconds, 43200), 1), 43200));
begin
  if coalesce(p_token_hash, '') !~ '^[0-9a-f]{64}$' then
    raise exception 'token: a session id hash is 64 hex digits' using errcode = 'PT422';
  end if;
  delete from public.ops_signin_failures f where f.id = p_attempt_id;
  delete from public.ops_sessions s
   where s.token_hash in (select o.token_hash from public.ops_sessions o where o.expires_at <= now() limit 100);
  if p_user_id is not null then
    update public.ops_users u set last_signin_at = now() where u.id = p_user_id;
  end if;
  insert into public.ops_sessions (token_hash, user_id, via, secret_tag, address, expires_at)
  values (p_token_hash, p_user_id, v_via, p_secret_tag, left(p_address, 100), v_expires);
  return query select v_expires, v_via;
end
$_$;

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
                   'enabled', 'next_run_at')
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
  if p_changes ? 'next_run_at' then v_new.next_run_at := (p_changes ->> 'next_run_at')::timestamptz; end if;
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
           timezone = v_new.timezone, enabled = v_new.enabled, next_run_at = v_new.next_run_at, updated_at = now()
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

CREATE FUNCTION public.ops_update_job_at_version(p_job_id uuid, p_changes jsonb, p_version bigint) RETURNS TABLE(id uuid, job jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
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

CREATE FUNCTION public.ops_users_add(p_name text, p_role text, p_password_hash text) RETURNS TABLE(id uuid, operator jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $_$
#variable_conflict use_column
declare
  v_id uuid;
begin
  perform public._ops_check_operator(coalesce(p_name, ''), coalesce(p_role, ''));
  if coalesce(p_password_hash, '') !~ '^scrypt\$' then
    raise exception 'password: password must be set' using errcode = 'PT422';
  end if;
  insert into public.ops_users as u (name, role, password_hash)
  values (p_name, p_role, p_password_hash)
  on conflict (name) do nothing
  returning u.id into v_id;
  if v_id is null then
    raise exception 'name: an operator named % already exists', quote_literal(p_name) using errcode = 'PT409';
  end if;
  return query select v.id, v.operator from public.ops_user_objects v where v.id = v_id;
end
$_$;

CREATE FUNCTION public.ops_users_list() RETURNS TABLE(operators jsonb, enabled integer)
    LANGUAGE sql STABLE
    SET search_path TO ''
    AS $$
  select coalesce((select jsonb_agg(v.operator order by v.name) from public.ops_user_objects v), '[]'::jsonb),
         (select count(*)::integer from public.ops_users u where not u.disabled);
$$;

CREATE FUNCTION public.ops_users_set_disabled(p_name text, p_disabled boolean) RETURNS TABLE(id uuid, operator jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_id uuid;
  v_had_admin boolean;
begin
  if p_disabled is null then
    raise exception 'disabled: disabled must be true or false' using errcode = 'PT422';
  end if;
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('cronrelay:ops_users'));
  v_id := public._ops_user_id(p_name);
  v_had_admin := exists (select 1 from public.ops_users u where u.role = 'admin' and not u.disabled);
  update public.ops_users u set disabled = p_disabled, updated_at = now()
   where u.id = v_id and u.disabled <> p_disabled;
  if p_disabled then
    -- At once: the next request of any of its browsers is a 401.
    delete from public.ops_sessions s where s.user_id = v_id;
  end if;
  if v_had_admin then
    perform public._ops_keep_an_admin();
  end if;
  return query select v.id, v.operator from public.ops_user_objects v where v.id = v_id;
end
$$;

CREATE FUNCTION public.ops_users_set_password(p_name text, p_password_hash text) RETURNS TABLE(id uuid, operator jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $_$
#variable_conflict use_column
declare
  v_id uuid;
begin
  if coalesce(p_password_hash, '') !~ '^scrypt\$' then
    raise exception 'password: password must be set' using errcode = 'PT422';
  end if;
  v_id := public._ops_user_id(p_name);
  update public.ops_users u
     set password_hash = p_password_hash, password_changed_at = now(), updated_at = now()
   where u.id = v_id;
  -- Whoever knew the old password is signed out everywhere.
  delete from public.ops_sessions s where s.user_id = v_id;
  return query select v.id, v.operator from public.ops_user_objects v where v.id = v_id;
end
$_$;

CREATE FUNCTION public.ops_users_set_role(p_name text, p_role text) RETURNS TABLE(id uuid, operator jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_id uuid;
  v_had_admin boolean;
begin
  perform public._ops_check_operator(null, coalesce(p_role, ''));
  -- Every change of roles takes this lock first, so two admins demoting
  -- each other at once cannot both pass the last-admin check.
  perform pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('cronrelay:ops_users'));
  v_id := public._ops_user_id(p_name);
  v_had_admin := exists (select 1 from public.ops_users u where u.role = 'admin' and not u.disabled);
  update public.ops_users u set role = p_role, updated_at = now() where u.id = v_id and u.role <> p_role;
  if v_had_admin then
    perform public._ops_keep_an_admin();
  end if;
  return query select v.id, v.operator from public.ops_user_objects v where v.id = v_id;
end
$$;

CREATE FUNCTION public.prune_alert_history(p_retention_days integer, p_batch_size integer) RETURNS TABLE(deleted_alerts integer, batch_size integer)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
begin
  if p_retention_days is null or p_retention_days < 1 or p_batch_size is null or p_batch_size < 1 then
    raise exception 'prune_alert_history: retention and batch size must be positive' using errcode = '22023';
  end if;
  return query
    with gone as (
      delete from public.cron_alert_events e
       where e.id in (select o.id
                        from public.cron_alert_events o
                       where o.created_at < now() - make_interval(days => p_retention_days)
                         and o.fanned_out_at is not null
                         and not exists (select 1 from public.cron_alert_deliveries d
                                          where d.event_id = o.id and d.status = 'pending')
                       order by o.created_at
                       limit p_batch_size)
      returning 1
    )
    select count(*)::integer, p_batch_size from gone;
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

CREATE FUNCTION public.queue_alert_event(p_event text, p_payload jsonb DEFAULT '{}'::jsonb, p_dedup_key text DEFAULT NULL::text) RETURNS TABLE(id bigint, alert_id uuid)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_id bigint;
begin
  if p_event is null or p_event not in ('agents.offline', 'alert.test') then
    raise exception 'queue_alert_event: event must be agents.offline or alert.test' using errcode = '22023';
  end if;
  if p_payload is null or jsonb_typeof(p_payload) <> 'object' then
    raise exception 'queue_alert_event: payload must be a JSON object' using errcode = '22023';
  end if;
  if p_dedup_key is not null then
    insert into public.cron_alert_events (event, payload, dedup_key)
    values (p_event, p_payload, p_dedup_key)
    on conflict (dedup_key) do nothing
    returning cron_alert_events.id into v_id;
    if v_id is null then
      select e.id into v_id from public.cron_alert_events e where e.dedup_key = p_dedup_key;
    end if;
  else
    v_id := public._alert_queue(p_event, null, p_payload, 0);
  end if;
  return query select e.id, e.alert_id from public.cron_alert_events e where e.id = v_id;
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

CREATE FUNCTION public.record_run_alerts(p_run_id bigint, p_alerts jsonb) RETURNS TABLE(run_id bigint, recorded boolean)
    LANGUAGE sql
    SET search_path TO ''
    AS $$
  with done as (
    update public.cron_runs r
       set stats = coalesce(r.stats, '{}'::jsonb) || jsonb_build_object('alerts', coalesce(p_alerts, '{}'::jsonb))
     where r.id = p_run_id and r.status <> 'running'
    returning r.id
  )
  select p_run_id, exists (select 1 from done);
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

CREATE FUNCTION public.settle_alert_deliveries(p_outcomes jsonb) RETURNS TABLE(id bigint, status text)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
begin
  if p_outcomes is null or jsonb_typeof(p_outcomes) <> 'array' then
    raise exception 'settle_alert_deliveries: outcomes must be a JSON array' using errcode = '22023';
  end if;
  if exists (select 1 from jsonb_to_recordset(p_outcomes) as o (outcome text)
              where o.outcome is null or o.outcome not in ('sent', 'retry', 'dead', 'release')) then
    raise exception 'settle_alert_deliveries: outcome must be sent, retry, dead or release' using errcode = '22023';
  end if;
  return query
    with o as (
      select x.id, x.claim_token, x.outcome, left(x.error, 500) as error, x.status_code,
             least(greatest(coalesce(x.retry_in_seconds, 30), 0), 86400 * 7) as retry_in_seconds
        from jsonb_to_recordset(p_outcomes)
             as x (id bigint, claim_token uuid, outcome text, error text, status_code integer,
                   retry_in_seconds double precision)
    ), locked as (
      -- In id order, as every settle takes them, so two settles never deadlock.
      select d.id from public.cron_alert_deliveries d
        join o on o.id = d.id and o.claim_token = d.claim_token
       where d.status = 'pending'
       order by d.id
         for update of d
    )
    update public.cron_alert_deliveries d
       set status = case
                      when o.outcome = 'sent' then 'sent'
                      when o.outcome = 'dead' then 'dead'
                      when o.outcome = 'retry' and d.attempts >= d.max_attempts then 'dead'
                      else 'pending'
                    end,
           attempts = case when o.outcome = 'release' then greatest(d.attempts - 1, 0) else d.attempts end,
           available_at = case
                            when o.outcome = 'retry' then now() + make_interval(secs => o.retry_in_seconds)
                            when o.outcome = 'release' then now()
                            else d.available_at
                          end,
           last_error = case
                          when o.outcome = 'sent' then null
                          when o.outcome = 'release' then d.last_error
                          else coalesce(o.error, 'failed')
                        end,
           status_code = case when o.outcome = 'release' then d.status_code else o.status_code end,
           sent_at = case when o.outcome = 'sent' then now() else d.sent_at end,
           locked_until = null,
           claim_token = null,
           updated_at = now()
      from o
     where d.id = o.id
       and d.claim_token = o.claim_token
       and d.status = 'pending'
       and d.id in (select l.id from locked l)
    returning d.id, d.status;
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

CREATE FUNCTION public.sweep_overdue_jobs(p_deadlines jsonb) RETURNS TABLE(opened integer, repeated integer)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_opened   integer;
  v_repeated integer;
begin
  if p_deadlines is null or jsonb_typeof(p_deadlines) <> 'array' then
    raise exception 'sweep_overdue_jobs: deadlines must be a JSON array' using errcode = '22023';
  end if;

  -- The job rows first, in id order, as every other writer of them takes them.
  perform 1
     from public.cron_jobs j
    where j.id in (select d.job_id from jsonb_to_recordset(p_deadlines) as d (job_id uuid)
                   union
                   select v.id from public.alert_overdue_jobs v where v.overdue_since is null
                   union
                   select s.job_id from public.cron_job_alert_state s
                     join public.cron_jobs r on r.id = s.job_id
                    where (s.failed_since is not null or s.overdue_since is not null)
                      and r.realert_after is not null
                      and s.alerted_at + r.realert_after <= now())
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
       set overdue_since = now(), updated_at = now(),
           -- A job already in a failed episode keeps its re-alert clock and count.
           alerted_at = case when s.failed_since is null then now() else s.alerted_at end,
           repeats = case when s.failed_since is null then 0 else s.repeats end
     where s.overdue_since is null
       and s.job_id in (select v.id from public.alert_overdue_jobs v)
    returning s.job_id, s.due_by, s.due_basis, s.overdue_since
  )
  select count(public._alert_queue(
           'job.overdue', o.job_id,
           public._alert_job_fields(o.job_id)
           || jsonb_build_object('schedule', j.schedule, 'schedule_type', j.schedule_type, 'timezone', j.timezone,
                                 'last_started_at', j.last_run_at, 'due_by', o.due_by,
                                 'overdue_since', o.overdue_since),
           0))::integer
    into v_opened
    from (select * from opened order by job_id) o
    join public.cron_jobs j on j.id = o.job_id;

  -- Re-alerts: one event per open episode that has been quiet for its job's
  -- realert_after, counted from its last alert, so a late tick sends one, not a burst.
  with due as (
    update public.cron_job_alert_state s
       set alerted_at = now(), repeats = s.repeats + 1, updated_at = now()
      from public.cron_jobs j
     where j.id = s.job_id
       and (s.failed_since is not null or s.overdue_since is not null)
       and j.realert_after is not null
       and s.alerted_at + j.realert_after <= now()
    returning s.job_id, s.repeats, s.failed_since, s.overdue_since, s.last_error, j.schedule, j.schedule_type,
              j.timezone, j.last_run_at
  )
  select count(public._alert_queue(
           case when d.failed_since is not null then 'job.failed' else 'job.overdue' end, d.job_id,
           public._alert_job_fields(d.job_id)
           || case when d.failed_since is not null
                   then jsonb_build_object('failing_since', d.failed_since, 'error', d.last_error)
                   else jsonb_build_object('schedule', d.schedule, 'schedule_type', d.schedule_type,
                                           'timezone', d.timezone, 'last_started_at', d.last_run_at,
                                           'overdue_since', d.overdue_since)
              end
           || jsonb_build_object('repeat', d.repeats),
           d.repeats))::integer
    into v_repeated
    from (select * from due order by job_id) d;

  return query select v_opened, v_repeated;
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

CREATE FUNCTION public.worker_claim(p_token text, p_limit integer DEFAULT 1, p_lease_seconds integer DEFAULT 60) RETURNS TABLE(id uuid, job_id uuid, job_key text, job_name text, payload jsonb, instructions text, attempt integer, max_attempts integer, requested_at timestamp with time zone, requested_by text, locked_until timestamp with time zone, claim_token uuid, recovered boolean)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_worker public.cron_workers := public._worker_for_token(p_token);
begin
  if p_limit is null or p_limit < 1 or p_limit > 50 then
    raise exception 'limit: limit must be between 1 and 50, got %', p_limit using errcode = 'PT422';
  end if;
  if p_lease_seconds is null or p_lease_seconds < 5 or p_lease_seconds > 3600 then
    raise exception 'lease_seconds: lease_seconds must be between 5 and 3600, got %', p_lease_seconds
      using errcode = 'PT422';
  end if;

  with lapsed as (
    select r.id
      from public.cron_run_requests r
     where r.status = 'running' and r.locked_until < now() and r.attempts >= r.max_attempts
       and exists (select 1 from public.cron_jobs j where j.id = r.job_id and j.worker_id = v_worker.id)
       for update skip locked
  )
  update public.cron_run_requests r
     set status = 'error', completed_at = now(), locked_until = null, claim_token = null,
         result = coalesce(r.result, '{}'::jsonb) || jsonb_build_object(
           'error', format('the worker''s lease lapsed on all %s attempts (it stopped or crashed while running it)',
                           r.attempts))
    from lapsed l
   where r.id = l.id;

  return query
    with expired as (
      select r.id, true as recovered
        from public.cron_run_requests r
       where r.status = 'running' and r.locked_until < now() and r.attempts < r.max_attempts
         and exists (select 1 from public.cron_jobs j
                      where j.id = r.job_id and j.worker_id = v_worker.id and j.enabled
                        and j.worker_removed_at is null)
       order by r.locked_until
       limit p_limit
         for update of r skip locked
    ), due as (
      select r.id, false as recovered
        from public.cron_run_requests r
       where r.status = 'queued' and r.available_at <= now()
         and exists (select 1 from public.cron_jobs j
                      where j.id = r.job_id and j.worker_id = v_worker.id and j.enabled
                        and j.worker_removed_at is null)
       order by r.available_at
       limit p_limit
         for update of r skip locked
    ), picked as (
      select * from expired
      union all
      select * from due
      limit p_limit
    ), claimed as (
      update public.cron_run_requests r
         set status = 'running',
             picked_up_at = now(),
             attempts = r.attempts + 1,
             locked_until = now() + make_interval(secs => p_lease_seconds),
             claim_token = gen_random_uuid()
        from picked p
       where r.id = p.id
      returning r.id, r.job_id, r.payload, r.attempts, r.max_attempts, r.requested_at, r.requested_by,
                r.locked_until, r.claim_token, p.recovered
    )
    select c.id, c.job_id, j.target, j.name, coalesce(c.payload, j.payload), j.instructions, c.attempts,
           c.max_attempts, c.requested_at, c.requested_by, c.locked_until, c.claim_token, c.recovered
      from claimed c
      join public.cron_jobs j on j.id = c.job_id
     order by c.requested_at, c.id;
end
$$;

CREATE FUNCTION public.worker_extend(p_token text, p_request_id uuid, p_claim_token uuid, p_lease_seconds integer DEFAULT 60) RETURNS TABLE(id uuid, locked_until timestamp with time zone)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_worker public.cron_workers := public._worker_for_token(p_token);
begin
  if p_lease_seconds is null or p_lease_seconds < 5 or p_lease_seconds > 3600 then
    raise exception 'lease_seconds: lease_seconds must be between 5 and 3600, got %', p_lease_seconds
      using errcode = 'PT422';
  end if;
  return query
    update public.cron_run_requests r
       set locked_until = now() + make_interval(secs => p_lease_seconds)
     where r.id = p_request_id
       and r.claim_token = p_claim_token
       and r.status = 'running'
       and exists (select 1 from public.cron_jobs j where j.id = r.job_id and j.worker_id = v_worker.id)
    returning r.id, r.locked_until;
end
$$;

CREATE FUNCTION public.worker_settle(p_token text, p_outcomes jsonb) RETURNS TABLE(id uuid, status text, outcome text)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $_$
#variable_conflict use_column
declare
  v_worker public.cron_workers := public._worker_for_token(p_token);
  v_mine   jsonb;
begin
  if p_outcomes is null or jsonb_typeof(p_outcomes) <> 'array' then
    raise exception 'outcomes: outcomes must be a JSON array' using errcode = 'PT422';
  end if;
  if jsonb_array_length(p_outcomes) > 50 then
    raise exception 'outcomes: at most 50 outcomes per call' using errcode = 'PT422';
  end if;
  if exists (select 1 from jsonb_array_elements(p_outcomes) e
              where jsonb_typeof(e) <> 'object'
                 or coalesce(e ->> 'outcome', '') not in ('done', 'error', 'retry')
                 or (e ->> 'id') !~* '^[0-9a-f-]{36}$' or (e ->> 'claim_token') !~* '^[0-9a-f-]{36}$'
                 or (e ? 'result' and jsonb_typeof(e -> 'result') not in ('object', 'null'))) then
    raise exception 'outcomes: every outcome must be an object with an id, a claim_token, an outcome of done, '
                    'error or retry, and an optional result object'
      using errcode = 'PT422';
  end if;

  select coalesce(jsonb_agg(jsonb_build_object(
           'id', r.id, 'claim_token', r.claim_token,
           'outcome', case when o.outcome = 'retry' and r.attempts >= r.max_attempts then 'error' else o.outcome end,
           'result', coalesce(o.result, '{}'::jsonb),
           'delay_seconds', coalesce(o.delay_seconds, least(10 * power(2, greatest(r.attempts - 1, 0)), 3600)),
           'duration_ms', case when jsonb_typeof(o.result -> 'duration_ms') = 'number'
                               then least(greatest((o.result ->> 'duration_ms')::numeric, 0), 2147483647)::integer end,
           'job_status', case o.outcome when 'done' then 'ok' else 'error' end)), '[]'::jsonb)
    into v_mine
    from jsonb_to_recordset(p_outcomes) as o (id uuid, claim_token uuid, outcome text, result jsonb,
                                              delay_seconds double precision)
    join public.cron_run_requests r on r.id = o.id and r.claim_token = o.claim_token and r.status = 'running'
   where exists (select 1 from public.cron_jobs j where j.id = r.job_id and j.worker_id = v_worker.id);

  return query select s.id, s.status, s.outcome from public.settle_run_requests(v_mine) s;
end
$_$;

CREATE FUNCTION public.worker_sync(p_token text, p_jobs jsonb, p_complete boolean DEFAULT false) RETURNS TABLE(upserted integer, removed integer, rejected jsonb)
    LANGUAGE plpgsql
    SET search_path TO ''
    AS $$
#variable_conflict use_column
declare
  v_worker   public.cron_workers := public._worker_for_token(p_token);
  v_upserted integer;
  v_removed  integer := 0;
  v_rejected jsonb;
begin
  if p_jobs is null or jsonb_typeof(p_jobs) <> 'array' then
    raise exception 'jobs: jobs must be a JSON array' using errcode = 'PT422';
  end if;
  if jsonb_array_length(p_jobs) > 1000 then
    raise exception 'jobs: at most 1000 jobs per sync, got %', jsonb_array_length(p_jobs) using errcode = 'PT422';
  end if;
  if exists (select 1 from jsonb_array_elements(p_jobs) e
              where jsonb_typeof(e) <> 'object' or jsonb_typeof(e -> 'job_id') is distinct from 'string'
                 or btrim(e ->> 'job_id') = '' or length(e ->> 'job_id') > 200) then
    raise exception 'jobs: every job must be an object with a job_id (1 to 200 characters)' using errcode = 'PT422';
  end if;
  if (select count(distinct e ->> 'job_id') from jsonb_array_elements(p_jobs) e) <> jsonb_array_length(p_jobs) then
    raise exception 'jobs: a job_id appears more than once' using errcode = 'PT422';
  end if;

  create temporary table if not exists _worker_sync_jobs (
    job_id text, name text, schedule_kind text, schedule_expr text, tz text, enabled boolean,
    next_run_at timestamptz, last_run_at timestamptz, last_status text, last_duration_ms integer,
    instructions text, reason text
  ) on commit drop;
  truncate _worker_sync_jobs;
  insert into _worker_sync_jobs
  select x.job_id, left(coalesce(nullif(btrim(x.name), ''), x.job_id), 200), left(x.schedule_kind, 50),
         left(x.schedule_expr, 500), left(x.tz, 100), x.enabled, x.next_run_at, x.last_run_at,
         left(x.last_status, 50), x.last_duration_ms, left(x.instructions, 10000), null
    from jsonb_to_recordset(p_jobs) as x (job_id text, name text, schedule_kind text, schedule_expr text, tz text,
                                          enabled boolean, next_run_at timestamptz, last_run_at timestamptz,
                                          last_status text, last_duration_ms integer, instructions text);

  -- A name is unique in its project: one that another job already has, or
  -- that two of these jobs share, is refused for that job alone.
  update _worker_sync_jobs i
     set reason = 'name is taken by another job of the project'
   where exists (select 1 from public.cron_jobs j
                  where j.project_id = v_worker.project_id and j.name = i.name
                    and (j.worker_id is distinct from v_worker.id or j.target <> i.job_id))
      or (select count(*) from _worker_sync_jobs o where o.name = i.name) > 1;

  with written as (
    insert into public.cron_jobs as j (project_id, name, kind, target, worker_id, source, schedule_type,
                                       instructions, mirror_schedule_kind, mirror_schedule, mirror_timezone,
                                       mirror_enabled, mirror_next_run_at, last_run_at, last_status,
                                       last_duration_ms, mirrored_at)
    select v_worker.project_id, i.name, 'worker', i.job_id, v_worker.id, 'agent', 'manual', i.instructions,
           i.schedule_kind, i.schedule_expr, i.tz, i.enabled, i.next_run_at, i.last_run_at, i.last_status,
           i.last_duration_ms, now()
      from _worker_sync_jobs i
     where i.reason is null
    on conflict (worker_id, target) where worker_id is not null do update
       set name = excluded.name,
           instructions = excluded.instructions,
           mirror_schedule_kind = excluded.mirror_schedule_kind,
           mirror_schedule = excluded.mirror_schedule,
           mirror_timezone = excluded.mirror_timezone,
           mirror_enabled = excluded.mirror_enabled,
           mirror_next_run_at = excluded.mirror_next_run_at,
           -- The newer of the worker's own last run and the last request settled here.
           last_run_at = greatest(j.last_run_at, excluded.last_run_at),
           last_status = case when excluded.last_run_at >= coalesce(j.last_run_at, '-infinity'::timestamptz)
                              then excluded.last_status else j.last_status end,
           last_duration_ms = case when excluded.last_run_at >= coalesce(j.last_run_at, '-infinity'::timestamptz)
                                   then excluded.last_duration_ms else j.last_duration_ms end,
           mirrored_at = now(),
           worker_removed_at = null,
           updated_at = now()
    returning 1
  )
  select count(*) into v_upserted from written;

  if p_complete then
    with gone as (
      update public.cron_jobs j
         set worker_removed_at = now(), updated_at = now()
       where j.worker_id = v_worker.id
         and j.worker_removed_at is null
         and not exists (select 1 from _worker_sync_jobs i where i.job_id = j.target)
      returning j.id
    ), ended as (
      update public.cron_run_requests r
         set status = 'error', completed_at = now(), locked_until = null, claim_token = null,
             result = jsonb_build_object('error', 'removed by the worker')
       where r.job_id in (select g.id from gone g) and r.status = 'queued'
      returning 1
    )
    select count(*) into v_removed from gone;
  end if;

  select coalesce(jsonb_agg(jsonb_build_object('job_id', i.job_id, 'name', i.name, 'reason', i.reason)), '[]'::jsonb)
    into v_rejected
    from (select * from _worker_sync_jobs i where i.reason is not null order by i.job_id limit 100) i;
  return query select v_upserted, v_removed, v_rejected;
end
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
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    failures integer DEFAULT 0 NOT NULL,
    last_error text,
    alerted_at timestamp with time zone,
    repeats integer DEFAULT 0 NOT NULL
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
  WHERE (j.enabled AND ((j.schedule_type = ANY (ARRAY['vercel'::text, 'cron'::text, 'interval'::text])) OR ((j.kind = 'worker'::text) AND (j.schedule_type = 'manual'::text) AND (j.worker_removed_at IS NULL) AND COALESCE(j.mirror_enabled, true))) AND (j.schedule_error IS NULL) AND (s.due_by < now()) AND ((GREATEST(j.last_run_at, j.created_at, s.watch_from) + (s.due_by - s.due_basis)) < now()));

CREATE TABLE public.cron_alert_deliveries (
    id bigint NOT NULL,
    event_id bigint NOT NULL,
    channel text NOT NULL,
    status text DEFAULT 'pending'::text NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    max_attempts integer DEFAULT 10 NOT NULL,
    available_at timestamp with time zone DEFAULT now() NOT NULL,
    locked_until timestamp with time zone,
    claim_token uuid,
    last_error text,
    status_code integer,
    sent_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT cron_alert_deliveries_channel_check CHECK ((channel = ANY (ARRAY['webhook'::text, 'slack'::text, 'discord'::text, 'telegram'::text]))),
    CONSTRAINT cron_alert_deliveries_max_attempts_check CHECK ((max_attempts >= 1)),
    CONSTRAINT cron_alert_deliveries_status_check CHECK ((status = ANY (ARRAY['pending'::text, 'sent'::text, 'dead'::text])))
);

COMMENT ON TABLE public.cron_alert_deliveries IS 'One delivery per (alert event, channel): pending, sent or dead, claimed with a lease and a claim token.';

ALTER TABLE public.cron_alert_deliveries ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.cron_alert_deliveries_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.cron_alert_events (
    id bigint NOT NULL,
    alert_id uuid DEFAULT gen_random_uuid() NOT NULL,
    event text NOT NULL,
    job_id uuid,
    repeat integer DEFAULT 0 NOT NULL,
    muted boolean DEFAULT false NOT NULL,
    payload jsonb DEFAULT '{}'::jsonb NOT NULL,
    fanned_out_at timestamp with time zone,
    dedup_key text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT cron_alert_events_event_check CHECK ((event = ANY (ARRAY['agents.offline'::text, 'job.failed'::text, 'job.overdue'::text, 'job.recovered'::text, 'alert.test'::text])))
);

COMMENT ON TABLE public.cron_alert_events IS 'Alert events (agents.offline, job.failed, job.overdue, job.recovered, alert.test); each has one delivery per channel.';

ALTER TABLE public.cron_alert_events ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.cron_alert_events_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.cron_kicks (
    id smallint DEFAULT 1 NOT NULL,
    last_kicked_at timestamp with time zone DEFAULT '-infinity'::timestamp with time zone NOT NULL,
    CONSTRAINT cron_kicks_id_check CHECK ((id = 1))
);

COMMENT ON TABLE public.cron_kicks IS 'The Supabase kick''s throttle: when an insert into cron_run_requests last called /api/cron/run-requests.';

CREATE TABLE public.cron_locks (
    job text NOT NULL,
    holder text NOT NULL,
    locked_until timestamp with time zone NOT NULL
);

CREATE TABLE public.cron_request_attempts (
    id bigint NOT NULL,
    request_id uuid NOT NULL,
    attempt integer NOT NULL,
    started_at timestamp with time zone,
    finished_at timestamp with time zone DEFAULT now() NOT NULL,
    duration_ms integer,
    outcome text NOT NULL,
    status_code integer,
    error text,
    body text
);

COMMENT ON TABLE public.cron_request_attempts IS 'Every attempt of a run request (the request keeps only its last result).';

ALTER TABLE public.cron_request_attempts ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.cron_request_attempts_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
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
    held_reason text,
    CONSTRAINT cron_run_requests_status_check CHECK ((status = ANY (ARRAY['queued'::text, 'running'::text, 'done'::text, 'error'::text])))
);

COMMENT ON COLUMN public.cron_run_requests.retry_of IS 'The failed (status error) request this one retries, when it was queued by a retry; null otherwise.';

COMMENT ON COLUMN public.cron_run_requests.held_reason IS 'Why this queued request is held for the deployment (a missing setting, named); null when it can run. Cleared when a drain that has the setting claims it.';

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

CREATE TABLE public.ops_audit (
    id bigint NOT NULL,
    at timestamp with time zone DEFAULT now() NOT NULL,
    actor text DEFAULT ''::text NOT NULL,
    action text DEFAULT ''::text NOT NULL,
    object_type text,
    object_id text,
    object_name text,
    before jsonb,
    after jsonb,
    detail jsonb,
    call_key uuid
);

ALTER TABLE public.ops_audit ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.ops_audit_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE VIEW public.ops_job_objects WITH (security_invoker='true') AS
 SELECT id,
    project_id,
    name,
    (job_json)::jsonb AS job,
    job_json
   FROM ( SELECT j.id,
            j.project_id,
            j.name,
            json_build_object('id', j.id, 'project_id', j.project_id, 'name', j.name, 'kind', j.kind, 'target', j.target, 'payload',
                CASE
                    WHEN (pg_column_size(j.payload) > 65536) THEN to_jsonb('<not shown: larger than 64 KB stored>'::text)
                    WHEN jsonb_path_exists(j.payload, 'strict $.**{64}'::jsonpath) THEN to_jsonb('<not shown: nested deeper than 64 levels>'::text)
                    ELSE j.payload
                END, 'schedule_type', j.schedule_type, 'schedule', j.schedule, 'timezone', j.timezone, 'enabled', j.enabled, 'source', j.source, 'editable', (j.schedule_type <> 'vercel'::text), 'version', j.version, 'next_run_at', (j.next_run_at AT TIME ZONE 'UTC'::text), 'last_run_at', (j.last_run_at AT TIME ZONE 'UTC'::text), 'last_status', j.last_status, 'last_duration_ms', j.last_duration_ms, 'schedule_error', j.schedule_error, 'fired_at', (j.fired_at AT TIME ZONE 'UTC'::text), 'resumed_at', (j.resumed_at AT TIME ZONE 'UTC'::text), 'created_at', (j.created_at AT TIME ZONE 'UTC'::text), 'updated_at', (j.updated_at AT TIME ZONE 'UTC'::text), 'worker',
                CASE
                    WHEN (j.kind = 'worker'::text) THEN json_build_object('id', w.id, 'name', w.name, 'last_seen_at', (w.last_seen_at AT TIME ZONE 'UTC'::text), 'online', ((w.disabled_at IS NULL) AND (w.last_seen_at > (now() - '00:02:00'::interval))), 'revoked', (w.disabled_at IS NOT NULL), 'schedule_kind', j.mirror_schedule_kind, 'schedule', j.mirror_schedule, 'timezone', j.mirror_timezone, 'enabled', j.mirror_enabled, 'next_run_at', (j.mirror_next_run_at AT TIME ZONE 'UTC'::text), 'instructions', j.instructions, 'mirrored_at', (j.mirrored_at AT TIME ZONE 'UTC'::text), 'removed_at', (j.worker_removed_at AT TIME ZONE 'UTC'::text))
                    ELSE NULL::json
                END, 'alert_after_failures', j.alert_after_failures, 'alerts_enabled', j.alerts_enabled, 'realert_after', (EXTRACT(epoch FROM j.realert_after))::bigint, 'overdue_grace', (EXTRACT(epoch FROM j.overdue_grace))::bigint) AS job_json
           FROM (public.cron_jobs j
             LEFT JOIN public.cron_workers w ON ((w.id = j.worker_id)))) o;

CREATE VIEW public.ops_request_objects WITH (security_invoker='true') AS
 SELECT r.id,
    r.job_id,
    jsonb_build_object('id', r.id, 'job_id', r.job_id, 'job_name', j.name, 'project_id', r.project_id, 'status', r.status, 'held', ((r.status = 'queued'::text) AND ((NOT j.enabled) OR (r.held_reason IS NOT NULL))), 'held_reason',
        CASE
            WHEN (r.status = 'queued'::text) THEN r.held_reason
            ELSE NULL::text
        END, 'requested_by', r.requested_by, 'requested_at', (r.requested_at AT TIME ZONE 'UTC'::text), 'picked_up_at', (r.picked_up_at AT TIME ZONE 'UTC'::text), 'completed_at', (r.completed_at AT TIME ZONE 'UTC'::text), 'attempts', r.attempts, 'max_attempts', r.max_attempts, 'available_at', (r.available_at AT TIME ZONE 'UTC'::text), 'result',
        CASE
            WHEN (pg_column_size(r.result) > 65536) THEN to_jsonb('<not shown: larger than 64 KB stored>'::text)
            WHEN jsonb_path_exists(r.result, 'strict $.**{64}'::jsonpath) THEN to_jsonb('<not shown: nested deeper than 64 levels>'::text)
            ELSE r.result
        END, 'payload',
        CASE
            WHEN (pg_column_size(r.payload) > 65536) THEN to_jsonb('<not shown: larger than 64 KB stored>'::text)
            WHEN jsonb_path_exists(r.payload, 'strict $.**{64}'::jsonpath) THEN to_jsonb('<not shown: nested deeper than 64 levels>'::text)
            ELSE r.payload
        END, 'retry_of', r.retry_of, 'retried_by', ( SELECT x.id
           FROM public.cron_run_requests x
          WHERE (x.retry_of = r.id)
          ORDER BY x.requested_at
         LIMIT 1)) AS request
   FROM (public.cron_run_requests r
     JOIN public.cron_jobs j ON ((j.id = r.job_id)));

CREATE VIEW public.ops_run_objects WITH (security_invoker='true') AS
 SELECT id,
    jsonb_build_object('id', id, 'job', job, 'trigger', trigger, 'status', status, 'started_at', (started_at AT TIME ZONE 'UTC'::text), 'finished_at', (finished_at AT TIME ZONE 'UTC'::text), 'duration_ms', duration_ms, 'stats',
        CASE
            WHEN (pg_column_size(stats) > 65536) THEN to_jsonb('<not shown: larger than 64 KB stored>'::text)
            WHEN jsonb_path_exists(stats, 'strict $.**{64}'::jsonpath) THEN to_jsonb('<not shown: nested deeper than 64 levels>'::text)
            ELSE stats
        END, 'error', error, 'request_id', request_id, 'dry_run', dry_run, 'has_more', has_more) AS run
   FROM public.cron_runs r;

CREATE TABLE public.ops_sessions (
    token_hash text NOT NULL,
    user_id uuid,
    via text DEFAULT 'password'::text NOT NULL,
    secret_tag text,
    address text,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone DEFAULT (now() + '12:00:00'::interval) NOT NULL,
    CONSTRAINT ops_sessions_at_most_12_hours CHECK ((expires_at <= (created_at + '12:00:00'::interval))),
    CONSTRAINT ops_sessions_user_or_secret CHECK (((via = 'password'::text) = (user_id IS NOT NULL))),
    CONSTRAINT ops_sessions_via_check CHECK ((via = ANY (ARRAY['password'::text, 'secret'::text])))
);

CREATE TABLE public.ops_signin_failures (
    id bigint NOT NULL,
    address text DEFAULT ''::text NOT NULL,
    account text,
    failed_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE public.ops_signin_failures ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (
    SEQUENCE NAME public.ops_signin_failures_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);

CREATE TABLE public.ops_users (
    id uuid DEFAULT gen_random_uuid() NOT NULL,
    name text NOT NULL,
    role text DEFAULT 'viewer'::text NOT NULL,
    password_hash text DEFAULT ''::text NOT NULL,
    disabled boolean DEFAULT false NOT NULL,
    password_changed_at timestamp with time zone DEFAULT now() NOT NULL,
    last_signin_at timestamp with time zone,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    updated_at timestamp with time zone DEFAULT now() NOT NULL,
    CONSTRAINT ops_users_name_check CHECK ((name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'::text)),
    CONSTRAINT ops_users_role_check CHECK ((role = ANY (ARRAY['viewer'::text, 'operator'::text, 'admin'::text])))
);

COMMENT ON TABLE public.ops_users IS 'Console operators: name, role (viewer | operator | admin), scrypt password hash, disabled.';

CREATE VIEW public.ops_user_objects WITH (security_invoker='true') AS
 SELECT id,
    name,
    jsonb_build_object('name', name, 'role', role, 'disabled', disabled, 'has_password', (password_hash <> ''::text), 'password_changed_at', (password_changed_at AT TIME ZONE 'UTC'::text), 'last_signin_at', (last_signin_at AT TIME ZONE 'UTC'::text), 'created_at', (created_at AT TIME ZONE 'UTC'::text), 'updated_at', (updated_at AT TIME ZONE 'UTC'::text), 'sessions', ( SELECT count(*) AS count
           FROM public.ops_sessions s
          WHERE ((s.user_id = u.id) AND (s.expires_at > now())))) AS operator
   FROM public.ops_users u;

CREATE VIEW public.ops_worker_objects WITH (security_invoker='true') AS
 SELECT id,
    project_id,
    name,
    jsonb_build_object('id', id, 'project_id', project_id, 'name', name, 'agent_id', agent_id, 'last_seen_at', (last_seen_at AT TIME ZONE 'UTC'::text), 'disabled_at', (disabled_at AT TIME ZONE 'UTC'::text), 'created_at', (created_at AT TIME ZONE 'UTC'::text), 'online', ((disabled_at IS NULL) AND (last_seen_at > (now() - '00:02:00'::interval))), 'jobs', ( SELECT count(*) AS count
           FROM public.cron_jobs j
          WHERE ((j.worker_id = w.id) AND (j.worker_removed_at IS NULL)))) AS worker
   FROM public.cron_workers w;

CREATE VIEW public.run_requests_ready WITH (security_invoker='true') AS
 SELECT id,
    available_at
   FROM public.cron_run_requests r
  WHERE ((status = 'queued'::text) AND (available_at <= now()) AND (EXISTS ( SELECT 1
           FROM public.cron_jobs j
          WHERE ((j.id = r.job_id) AND j.enabled AND (j.kind <> 'worker'::text)))));

CREATE VIEW public.run_requests_to_recover WITH (security_invoker='true') AS
 SELECT id,
    locked_until,
    (attempts >= max_attempts) AS exhausted
   FROM public.cron_run_requests r
  WHERE ((status = 'running'::text) AND (locked_until < now()) AND (EXISTS ( SELECT 1
           FROM public.cron_jobs j
          WHERE ((j.id = r.job_id) AND j.enabled AND (j.kind <> 'worker'::text)))));

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

ALTER TABLE ONLY public.cron_alert_deliveries
    ADD CONSTRAINT cron_alert_deliveries_event_id_channel_key UNIQUE (event_id, channel);

ALTER TABLE ONLY public.cron_alert_deliveries
    ADD CONSTRAINT cron_alert_deliveries_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cron_alert_events
    ADD CONSTRAINT cron_alert_events_alert_id_key UNIQUE (alert_id);

ALTER TABLE ONLY public.cron_alert_events
    ADD CONSTRAINT cron_alert_events_dedup_key_key UNIQUE (dedup_key);

ALTER TABLE ONLY public.cron_alert_events
    ADD CONSTRAINT cron_alert_events_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cron_job_alert_state
    ADD CONSTRAINT cron_job_alert_state_pkey PRIMARY KEY (job_id);

ALTER TABLE ONLY public.cron_jobs
    ADD CONSTRAINT cron_jobs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cron_jobs
    ADD CONSTRAINT cron_jobs_project_id_name_key UNIQUE (project_id, name);

ALTER TABLE ONLY public.cron_kicks
    ADD CONSTRAINT cron_kicks_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cron_locks
    ADD CONSTRAINT cron_locks_pkey PRIMARY KEY (job);

ALTER TABLE ONLY public.cron_request_attempts
    ADD CONSTRAINT cron_request_attempts_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cron_run_requests
    ADD CONSTRAINT cron_run_requests_dedup_key_key UNIQUE (dedup_key);

ALTER TABLE ONLY public.cron_run_requests
    ADD CONSTRAINT cron_run_requests_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cron_runs
    ADD CONSTRAINT cron_runs_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cron_workers
    ADD CONSTRAINT cron_workers_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.cron_workers
    ADD CONSTRAINT cron_workers_project_id_name_key UNIQUE (project_id, name);

ALTER TABLE ONLY public.cron_workers
    ADD CONSTRAINT cron_workers_token_hash_key UNIQUE (token_hash);

ALTER TABLE ONLY public.heartbeats
    ADD CONSTRAINT heartbeats_pkey PRIMARY KEY (id, created_at);

ALTER TABLE ONLY public.heartbeats_default
    ADD CONSTRAINT heartbeats_default_pkey PRIMARY KEY (id, created_at);

ALTER TABLE ONLY public.ops_audit
    ADD CONSTRAINT ops_audit_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.ops_sessions
    ADD CONSTRAINT ops_sessions_pkey PRIMARY KEY (token_hash);

ALTER TABLE ONLY public.ops_signin_failures
    ADD CONSTRAINT ops_signin_failures_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.ops_users
    ADD CONSTRAINT ops_users_name_key UNIQUE (name);

ALTER TABLE ONLY public.ops_users
    ADD CONSTRAINT ops_users_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.scheduled_reminders
    ADD CONSTRAINT scheduled_reminders_pkey PRIMARY KEY (id);

ALTER TABLE ONLY public.schema_migrations
    ADD CONSTRAINT schema_migrations_pkey PRIMARY KEY (version);

ALTER TABLE ONLY public.schema_repeatables
    ADD CONSTRAINT schema_repeatables_pkey PRIMARY KEY (name);

CREATE INDEX agents_online_last_seen_idx ON public.agents USING btree (COALESCE(last_heartbeat_at, created_at)) WHERE (status = 'online'::text);

CREATE INDEX cron_alert_deliveries_dead_idx ON public.cron_alert_deliveries USING btree (updated_at) WHERE (status = 'dead'::text);

CREATE INDEX cron_alert_deliveries_due_idx ON public.cron_alert_deliveries USING btree (available_at, id) WHERE (status = 'pending'::text);

CREATE INDEX cron_alert_events_created_idx ON public.cron_alert_events USING btree (created_at);

CREATE INDEX cron_alert_events_unrouted_idx ON public.cron_alert_events USING btree (id) WHERE (fanned_out_at IS NULL);

CREATE INDEX cron_jobs_due_idx ON public.cron_jobs USING btree (next_run_at) WHERE (enabled AND (schedule_type = ANY (ARRAY['cron'::text, 'interval'::text, 'once'::text])));

CREATE UNIQUE INDEX cron_jobs_worker_target_idx ON public.cron_jobs USING btree (worker_id, target) WHERE (worker_id IS NOT NULL);

CREATE INDEX cron_request_attempts_request_idx ON public.cron_request_attempts USING btree (request_id, attempt);

CREATE INDEX cron_run_requests_finished_idx ON public.cron_run_requests USING btree (completed_at) WHERE (status = ANY (ARRAY['done'::text, 'error'::text]));

CREATE INDEX cron_run_requests_job_requested_idx ON public.cron_run_requests USING btree (job_id, requested_at DESC);

CREATE INDEX cron_run_requests_queued_idx ON public.cron_run_requests USING btree (available_at) WHERE (status = 'queued'::text);

CREATE INDEX cron_run_requests_queued_job_idx ON public.cron_run_requests USING btree (job_id, available_at) WHERE (status = 'queued'::text);

CREATE INDEX cron_run_requests_requested_idx ON public.cron_run_requests USING btree (requested_at DESC);

CREATE INDEX cron_run_requests_retry_of_idx ON public.cron_run_requests USING btree (retry_of) WHERE (retry_of IS NOT NULL);

CREATE INDEX cron_run_requests_running_idx ON public.cron_run_requests USING btree (locked_until) WHERE (status = 'running'::text);

CREATE INDEX cron_run_requests_unfinished_schedule_idx ON public.cron_run_requests USING btree (job_id) WHERE ((requested_by = 'schedule'::text) AND (status = ANY (ARRAY['queued'::text, 'running'::text])));

CREATE INDEX cron_runs_job_started_idx ON public.cron_runs USING btree (job, started_at DESC);

CREATE UNIQUE INDEX cron_runs_run_key_idx ON public.cron_runs USING btree (run_key) WHERE (run_key IS NOT NULL);

CREATE INDEX cron_runs_running_idx ON public.cron_runs USING btree (lease_until) WHERE (status = 'running'::text);

CREATE INDEX cron_runs_started_idx ON public.cron_runs USING btree (started_at DESC);

CREATE INDEX heartbeats_agent_id_idx ON ONLY public.heartbeats USING btree (agent_id, created_at DESC);

CREATE INDEX heartbeats_created_at_idx ON ONLY public.heartbeats USING btree (created_at);

CREATE INDEX heartbeats_default_agent_id_created_at_idx ON public.heartbeats_default USING btree (agent_id, created_at DESC);

CREATE INDEX heartbeats_default_created_at_idx ON public.heartbeats_default USING btree (created_at);

CREATE INDEX ops_audit_at_idx ON public.ops_audit USING btree (at DESC, id DESC);

CREATE INDEX ops_audit_call_key_idx ON public.ops_audit USING btree (call_key) WHERE (call_key IS NOT NULL);

CREATE INDEX ops_sessions_expires_idx ON public.ops_sessions USING btree (expires_at);

CREATE INDEX ops_sessions_user_idx ON public.ops_sessions USING btree (user_id);

CREATE INDEX ops_signin_failures_account_idx ON public.ops_signin_failures USING btree (account, failed_at) WHERE (account IS NOT NULL);

CREATE INDEX ops_signin_failures_address_idx ON public.ops_signin_failures USING btree (address, failed_at);

CREATE INDEX ops_signin_failures_at_idx ON public.ops_signin_failures USING btree (failed_at);

CREATE INDEX scheduled_reminders_due_id_idx ON public.scheduled_reminders USING btree (due_at, id) WHERE (status = ANY (ARRAY['pending'::text, 'sent'::text]));

CREATE INDEX scheduled_reminders_lead_idx ON public.scheduled_reminders USING btree (lead_id);

ALTER INDEX public.heartbeats_agent_id_idx ATTACH PARTITION public.heartbeats_default_agent_id_created_at_idx;

ALTER INDEX public.heartbeats_created_at_idx ATTACH PARTITION public.heartbeats_default_created_at_idx;

ALTER INDEX public.heartbeats_pkey ATTACH PARTITION public.heartbeats_default_pkey;

CREATE TRIGGER cron_jobs_alert_watch AFTER UPDATE OF enabled, schedule, schedule_type, timezone, overdue_grace ON public.cron_jobs FOR EACH ROW WHEN (((new.enabled AND (NOT old.enabled)) OR ((((new.schedule IS DISTINCT FROM old.schedule) OR (new.schedule_type IS DISTINCT FROM old.schedule_type)) OR (new.timezone IS DISTINCT FROM old.timezone)) OR (new.overdue_grace IS DISTINCT FROM old.overdue_grace)))) EXECUTE FUNCTION public.cron_jobs_alert_watch();

CREATE TRIGGER cron_jobs_schedule_changed BEFORE UPDATE OF schedule, schedule_type, timezone, enabled ON public.cron_jobs FOR EACH ROW EXECUTE FUNCTION public.cron_jobs_schedule_changed();

CREATE TRIGGER cron_jobs_version BEFORE UPDATE ON public.cron_jobs FOR EACH ROW WHEN ((((((((((new.project_id IS DISTINCT FROM old.project_id) OR (new.name IS DISTINCT FROM old.name)) OR (new.kind IS DISTINCT FROM old.kind)) OR (new.target IS DISTINCT FROM old.target)) OR (new.payload IS DISTINCT FROM old.payload)) OR (new.schedule_type IS DISTINCT FROM old.schedule_type)) OR (new.schedule IS DISTINCT FROM old.schedule)) OR (new.timezone IS DISTINCT FROM old.timezone)) OR (new.enabled IS DISTINCT FROM old.enabled))) EXECUTE FUNCTION public.cron_jobs_version();

CREATE TRIGGER cron_run_requests_alert AFTER UPDATE OF status ON public.cron_run_requests FOR EACH ROW WHEN (((old.status = 'running'::text) AND (new.status = ANY (ARRAY['done'::text, 'error'::text])))) EXECUTE FUNCTION public.cron_run_requests_alert();

CREATE TRIGGER cron_run_requests_attempt AFTER UPDATE OF status, attempts ON public.cron_run_requests FOR EACH ROW WHEN (((old.status = 'running'::text) AND ((new.status = ANY (ARRAY['done'::text, 'error'::text])) OR ((new.status = 'queued'::text) AND (new.attempts >= old.attempts)) OR ((new.status = 'running'::text) AND (new.attempts > old.attempts))))) EXECUTE FUNCTION public.cron_run_requests_attempt();

CREATE TRIGGER cron_runs_alert AFTER UPDATE OF status ON public.cron_runs FOR EACH ROW WHEN (((new.status = ANY (ARRAY['ok'::text, 'partial'::text, 'error'::text])) AND (NOT new.dry_run) AND ((old.status = 'running'::text) OR ((old.status = 'error'::text) AND (new.status <> 'error'::text))))) EXECUTE FUNCTION public.cron_runs_alert();

CREATE TRIGGER ops_audit_jobs AFTER INSERT OR DELETE OR UPDATE ON public.cron_jobs FOR EACH ROW WHEN ((COALESCE(current_setting('cronrelay.actor'::text, true), ''::text) <> ''::text)) EXECUTE FUNCTION public._ops_audit_row('job');

CREATE TRIGGER ops_audit_operators AFTER INSERT OR DELETE OR UPDATE ON public.ops_users FOR EACH ROW WHEN ((COALESCE(current_setting('cronrelay.actor'::text, true), ''::text) <> ''::text)) EXECUTE FUNCTION public._ops_audit_row('operator', 'password_hash', 'last_signin_at');

CREATE TRIGGER ops_audit_requests AFTER INSERT OR UPDATE ON public.cron_run_requests FOR EACH ROW WHEN ((COALESCE(current_setting('cronrelay.actor'::text, true), ''::text) <> ''::text)) EXECUTE FUNCTION public._ops_audit_row('request');

ALTER TABLE ONLY public.cron_alert_deliveries
    ADD CONSTRAINT cron_alert_deliveries_event_id_fkey FOREIGN KEY (event_id) REFERENCES public.cron_alert_events(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.cron_job_alert_state
    ADD CONSTRAINT cron_job_alert_state_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.cron_jobs(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.cron_jobs
    ADD CONSTRAINT cron_jobs_worker_id_fkey FOREIGN KEY (worker_id) REFERENCES public.cron_workers(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.cron_request_attempts
    ADD CONSTRAINT cron_request_attempts_request_id_fkey FOREIGN KEY (request_id) REFERENCES public.cron_run_requests(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.cron_run_requests
    ADD CONSTRAINT cron_run_requests_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.cron_jobs(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.cron_run_requests
    ADD CONSTRAINT cron_run_requests_retry_of_fkey FOREIGN KEY (retry_of) REFERENCES public.cron_run_requests(id) ON DELETE SET NULL;

ALTER TABLE public.heartbeats
    ADD CONSTRAINT heartbeats_agent_id_fkey FOREIGN KEY (agent_id) REFERENCES public.agents(id) ON DELETE CASCADE;

ALTER TABLE ONLY public.ops_sessions
    ADD CONSTRAINT ops_sessions_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.ops_users(id) ON DELETE CASCADE;

ALTER TABLE public.agents ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_alert_deliveries ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_alert_events ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_job_alert_state ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_jobs ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_kicks ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_locks ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_request_attempts ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_run_requests ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_runs ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.cron_workers ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.heartbeats ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.heartbeats_default ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.ops_audit ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.ops_sessions ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.ops_signin_failures ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.ops_users ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.scheduled_reminders ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.schema_migrations ENABLE ROW LEVEL SECURITY;

ALTER TABLE public.schema_repeatables ENABLE ROW LEVEL SECURITY;

CREATE POLICY service_role_all ON public.agents TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_alert_deliveries TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_alert_events TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_job_alert_state TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_jobs TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_kicks TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_locks TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_request_attempts TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_run_requests TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_runs TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.cron_workers TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.heartbeats TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.heartbeats_default TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.ops_audit TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.ops_sessions TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.ops_signin_failures TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.ops_users TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.scheduled_reminders TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.schema_migrations TO service_role USING (true) WITH CHECK (true);

CREATE POLICY service_role_all ON public.schema_repeatables TO service_role USING (true) WITH CHECK (true);

GRANT USAGE ON SCHEMA public TO service_role;

REVOKE ALL ON FUNCTION public._alert_failed(p_job_id uuid, p_details jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public._alert_failed(p_job_id uuid, p_details jsonb) TO service_role;

REVOKE ALL ON FUNCTION public._alert_job_fields(p_job_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public._alert_job_fields(p_job_id uuid) TO service_role;

REVOKE ALL ON FUNCTION public._alert_queue(p_event text, p_job_id uuid, p_payload jsonb, p_repeat integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public._alert_queue(p_event text, p_job_id uuid, p_payload jsonb, p_repeat integer) TO service_role;

REVOKE ALL ON FUNCTION public._alert_recovered(p_job_id uuid, p_details jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public._alert_recovered(p_job_id uuid, p_details jsonb) TO service_role;

REVOKE ALL ON FUNCTION public._heartbeat_partition_ranges() FROM PUBLIC;
GRANT ALL ON FUNCTION public._heartbeat_partition_ranges() TO service_role;

REVOKE ALL ON FUNCTION public._heartbeats_expire_before(p_retention_days integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public._heartbeats_expire_before(p_retention_days integer) TO service_role;

REVOKE ALL ON FUNCTION public._history_expires_before(p_retention_days integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public._history_expires_before(p_retention_days integer) TO service_role;

REVOKE ALL ON FUNCTION public._ops_audit_row() FROM PUBLIC;
GRANT ALL ON FUNCTION public._ops_audit_row() TO service_role;

REVOKE ALL ON FUNCTION public._ops_check_definition(p_project_id text, p_name text, p_kind text, p_target text, p_payload jsonb, p_schedule_type text) FROM PUBLIC;
GRANT ALL ON FUNCTION public._ops_check_definition(p_project_id text, p_name text, p_kind text, p_target text, p_payload jsonb, p_schedule_type text) TO service_role;

REVOKE ALL ON FUNCTION public._ops_check_operator(p_name text, p_role text) FROM PUBLIC;
GRANT ALL ON FUNCTION public._ops_check_operator(p_name text, p_role text) TO service_role;

REVOKE ALL ON FUNCTION public._ops_keep_an_admin() FROM PUBLIC;
GRANT ALL ON FUNCTION public._ops_keep_an_admin() TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_jobs TO service_role;

REVOKE ALL ON FUNCTION public._ops_queue_request(p_job public.cron_jobs, p_requested_by text, p_payload jsonb, p_dedup_key text, p_retry_of uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public._ops_queue_request(p_job public.cron_jobs, p_requested_by text, p_payload jsonb, p_dedup_key text, p_retry_of uuid) TO service_role;

REVOKE ALL ON FUNCTION public._ops_signin_wait(p_address text, p_account text, p_window interval, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public._ops_signin_wait(p_address text, p_account text, p_window interval, p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public._ops_user_id(p_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION public._ops_user_id(p_name text) TO service_role;

REVOKE ALL ON FUNCTION public._queue_run_request(p_job public.cron_jobs, p_requested_by text, p_payload jsonb, p_dedup_key text, p_retry_of uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public._queue_run_request(p_job public.cron_jobs, p_requested_by text, p_payload jsonb, p_dedup_key text, p_retry_of uuid) TO service_role;

REVOKE ALL ON FUNCTION public._replay_begin_run(p_run_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public._replay_begin_run(p_run_key text) TO service_role;

REVOKE ALL ON FUNCTION public._run_request_blocked(p_request_id uuid, p_blocked jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public._run_request_blocked(p_request_id uuid, p_blocked jsonb) TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_workers TO service_role;

REVOKE ALL ON FUNCTION public._worker_for_token(p_token text) FROM PUBLIC;
GRANT ALL ON FUNCTION public._worker_for_token(p_token text) TO service_role;

REVOKE ALL ON FUNCTION public.abandon_alert_deliveries(p_channels jsonb, p_settings jsonb, p_horizon_seconds integer, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.abandon_alert_deliveries(p_channels jsonb, p_settings jsonb, p_horizon_seconds integer, p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.advance_schedules(p_items jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.advance_schedules(p_items jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.alert_health() FROM PUBLIC;
GRANT ALL ON FUNCTION public.alert_health() TO service_role;

REVOKE ALL ON FUNCTION public.alert_pending_by_channel() FROM PUBLIC;
GRANT ALL ON FUNCTION public.alert_pending_by_channel() TO service_role;

REVOKE ALL ON FUNCTION public.begin_run(p_job text, p_trigger text, p_lease_seconds integer, p_request_id text, p_dry_run boolean, p_run_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.begin_run(p_job text, p_trigger text, p_lease_seconds integer, p_request_id text, p_dry_run boolean, p_run_key text) TO service_role;

REVOKE ALL ON FUNCTION public.begin_run_if_due(p_job text, p_trigger text, p_lease_seconds integer, p_empty_stats jsonb, p_request_id text, p_run_key text, p_blocked jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.begin_run_if_due(p_job text, p_trigger text, p_lease_seconds integer, p_empty_stats jsonb, p_request_id text, p_run_key text, p_blocked jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.cancel_reminders_for_lead(lead_id text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.cancel_reminders_for_lead(lead_id text) TO service_role;

REVOKE ALL ON FUNCTION public.claim_alert_deliveries(p_channels jsonb, p_limit integer, p_lease_seconds integer, p_max_attempts integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.claim_alert_deliveries(p_channels jsonb, p_limit integer, p_lease_seconds integer, p_max_attempts integer) TO service_role;

REVOKE ALL ON FUNCTION public.claim_due_reminders(p_batch_size integer, p_lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.claim_due_reminders(p_batch_size integer, p_lease_seconds integer) TO service_role;

REVOKE ALL ON FUNCTION public.claim_due_schedules(p_limit integer, p_lease_seconds integer, p_due_before timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION public.claim_due_schedules(p_limit integer, p_lease_seconds integer, p_due_before timestamp with time zone) TO service_role;

REVOKE ALL ON FUNCTION public.claim_run_requests(p_batch_size integer, p_lease_seconds integer, p_blocked jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.claim_run_requests(p_batch_size integer, p_lease_seconds integer, p_blocked jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.claim_run_requests_by_id(p_ids jsonb, p_lease_seconds integer, p_blocked jsonb, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.claim_run_requests_by_id(p_ids jsonb, p_lease_seconds integer, p_blocked jsonb, p_limit integer) TO service_role;

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

REVOKE ALL ON FUNCTION public.cron_jobs_version() FROM PUBLIC;
GRANT ALL ON FUNCTION public.cron_jobs_version() TO service_role;

REVOKE ALL ON FUNCTION public.cron_run_requests_alert() FROM PUBLIC;
GRANT ALL ON FUNCTION public.cron_run_requests_alert() TO service_role;

REVOKE ALL ON FUNCTION public.cron_run_requests_attempt() FROM PUBLIC;
GRANT ALL ON FUNCTION public.cron_run_requests_attempt() TO service_role;

REVOKE ALL ON FUNCTION public.cron_runs_alert() FROM PUBLIC;
GRANT ALL ON FUNCTION public.cron_runs_alert() TO service_role;

REVOKE ALL ON FUNCTION public.delete_expired_heartbeats(p_retention_days integer, p_batch_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.delete_expired_heartbeats(p_retention_days integer, p_batch_size integer) TO service_role;

REVOKE ALL ON FUNCTION public.end_run(p_run_id bigint, p_status text, p_stats jsonb, p_error text, p_has_more boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION public.end_run(p_run_id bigint, p_status text, p_stats jsonb, p_error text, p_has_more boolean) TO service_role;

REVOKE ALL ON FUNCTION public.health_check() FROM PUBLIC;
GRANT ALL ON FUNCTION public.health_check() TO service_role;

REVOKE ALL ON FUNCTION public.heartbeat_partitions(p_retention_days integer, p_days_ahead integer, p_drop_megabytes integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.heartbeat_partitions(p_retention_days integer, p_days_ahead integer, p_drop_megabytes integer) TO service_role;

REVOKE ALL ON FUNCTION public.hold_run_requests(p_blocked jsonb, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.hold_run_requests(p_blocked jsonb, p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.list_alerts(p_limit integer, p_before_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION public.list_alerts(p_limit integer, p_before_id bigint) TO service_role;

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

REVOKE ALL ON FUNCTION public.ops_act(p_actor text, p_action text, p_function text, p_args jsonb, p_call_key uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_act(p_actor text, p_action text, p_function text, p_args jsonb, p_call_key uuid) TO service_role;

REVOKE ALL ON FUNCTION public.ops_add_worker(p_project_id text, p_name text, p_token_hash text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_add_worker(p_project_id text, p_name text, p_token_hash text) TO service_role;

REVOKE ALL ON FUNCTION public.ops_audit_list(p_actor text, p_object_id text, p_limit integer, p_offset integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_audit_list(p_actor text, p_object_id text, p_limit integer, p_offset integer) TO service_role;

REVOKE ALL ON FUNCTION public.ops_bulk_requests(p_action text, p_by text, p_project text, p_job_id uuid, p_status text, p_since timestamp with time zone, p_until timestamp with time zone, p_dry_run boolean, p_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_bulk_requests(p_action text, p_by text, p_project text, p_job_id uuid, p_status text, p_since timestamp with time zone, p_until timestamp with time zone, p_dry_run boolean, p_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.ops_cancel_request(p_request_id uuid, p_by text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_cancel_request(p_request_id uuid, p_by text) TO service_role;

REVOKE ALL ON FUNCTION public.ops_create_job(p_name text, p_project_id text, p_kind text, p_target text, p_payload jsonb, p_schedule_type text, p_schedule text, p_timezone text, p_enabled boolean, p_source text, p_next_run_at timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_create_job(p_name text, p_project_id text, p_kind text, p_target text, p_payload jsonb, p_schedule_type text, p_schedule text, p_timezone text, p_enabled boolean, p_source text, p_next_run_at timestamp with time zone) TO service_role;

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

REVOKE ALL ON FUNCTION public.ops_list_workers(p_project text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_list_workers(p_project text) TO service_role;

REVOKE ALL ON FUNCTION public.ops_me_set_password(p_token_hash text, p_password_hash text, p_attempt_id bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_me_set_password(p_token_hash text, p_password_hash text, p_attempt_id bigint) TO service_role;

REVOKE ALL ON FUNCTION public.ops_request_history(p_request_id uuid) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_request_history(p_request_id uuid) TO service_role;

REVOKE ALL ON FUNCTION public.ops_retry_request(p_request_id uuid, p_requested_by text, p_dedup_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_retry_request(p_request_id uuid, p_requested_by text, p_dedup_key text) TO service_role;

REVOKE ALL ON FUNCTION public.ops_revoke_worker(p_worker_id uuid, p_project text, p_name text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_revoke_worker(p_worker_id uuid, p_project text, p_name text) TO service_role;

REVOKE ALL ON FUNCTION public.ops_run_now(p_job_id uuid, p_requested_by text, p_payload jsonb, p_dedup_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_run_now(p_job_id uuid, p_requested_by text, p_payload jsonb, p_dedup_key text) TO service_role;

REVOKE ALL ON FUNCTION public.ops_session_end(p_token_hash text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_session_end(p_token_hash text) TO service_role;

REVOKE ALL ON FUNCTION public.ops_session_get(p_token_hash text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_session_get(p_token_hash text) TO service_role;

REVOKE ALL ON FUNCTION public.ops_set_job_alerts(p_job_id uuid, p_changes jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_set_job_alerts(p_job_id uuid, p_changes jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.ops_set_job_enabled(p_job_id uuid, p_enabled boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_set_job_enabled(p_job_id uuid, p_enabled boolean) TO service_role;

REVOKE ALL ON FUNCTION public.ops_signin_begin(p_address text, p_account text, p_window_seconds integer, p_address_limit integer, p_account_limit integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_signin_begin(p_address text, p_account text, p_window_seconds integer, p_address_limit integer, p_account_limit integer) TO service_role;

REVOKE ALL ON FUNCTION public.ops_signin_state() FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_signin_state() TO service_role;

REVOKE ALL ON FUNCTION public.ops_signin_succeeded(p_attempt_id bigint, p_token_hash text, p_user_id uuid, p_secret_tag text, p_address text, p_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_signin_succeeded(p_attempt_id bigint, p_token_hash text, p_user_id uuid, p_secret_tag text, p_address text, p_seconds integer) TO service_role;

REVOKE ALL ON FUNCTION public.ops_update_job(p_job_id uuid, p_changes jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_update_job(p_job_id uuid, p_changes jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.ops_update_job_at_version(p_job_id uuid, p_changes jsonb, p_version bigint) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_update_job_at_version(p_job_id uuid, p_changes jsonb, p_version bigint) TO service_role;

REVOKE ALL ON FUNCTION public.ops_users_add(p_name text, p_role text, p_password_hash text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_users_add(p_name text, p_role text, p_password_hash text) TO service_role;

REVOKE ALL ON FUNCTION public.ops_users_list() FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_users_list() TO service_role;

REVOKE ALL ON FUNCTION public.ops_users_set_disabled(p_name text, p_disabled boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_users_set_disabled(p_name text, p_disabled boolean) TO service_role;

REVOKE ALL ON FUNCTION public.ops_users_set_password(p_name text, p_password_hash text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_users_set_password(p_name text, p_password_hash text) TO service_role;

REVOKE ALL ON FUNCTION public.ops_users_set_role(p_name text, p_role text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.ops_users_set_role(p_name text, p_role text) TO service_role;

REVOKE ALL ON FUNCTION public.prune_alert_history(p_retention_days integer, p_batch_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.prune_alert_history(p_retention_days integer, p_batch_size integer) TO service_role;

REVOKE ALL ON FUNCTION public.prune_history(p_retention_days integer, p_batch_size integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.prune_history(p_retention_days integer, p_batch_size integer) TO service_role;

REVOKE ALL ON FUNCTION public.queue_alert_event(p_event text, p_payload jsonb, p_dedup_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.queue_alert_event(p_event text, p_payload jsonb, p_dedup_key text) TO service_role;

REVOKE ALL ON FUNCTION public.reap_abandoned_runs() FROM PUBLIC;
GRANT ALL ON FUNCTION public.reap_abandoned_runs() TO service_role;

REVOKE ALL ON FUNCTION public.record_heartbeat(agent_id uuid, payload jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.record_heartbeat(agent_id uuid, payload jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.record_run_alerts(p_run_id bigint, p_alerts jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.record_run_alerts(p_run_id bigint, p_alerts jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.request_run(job_name text, project_id text, requested_by text, payload jsonb, dedup_key text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.request_run(job_name text, project_id text, requested_by text, payload jsonb, dedup_key text) TO service_role;

REVOKE ALL ON FUNCTION public.settle_alert_deliveries(p_outcomes jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.settle_alert_deliveries(p_outcomes jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.settle_reminders(p_outcomes jsonb, p_repeat_hours double precision, p_max_count integer, p_max_attempts integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.settle_reminders(p_outcomes jsonb, p_repeat_hours double precision, p_max_count integer, p_max_attempts integer) TO service_role;

REVOKE ALL ON FUNCTION public.settle_run_requests(p_outcomes jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.settle_run_requests(p_outcomes jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.snooze_reminder(id bigint, until timestamp with time zone) FROM PUBLIC;
GRANT ALL ON FUNCTION public.snooze_reminder(id bigint, until timestamp with time zone) TO service_role;

REVOKE ALL ON FUNCTION public.sweep_overdue_jobs(p_deadlines jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.sweep_overdue_jobs(p_deadlines jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.upsert_builtin_job(p_name text, p_schedule text) FROM PUBLIC;
GRANT ALL ON FUNCTION public.upsert_builtin_job(p_name text, p_schedule text) TO service_role;

REVOKE ALL ON FUNCTION public.worker_claim(p_token text, p_limit integer, p_lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.worker_claim(p_token text, p_limit integer, p_lease_seconds integer) TO service_role;

REVOKE ALL ON FUNCTION public.worker_extend(p_token text, p_request_id uuid, p_claim_token uuid, p_lease_seconds integer) FROM PUBLIC;
GRANT ALL ON FUNCTION public.worker_extend(p_token text, p_request_id uuid, p_claim_token uuid, p_lease_seconds integer) TO service_role;

REVOKE ALL ON FUNCTION public.worker_settle(p_token text, p_outcomes jsonb) FROM PUBLIC;
GRANT ALL ON FUNCTION public.worker_settle(p_token text, p_outcomes jsonb) TO service_role;

REVOKE ALL ON FUNCTION public.worker_sync(p_token text, p_jobs jsonb, p_complete boolean) FROM PUBLIC;
GRANT ALL ON FUNCTION public.worker_sync(p_token text, p_jobs jsonb, p_complete boolean) TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.agents TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_job_alert_state TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.alert_overdue_jobs TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_alert_deliveries TO service_role;

GRANT SELECT,USAGE ON SEQUENCE public.cron_alert_deliveries_id_seq TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_alert_events TO service_role;

GRANT SELECT,USAGE ON SEQUENCE public.cron_alert_events_id_seq TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_kicks TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_locks TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.cron_request_attempts TO service_role;

GRANT SELECT,USAGE ON SEQUENCE public.cron_request_attempts_id_seq TO service_role;

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

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.ops_audit TO service_role;

GRANT SELECT,USAGE ON SEQUENCE public.ops_audit_id_seq TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.ops_job_objects TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.ops_request_objects TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.ops_run_objects TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.ops_sessions TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.ops_signin_failures TO service_role;

GRANT SELECT,USAGE ON SEQUENCE public.ops_signin_failures_id_seq TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.ops_users TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.ops_user_objects TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.ops_worker_objects TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.run_requests_ready TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.run_requests_to_recover TO service_role;

GRANT SELECT,USAGE ON SEQUENCE public.scheduled_reminders_id_seq TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.schema_migrations TO service_role;

GRANT SELECT,INSERT,DELETE,UPDATE ON TABLE public.schema_repeatables TO service_role;
