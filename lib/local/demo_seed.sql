-- seed-demo: fill a local database so that every job has something to do
-- within two minutes of starting the local stack (`python -m lib seed-demo`).
--
-- Dev-only: lib/local is in .vercelignore, and this function is created in
-- pg_temp, so it lives only as long as the seeding connection and never
-- becomes part of the schema (the migrations and the schema snapshot do not
-- see it). Python passes the values as parameters; nothing here is built from
-- strings.
--
-- Running it again re-arms the demo instead of adding to it: every row is
-- found by a stable demo name (agents by an id derived from their name,
-- reminders by lead and step, jobs by (project_id, name)) and reset. It
-- leaves cron_jobs.enabled alone, like migrate: that is the operator's switch.
--
--   what                          so that, within two minutes
--   4 agents, 3 silent too long   check-stale marks 3 offline
--   old heartbeats                cleanup-heartbeats deletes them (recent ones stay)
--   4 reminders, 3 due now        reminders delivers them (the 4th 90 s later)
--   demo:echo-every-minute        schedule fires it each minute and posts it at once, signed, to the echo
--   demo:echo-once (in 2m)        schedule fires it once, two minutes after seeding
--   old ledger rows and finished  prune-history deletes them
--   run requests
--   run requests for check-stale, the first drain runs these builtin jobs (their crons
--   cleanup-heartbeats and        are every 5 minutes and daily)
--   prune-history
create or replace function pg_temp.cronrelay_seed_demo(
  p_echo_url text,
  p_stale_after_seconds integer,
  p_retention_days integer,
  p_history_days integer
)
returns table (item text, seeded integer, detail text)
language plpgsql
volatile
set search_path = ''
as $$
declare
  -- Silent for ten minutes longer than check-stale tolerates.
  v_silent_since timestamptz := now() - make_interval(secs => p_stale_after_seconds) - interval '10 minutes';
  -- A day past retention, so cleanup-heartbeats has rows to delete.
  v_expired timestamptz := now() - make_interval(days => p_retention_days) - interval '1 day';
  v_count integer;
  v_once_at timestamptz := now() + interval '2 minutes';
  -- A day past RUN_HISTORY_DAYS, so prune-history has rows to delete.
  v_history_expired timestamptz := now() - make_interval(days => p_history_days) - interval '1 day';
  v_job text;
  v_queued text[] := '{}';
  v_not_queued text[] := '{}';
