-- Heartbeat partitions (DESIGN.md Scale): what exists, and the upkeep that
-- makes and drops them. The table and its default partition are
-- 0007_heartbeat_partitions.sql; retention's batched delete for the one
-- partition that straddles the cutoff is in agents.sql.

-- Every partition of public.heartbeats with its range, read from the catalog:
-- [lower_bound, upper_bound), lower_bound '-infinity' for one that starts at
-- MINVALUE (heartbeats_legacy), both null for the default partition. The
-- bounds are read back as PostgreSQL prints them, so the function pins the
-- time zone and date style it parses them in.
create or replace function public._heartbeat_partition_ranges()
returns table (partition_name text, lower_bound timestamptz, upper_bound timestamptz, is_default boolean)
language sql
stable
security invoker
set search_path = ''
set timezone = 'UTC'
set datestyle = 'ISO, YMD'
as $$
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
$$;

-- The partition upkeep cleanup-heartbeats runs before its batches:
-- - drops the daily partitions (and heartbeats_legacy) whose whole range is
--   older than the retention cutoff, oldest first: one catalog change instead
--   of a DELETE of their rows. A drop holds heartbeats' ACCESS EXCLUSIVE lock
--   until its transaction commits, and the commit frees the partition's files
--   (the time that takes grows with their size, docs/heartbeats.md), so
--   record_heartbeat waits for every drop of the call. So one call drops days
--   of at most p_drop_megabytes together (the oldest one whatever its size),
--   and left_to_drop says how many expired days it left for the next call:
--   cleanup-heartbeats calls again while any are left. A bound by size, not
--   by count, because the wait grows with the bytes freed; days are grouped
--   up to it so that a backlog of small days takes few calls (each an HTTP
--   round trip through Supabase's API);
-- - makes a partition for every UTC day from the cutoff's day to p_days_ahead
--   days after today that no partition covers yet, so record_heartbeat writes
--   into today's partition. A day whose rows already sit in the default
--   partition (written before the day had one) gets none: creating it would
--   have to move them, and they leave with the batched delete instead. Past
--   days are made only while the default partition is empty (see below).
--
-- With p_retention_days null it drops nothing and makes today's partition and
-- those ahead: `migrate` calls it so, so beats never wait in the default
-- partition for the first cleanup run. That matters beyond tidiness: making a
-- partition scans the whole default partition (Postgres checks that none of
-- its rows belong to the new range), so the default must stay small.
--
-- It is the one security definer function (DESIGN.md Data model): making and
-- dropping partitions is DDL that only the tables' owner (the role migrate
-- runs as) may do, and Supabase's service_role does not own them. So it runs
-- as its owner, with an empty search_path and every name qualified, takes
-- nothing but three integers, and is executable by service_role alone. A new
-- partition gets the rules grants.sql gives every table: row level security,
-- the service_role policy, and no privilege for anon or authenticated.
--
-- Dropping and making partitions takes a brief ACCESS EXCLUSIVE lock on
-- heartbeats, which queues behind any long query on it and then holds every
-- record_heartbeat up behind itself; lock_timeout keeps that wait short, and
-- a busy table is reported (busy = true, nothing changed) for the next run.

-- The earlier shape: two arguments, and no left_to_drop.
drop function if exists public.heartbeat_partitions(integer, integer);

create or replace function public.heartbeat_partitions(
  p_retention_days integer,
  p_days_ahead integer default 7,
  p_drop_megabytes integer default 1024
)
returns table (created integer, dropped integer, dropped_rows_estimate bigint, busy boolean, left_to_drop integer)
language plpgsql
volatile
security definer
set search_path = ''
set timezone = 'UTC'
set lock_timeout = '2s'
as $$
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

-- Stated here as well as in grants.sql, which runs after this file in the same
-- transaction: a security definer function must never be callable by others.
revoke execute on function public.heartbeat_partitions(integer, integer, integer) from public, anon, authenticated;
grant execute on function public.heartbeat_partitions(integer, integer, integer) to service_role;
