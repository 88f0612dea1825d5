-- Who may do what, stated once for every object in schema public. migrate
-- applies this file last, and again whenever any other file was applied, so
-- a function or table added anywhere is covered without naming it here.
--
-- - Functions (and procedures): execute is revoked from public, anon and
--   authenticated and granted to service_role. The adapters connect as
--   service_role (Supabase) or as the owner (plain Postgres).
-- - Tables: row level security on, with a policy for service_role only:
--   anon and authenticated see nothing. On top of that they hold no
--   privilege, so a read is denied outright rather than answered with zero
--   rows (Supabase grants them table access by default; we take it back).
--   Supabase's service_role bypasses RLS anyway; the policy makes the
--   plain-Postgres role behave the same.
-- - Views: the same privileges as tables (a claim locks rows through a view,
--   which needs update on it); they are security_invoker, so the tables' RLS
--   applies through them.
-- - Sequences: usage and select for service_role only.
-- Objects that belong to an extension (pg_depend deptype 'e') are the
-- extension's business and are left alone.

grant usage on schema public to service_role;

do $$
declare
  v_routine regprocedure;
  v_relation record;
begin
  for v_routine in
    select p.oid::regprocedure
      from pg_catalog.pg_proc p
      join pg_catalog.pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'public'
       and not exists (select 1 from pg_catalog.pg_depend d
                        where d.classid = 'pg_catalog.pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
     order by 1
  loop
    execute format('revoke execute on routine %s from public, anon, authenticated', v_routine);
    execute format('grant execute on routine %s to service_role', v_routine);
  end loop;

  for v_relation in
    select c.relname, c.relkind
      from pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where n.nspname = 'public'
       and c.relkind in ('r', 'p', 'v', 'm', 'S')
       and not exists (select 1 from pg_catalog.pg_depend d
                        where d.classid = 'pg_catalog.pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
     order by c.relname
  loop
    if v_relation.relkind = 'S' then
      execute format('revoke all on sequence public.%I from public, anon, authenticated', v_relation.relname);
      execute format('grant usage, select on sequence public.%I to service_role', v_relation.relname);
      continue;
    end if;
    execute format('revoke all on table public.%I from public, anon, authenticated', v_relation.relname);
    execute format('grant select, insert, update, delete on table public.%I to service_role', v_relation.relname);
    if v_relation.relkind in ('r', 'p') then
      execute format('alter table public.%I enable row level security', v_relation.relname);
      if not exists (select 1 from pg_catalog.pg_policies
                      where schemaname = 'public' and tablename = v_relation.relname
                        and policyname = 'service_role_all') then
        execute format('create policy service_role_all on public.%I to service_role using (true) with check (true)',
                       v_relation.relname);
      end if;
    end if;
  end loop;
end
$$;
