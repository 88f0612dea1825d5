-- The audit trail (table: 0008_operators.sql; Python: lib/manage/acting.py,
-- lib/db/acting.py): every write made through the console, its API or the
-- CLI, with who made it and the fields before and after.
--
-- ops_audit is written by the triggers below while ops_act runs a write
-- for someone (cronrelay.actor set for its transaction), never by the
-- engine's own writes, so a write and its audit rows commit together.

-- -- the audit -------------------------------------------------------------------

-- One audit row per row a write changed, while ops_act runs that write:
-- the fields that changed, before and after (all of them for an insert or
-- a delete). TG_ARGV[0] names the object type; the other arguments are
-- columns never copied (a password hash shows as "(changed)").
create or replace function public._ops_audit_row()
returns trigger
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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

-- Only while ops_act has set an actor: the engine's own writes (ticks,
-- drains, settles) pay one setting lookup per row and are never recorded.
drop trigger if exists ops_audit_jobs on public.cron_jobs;
create trigger ops_audit_jobs
  after insert or update or delete on public.cron_jobs
  for each row when (coalesce(current_setting('cronrelay.actor', true), '') <> '')
  execute function public._ops_audit_row('job');

-- Deletes of requests are left out: they only follow a job's delete (its
-- own row says so) or the history's pruning.
drop trigger if exists ops_audit_requests on public.cron_run_requests;
create trigger ops_audit_requests
  after insert or update on public.cron_run_requests
  for each row when (coalesce(current_setting('cronrelay.actor', true), '') <> '')
  execute function public._ops_audit_row('request');

drop trigger if exists ops_audit_operators on public.ops_users;
create trigger ops_audit_operators
  after insert or update or delete on public.ops_users
  for each row when (coalesce(current_setting('cronrelay.actor', true), '') <> '')
  execute function public._ops_audit_row('operator', 'password_hash', 'last_signin_at');

-- Runs one of the service's write functions for someone, in one
-- transaction with its audit: p_function is a function of schema public
-- named ops_... (or request_run), called with the named arguments in
-- p_args (a JSON object, as the port sends them). Each row it returns comes
-- back as one JSON object. It grants nothing: its caller may call
-- p_function directly anyway; it only says who did it.
-- p_call_key makes an adapter's repeat of a call that had committed record
-- nothing twice.
create or replace function public.ops_act(
  p_actor text, p_action text, p_function text, p_args jsonb default '{}'::jsonb, p_call_key uuid default null
)
returns table (result jsonb, audited integer)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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
$$;

-- The audit, newest first, optionally of one actor or one object.
create or replace function public.ops_audit_list(
  p_actor text default null,
  p_object_id text default null,
  p_limit integer default 50,
  p_offset integer default 0
)
returns table (entries jsonb, has_more boolean)
language plpgsql
stable
security invoker
set search_path = ''
as $$
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