begin
  create temporary table pg_temp.demo_agents (id uuid, name text, stale boolean) on commit drop;
  insert into pg_temp.demo_agents
  select md5('cronrelay-demo:' || a.name)::uuid, a.name, a.stale
    from (values ('demo:agent-berlin', true), ('demo:agent-lagos', true), ('demo:agent-lima', true),
                 ('demo:agent-osaka', false)) as a(name, stale);

  insert into public.agents as a (id, name, status, last_heartbeat_at, went_offline_at, metadata, created_at)
  select d.id, d.name, 'online', case when d.stale then v_silent_since else now() end, null,
         jsonb_build_object('demo', true), now() - make_interval(days => p_retention_days + 5)
    from pg_temp.demo_agents d
  on conflict (id) do update
     set name = excluded.name, status = 'online', last_heartbeat_at = excluded.last_heartbeat_at,
         went_offline_at = null, metadata = excluded.metadata, updated_at = now();
  return query select 'agents', (select count(*)::integer from pg_temp.demo_agents),
                      (select count(*)::text from pg_temp.demo_agents where stale);

  -- Heartbeats: thirty hourly ones past retention per agent, and three
  -- recent ones per agent, up to its last beat (these stay).
  delete from public.heartbeats h using pg_temp.demo_agents d where h.agent_id = d.id;
  insert into public.heartbeats (agent_id, created_at, payload)
  select d.id, v_expired - make_interval(hours => n), jsonb_build_object('demo', true, 'cpu', round((n % 10) / 10.0, 1))
    from pg_temp.demo_agents d, generate_series(0, 29) as n;
  get diagnostics v_count = row_count;
  return query select 'old heartbeats', v_count, p_retention_days::text;
  insert into public.heartbeats (agent_id, created_at, payload)
  select d.id, a.last_heartbeat_at - make_interval(mins => 5 * n), jsonb_build_object('demo', true, 'cpu', 0.2)
    from pg_temp.demo_agents d
    join public.agents a on a.id = d.id, generate_series(0, 2) as n;
  get diagnostics v_count = row_count;
  return query select 'recent heartbeats', v_count, null::text;

  -- Reminders, one chat each (Telegram paces one message per second per chat).
  create temporary table pg_temp.demo_reminders (lead_id text, step_id text, telegram_id bigint, draft_text text,
                                         due_at timestamptz) on commit drop;
  insert into pg_temp.demo_reminders values
    ('demo:lead-ada', 'demo:call-back', 1000001, 'Call Ada back about the quote (a seed-demo reminder)',
     now() - interval '5 minutes'),
    ('demo:lead-grace', 'demo:send-invoice', 1000002, 'Send Grace the invoice (a seed-demo reminder)',
     now() - interval '1 minute'),
    ('demo:lead-alan', 'demo:follow-up', 1000003, 'Follow up with Alan on the demo (a seed-demo reminder)',
     now() - interval '30 seconds'),
    ('demo:lead-katherine', 'demo:check-in', 1000004,
     'Check in with Katherine (a seed-demo reminder, due 90 s after seeding)', now() + interval '90 seconds');
  update public.scheduled_reminders r
     set telegram_id = d.telegram_id, draft_text = d.draft_text, due_at = d.due_at, status = 'pending',
         snooze_count = 0, reminder_count = 0, last_reminded_at = null, completed_at = null, attempts = 0,
         last_error = null, locked_until = null, claim_token = null, updated_at = now()
    from pg_temp.demo_reminders d
   where r.lead_id = d.lead_id and r.step_id = d.step_id;
  insert into public.scheduled_reminders (lead_id, step_id, telegram_id, draft_text, due_at)
  select d.lead_id, d.step_id, d.telegram_id, d.draft_text, d.due_at
    from pg_temp.demo_reminders d
   where not exists (select 1 from public.scheduled_reminders r where r.lead_id = d.lead_id and r.step_id = d.step_id);
  return query select 'reminders', (select count(*)::integer from pg_temp.demo_reminders),
                      (select count(*)::text from pg_temp.demo_reminders where due_at <= now());

  -- A webhook job on the echo every minute, due at the first tick after
  -- seeding (next_run_at now), and one `once` job two minutes out. Seeding
  -- again resets their schedules, so the once job fires again.
  insert into public.cron_jobs as j (name, kind, target, payload, schedule_type, schedule, timezone, source,
                                     next_run_at, created_at)
  values ('demo:echo-every-minute', 'webhook', p_echo_url, '{"demo": "every minute"}', 'cron', '* * * * *', 'UTC',
          'user', now(), now()),
         ('demo:echo-once', 'webhook', p_echo_url, '{"demo": "once, two minutes after seed-demo"}', 'once', 'in 2m',
          'UTC', 'user', v_once_at, now())
  on conflict (project_id, name) do update
     set kind = excluded.kind, target = excluded.target, payload = excluded.payload,
         schedule_type = excluded.schedule_type, schedule = excluded.schedule, timezone = excluded.timezone,
         -- `in 2m` counts from created_at, so the once job is two minutes out again.
         created_at = excluded.created_at, next_run_at = excluded.next_run_at, fired_at = null,
         schedule_error = null, resumed_at = null, schedule_claim_token = null, schedule_locked_until = null,
         updated_at = now();
  return query select 'webhook job', 1, 'demo:echo-every-minute';
  return query select 'once job', 1, to_char(v_once_at at time zone 'UTC', 'HH24:MI:SS');

  -- History past RUN_HISTORY_DAYS: a month-old stretch of check-stale's
  -- ledger and of the echo job's finished requests, marked (request_id,
  -- dedup_key 'seed-demo:history-<n>') so seeding again replaces them. Plain
  -- inserts: the alert triggers watch status updates, so these raise none.
  delete from public.cron_runs r where r.request_id like 'seed-demo:history-%';
  insert into public.cron_runs (job, trigger, status, started_at, finished_at, duration_ms, stats, request_id)
  select 'check-stale', 'vercel-cron', 'ok', v_history_expired - make_interval(mins => 5 * n),
         v_history_expired - make_interval(mins => 5 * n) + interval '40 milliseconds', 40,
         '{"marked_offline": 0}', 'seed-demo:history-' || n
    from generate_series(1, 20) as n;
  get diagnostics v_count = row_count;
  return query select 'old runs', v_count, p_history_days::text;
  delete from public.cron_run_requests q where q.dedup_key like 'seed-demo:history-%';
  insert into public.cron_run_requests (project_id, job_id, requested_by, requested_at, status, picked_up_at,
                                        completed_at, result, attempts, available_at, dedup_key)
  select j.project_id, j.id, 'schedule', v_history_expired - make_interval(mins => n),
         'done', v_history_expired - make_interval(mins => n),
         v_history_expired - make_interval(mins => n) + interval '30 milliseconds',
         '{"status_code": 200, "duration_ms": 30, "body": "{\"ok\": true}"}', 1,
         v_history_expired - make_interval(mins => n), 'seed-demo:history-' || n
    from public.cron_jobs j, generate_series(1, 10) as n
   where j.project_id = 'default' and j.name = 'demo:echo-every-minute';
  get diagnostics v_count = row_count;
  return query select 'old requests', v_count, null::text;

  -- The builtin jobs whose crons are slow (check-stale every 5 minutes,
  -- cleanup-heartbeats and prune-history daily) run at the first drain
  -- instead, through the service's own request_run. One waiting request
  -- each, however often this runs.
  foreach v_job in array array['check-stale', 'cleanup-heartbeats', 'prune-history'] loop
    if exists (select 1 from public.cron_run_requests r join public.cron_jobs j on j.id = r.job_id
                where j.project_id = 'default' and j.name = v_job and r.requested_by = 'seed-demo'
                  and r.status in ('queued', 'running')) then
      v_queued := v_queued || v_job;
    elsif exists (select 1 from public.cron_jobs j where j.project_id = 'default' and j.name = v_job and j.enabled) then
      perform public.request_run(job_name => v_job, project_id => 'default', requested_by => 'seed-demo');
      v_queued := v_queued || v_job;
    else
      -- Paused, or not synced from vercel.json: its cron (or migrate) is the way.
      v_not_queued := v_not_queued || v_job;
    end if;
  end loop;
  return query select 'run requests', cardinality(v_queued), array_to_string(v_queued, ', ');
  if cardinality(v_not_queued) > 0 then
    return query select 'not queued', cardinality(v_not_queued), array_to_string(v_not_queued, ', ');
  end if;
end
$$;
