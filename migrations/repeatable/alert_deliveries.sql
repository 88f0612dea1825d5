-- Alert deliveries: the queue that takes every alert event to every channel
-- (cron_alert_events, cron_alert_deliveries; DESIGN.md, Alerts).
--
-- cron_alert_events
--   (none)        queued (fanned_out_at null)   _alert_queue: an episode opens or closes (alerts.sql, in the
--                                               transaction of its cause), a re-alert, queue_alert_event
--                                               (agents.offline, alert.test)
--   queued        routed (fanned_out_at set)    claim_alert_deliveries: one delivery per channel configured
--                                               now, none for a muted job's event
--   any, old      (deleted, deliveries too)     prune_alert_history, once none of its deliveries is pending
--
-- cron_alert_deliveries
--   from                    to                          by
--   (none)                  pending                     claim_alert_deliveries (routing)
--   pending, due            pending, claimed            claim_alert_deliveries: attempts+1, claim_token,
--                                                       available_at = locked_until = now() + lease
--   pending, claimed        sent                        settle_alert_deliveries 'sent' (2xx)
--   pending, claimed        pending, due later          settle 'retry' (timeout, network, 5xx, 408, 429)
--   pending, claimed        dead                        settle 'retry' at max_attempts, or 'dead' (another 4xx)
--   pending, claimed        pending, due now            settle 'release' (not attempted: the budget ended)
--   pending, lease expired  claimable again             (a crash: nothing to do, it is simply due)
--   pending, on a channel   dead                        abandon_alert_deliveries: nobody with that channel
--   configured nowhere                                  claimed it for p_horizon_seconds (lib/alerts/abandon.py)
--
-- Settles apply only where the row still carries the caller's claim token, so
-- a late or repeated settle changes nothing, and two senders never hold the
-- same delivery: a crash repeats at most what was in flight.

-- Queue one event. A muted job's event is recorded, routed to no channel.
create or replace function public._alert_queue(p_event text, p_job_id uuid, p_payload jsonb, p_repeat integer)
returns bigint
language sql
volatile
security invoker
set search_path = ''
as $$
  insert into public.cron_alert_events (event, job_id, repeat, muted, payload)
  values (p_event, p_job_id, coalesce(p_repeat, 0),
          coalesce((select not j.alerts_enabled from public.cron_jobs j where j.id = p_job_id), false),
          coalesce(p_payload, '{}'::jsonb))
  returning id;
$$;

-- The events Python raises itself: check-stale's agents.offline and an
-- operator's alert.test. Episodes queue theirs in SQL (alerts.sql). A call
-- repeated with the same p_dedup_key (an adapter's retry after a lost
-- answer) answers the first call's event instead of queueing a second.
create or replace function public.queue_alert_event(
  p_event text, p_payload jsonb default '{}'::jsonb, p_dedup_key text default null
)
returns table (id bigint, alert_id uuid)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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

-- Route queued events to p_channels (a JSON array of channel names), then
-- claim up to p_limit due deliveries on those channels, oldest first, each
-- with a lease and a fresh claim token. Routing marks an event even when no
-- channel is configured, so events raised while nobody listens are not sent
-- in a burst the day a channel is added.
create or replace function public.claim_alert_deliveries(
  p_channels jsonb,
  p_limit integer default 50,
  p_lease_seconds integer default 120,
  p_max_attempts integer default 10
)
returns table (id bigint, claim_token uuid, channel text, attempts integer, max_attempts integer,
               event_id bigint, alert_id uuid, event text, job_id uuid, repeat integer, payload jsonb,
               created_at timestamptz)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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

-- End the deliveries nobody can send: pending on a channel this process
-- does not have (p_channels, as the claim takes them), due for longer than
-- p_horizon_seconds and untouched (no claim, no settle) for as long. One
-- process lacking a channel proves nothing (a laptop's shell, a second
-- deployment with fewer settings), so only the horizon decides: the caller
-- chooses it so that any deployment that has the channel would certainly
-- have claimed the row within it (lib/alerts/abandon.py says why 48 h).
-- The error names the channel's setting (p_settings, channel to setting
-- name, from lib/alerts/channels.py's SETTING_OF: the names live there
-- once), never a value. Rows due longest first, at most p_limit per call,
-- through the due index; a row another process holds is skipped, so two
-- ticks at once end each row once. Answers one row per channel it ended
-- deliveries of.
drop function if exists public.abandon_alert_deliveries(jsonb, integer, integer);
create or replace function public.abandon_alert_deliveries(
  p_channels jsonb, p_settings jsonb, p_horizon_seconds integer, p_limit integer default 500
)
returns table (channel text, abandoned integer)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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

-- Pending deliveries per channel, and the oldest one's creation: `doctor`
-- and `alerts list` name those on channels this shell does not configure,
-- before abandon_alert_deliveries ends them. Counts, at most four rows.
create or replace function public.alert_pending_by_channel()
returns table (channel text, pending integer, oldest_at timestamptz)
language sql
stable
security invoker
set search_path = ''
as $$
  select d.channel, count(*)::integer, min(d.created_at)
    from public.cron_alert_deliveries d
   where d.status = 'pending'
   group by d.channel
   order by d.channel;
$$;

-- Settle claimed deliveries in one statement. p_outcomes is a JSON array of
--   {"id", "claim_token", "outcome": "sent" | "retry" | "dead" | "release",
--    "error", "status_code", "retry_in_seconds"}
-- A retry at its last attempt is dead. Answers the rows it changed.
create or replace function public.settle_alert_deliveries(p_outcomes jsonb)
returns table (id bigint, status text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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

-- The console's and the CLI's alert list: the newest events (at most 200),
-- each with every channel's delivery, in one row and one round trip.
create or replace function public.list_alerts(p_limit integer default 50, p_before_id bigint default null)
returns table (alerts jsonb, has_more boolean)
language sql
stable
security invoker
set search_path = ''
as $$
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

-- prune-history's share: events older than the retention whose deliveries
-- are all final (sent or dead; a pending one is still work), with their
-- deliveries (the foreign key cascades), at most p_batch_size per call.
-- Two columns: the adapters would hand back a one-column row as a bare value.
create or replace function public.prune_alert_history(p_retention_days integer, p_batch_size integer)
returns table (deleted_alerts integer, batch_size integer)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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

-- A run's answer counts what it delivered (stats.alerts), and so does its
-- ledger row: the deliveries happen after end_run (which queued them), so
-- the count is added to the finished row here. Only stats changes: the
-- status trigger that opens episodes does not fire again.
create or replace function public.record_run_alerts(p_run_id bigint, p_alerts jsonb)
returns table (run_id bigint, recorded boolean)
language sql
volatile
security invoker
set search_path = ''
as $$
  with done as (
    update public.cron_runs r
       set stats = coalesce(r.stats, '{}'::jsonb) || jsonb_build_object('alerts', coalesce(p_alerts, '{}'::jsonb))
     where r.id = p_run_id and r.status <> 'running'
    returning r.id
  )
  select p_run_id, exists (select 1 from done);
$$;
