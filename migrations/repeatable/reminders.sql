-- Reminders: the sweep's claim and settle, and the bot's write paths.
--
-- scheduled_reminders.status
--   from                              to          by
--   (none)                            pending     the bot's insert (column default)
--   pending | sent                    sent        settle_reminders: delivered
--   pending | sent                    exhausted   settle_reminders: delivered, reminder_count reached p_max_count
--   pending | sent                    failed      settle_reminders: permanent, or transient at p_max_attempts
--   pending | sent                    (same)      settle_reminders: transient (below p_max_attempts), released, deferred
--   pending | sent | failed | exhausted  pending  snooze_reminder
--   pending | sent | failed | exhausted  completed complete_reminder
--   pending | sent                    cancelled   cancel_reminders_for_lead
-- claim_due_reminders moves no status: it leases the row (locked_until,
-- claim_token), and every write above clears the lease.
--
-- A claim leases rows under a fresh claim_token. Every write that ends a claim
-- (a settle, or the bot snoozing, completing or cancelling) clears the token,
-- so a late or duplicate settle under an old token finds nothing to change. A
-- crashed run's rows come back once their lease expires.

-- What is due, written once for the claim and its dry-run twin: deliverable,
-- due, and held by no live lease. The claim locks through this view, so its
-- plan is the partial index scan on scheduled_reminders_due_idx and a row
-- changed meanwhile is re-checked against this predicate before it is leased.
create or replace view public.due_reminders with (security_invoker = true) as
  select r.id, r.telegram_id, r.due_at, r.status, r.reminder_count
    from public.scheduled_reminders r
   where r.status in ('pending', 'sent')
     and r.due_at <= now()
     and (r.locked_until is null or r.locked_until <= now());

-- The sweep's claim: due rows, oldest first. SKIP LOCKED keeps concurrent
-- claims from waiting on each other's rows; the lease keeps them apart after
-- the claiming transaction has committed.
create or replace function public.claim_due_reminders(p_batch_size integer, p_lease_seconds integer)
returns table (id bigint, lead_id text, telegram_id bigint, step_id text, due_at timestamptz,
               status text, draft_text text, snooze_count integer, reminder_count integer,
               attempts integer, claim_token uuid, locked_until timestamptz)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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

-- The dry-run twin of the claim: the same rows, in the same order, no lease taken.
create or replace function public.list_due_reminders(p_limit integer)
returns table (id bigint, telegram_id bigint, due_at timestamptz, status text, reminder_count integer)
language sql
stable
security invoker
set search_path = ''
as $$
  select d.id, d.telegram_id, d.due_at, d.status, d.reminder_count
    from public.due_reminders d
   order by d.due_at, d.id
   limit greatest(0, coalesce(p_limit, 1000));
$$;

-- One call settles a whole batch. p_outcomes is a JSON array of
--   {id, claim_token, outcome, error, delay_seconds, until}
-- where outcome is one of:
--   delivered  sent (or exhausted at p_max_count), due again after p_repeat_hours;
--              `error` may carry a note (e.g. the text was cut) and lands in last_error
--   transient  attempts+1, due again after delay_seconds; failed at p_max_attempts
--   permanent  failed now
--   released   not attempted: only the lease goes, nothing else changes
--   deferred   quiet hours: due again at `until`, no attempt counted
-- An outcome applies only while the row still carries its claim_token (and is
-- still deliverable), so a late or repeated settle changes nothing.
create or replace function public.settle_reminders(
  p_outcomes jsonb,
  p_repeat_hours double precision,
  p_max_count integer,
  p_max_attempts integer
)
returns table (id bigint, outcome text, status text, attempts integer, due_at timestamptz)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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

-- The bot's write paths. Each clears any claim, so a sweep that is sending the
-- reminder right now cannot overwrite what the user just did.

-- "Remind me later": back to pending at p_until. A completed or cancelled
-- reminder stays as it is (a stale button press must not revive it).
create or replace function public.snooze_reminder(id bigint, until timestamptz)
returns table (reminder_id bigint, status text, due_at timestamptz, snooze_count integer)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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

create or replace function public.complete_reminder(id bigint)
returns table (reminder_id bigint, status text, completed_at timestamptz)
language sql
volatile
security invoker
set search_path = ''
as $$
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

-- Stops every reminder of a lead that could still go out.
create or replace function public.cancel_reminders_for_lead(lead_id text)
returns table (id bigint, status text)
language sql
volatile
security invoker
set search_path = ''
as $$
  update public.scheduled_reminders r
     set status = 'cancelled',
         locked_until = null,
         claim_token = null,
         updated_at = now()
   where r.lead_id = cancel_reminders_for_lead.lead_id
     and r.status in ('pending', 'sent')
  returning r.id, r.status;
$$;
