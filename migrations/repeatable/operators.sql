-- Operators, their sessions, the sign-in throttle and the audit trail
-- (tables: 0008_operators.sql; Python: lib/manage/operators.py,
-- lib/manage/acting.py, lib/ops/signin.py).
--
-- ops_users, as the console's admins and the CLI change a row
--   (none)            an operator            ops_users_add (name unique)
--   operator          another role           ops_users_set_role
--   operator          disabled / enabled     ops_users_set_disabled (disabling ends its sessions)
--   operator          new password           ops_users_set_password (ends its sessions)
--   operator          new password           ops_me_set_password: the operator's own, from its session
--                                            (ends its other sessions, keeps this one)
-- The last enabled admin cannot be demoted or disabled (PT409): the console
-- would have nobody left to manage it (the CLI and the cron secret can
-- still add one).
--
-- ops_sessions
--   (none)            session                ops_signin_succeeded (after ops_signin_begin and the password check)
--   session           (deleted)              ops_session_end (logout), a disable or password change, expiry
--                                            (one's own password change keeps the session that made it)
--
-- ops_audit, ops_act and the audit triggers are in ops_audit.sql.
--
-- Errors the caller can act on are PTnnn with `<field>: <one line>`, as in
-- manage_*.sql (lib/manage/errors.py reads them back).

-- -- operators ---------------------------------------------------------------------

-- The Operator object: never the password hash.
create or replace view public.ops_user_objects with (security_invoker = true) as
  select u.id, u.name,
         jsonb_build_object(
           'name', u.name, 'role', u.role, 'disabled', u.disabled,
           'has_password', u.password_hash <> '',
           'password_changed_at', u.password_changed_at at time zone 'UTC',
           'last_signin_at', u.last_signin_at at time zone 'UTC',
           'created_at', u.created_at at time zone 'UTC', 'updated_at', u.updated_at at time zone 'UTC',
           'sessions', (select count(*) from public.ops_sessions s
                         where s.user_id = u.id and s.expires_at > now())) as operator
    from public.ops_users u;

create or replace function public._ops_check_operator(p_name text, p_role text)
returns void
language plpgsql
immutable
security invoker
set search_path = ''
as $$
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
$$;

-- Refuses a change that leaves no enabled admin where there was one.
create or replace function public._ops_keep_an_admin()
returns void
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  if not exists (select 1 from public.ops_users u where u.role = 'admin' and not u.disabled) then
    raise exception 'role: this would leave no enabled admin; make another operator admin first'
      using errcode = 'PT409';
  end if;
end
$$;

create or replace function public.ops_users_list()
returns table (operators jsonb, enabled integer)
language sql
stable
security invoker
set search_path = ''
as $$
  select coalesce((select jsonb_agg(v.operator order by v.name) from public.ops_user_objects v), '[]'::jsonb),
         (select count(*)::integer from public.ops_users u where not u.disabled);
$$;

create or replace function public.ops_users_add(p_name text, p_role text, p_password_hash text)
returns table (id uuid, operator jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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
$$;

create or replace function public._ops_user_id(p_name text)
returns uuid
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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

create or replace function public.ops_users_set_role(p_name text, p_role text)
returns table (id uuid, operator jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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

create or replace function public.ops_users_set_disabled(p_name text, p_disabled boolean)
returns table (id uuid, operator jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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

create or replace function public.ops_users_set_password(p_name text, p_password_hash text)
returns table (id uuid, operator jsonb)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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
$$;

-- An operator changes its own password. The account is the one signed in
-- with p_token_hash (a password session, live, of an enabled operator),
-- never a name the caller sends, so a session can change no other
-- account's password. Python has checked the current password against the
-- hash ops_signin_begin answered, under its throttle: p_attempt_id is the
-- failure that call counted, removed here because the password was right.
-- The other sessions end at once, as with every password change (a stolen
-- cookie, a forgotten laptop); the one that made the change stays, because
-- its holder has just proved the current password, and signing it out too
-- would only make them type the new one at once.
create or replace function public.ops_me_set_password(
  p_token_hash text, p_password_hash text, p_attempt_id bigint default null
)
returns table (id uuid, operator jsonb, sessions_ended integer)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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
$$;

-- -- sign-in ---------------------------------------------------------------------

-- Whether operators exist (the page's sign-in form asks for the cron secret
-- only while none does).
create or replace function public.ops_signin_state()
returns table (operators integer, admins integer)
language sql
stable
security invoker
set search_path = ''
as $$
  select (select count(*)::integer from public.ops_users u where not u.disabled),
         (select count(*)::integer from public.ops_users u where not u.disabled and u.role = 'admin');
$$;

-- Seconds until fewer than p_limit failures stay within the window, or 0
-- while fewer than p_limit are in it.
create or replace function public._ops_signin_wait(
  p_address text, p_account text, p_window interval, p_limit integer
)
returns integer
language sql
stable
security invoker
set search_path = ''
as $$
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

-- The first step of a sign-in, before any password is checked: 429 or go.
-- While the address has p_address_limit failures within the window, or the
-- account p_account_limit, the answer is retry_after > 0 and nothing is
-- recorded (so waiting is what ends it). Otherwise a failure is recorded
-- now, under a lock per address and per account, and its id returned:
-- ops_signin_succeeded removes it when the password was right. The
-- account's row (hash included, for the check in Python) comes with it.
create or replace function public.ops_signin_begin(
  p_address text,
  p_account text default null,
  p_window_seconds integer default 900,
  p_address_limit integer default 10,
  p_account_limit integer default 20
)
returns table (attempt_id bigint, retry_after integer, user_id uuid, role text, password_hash text,
               disabled boolean, operators integer)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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

-- The password (or the cron secret) was right: the attempt is not a
-- failure, and a session opens. Expired sessions are cleared on the way.
create or replace function public.ops_signin_succeeded(
  p_attempt_id bigint,
  p_token_hash text,
  p_user_id uuid default null,
  p_secret_tag text default null,
  p_address text default null,
  p_seconds integer default 43200
)
returns table (expires_at timestamptz, via text)
language plpgsql
volatile
security invoker
set search_path = ''
as $$
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
$$;

-- A session by its id's hash: no row when it has expired, or its operator
-- is disabled or gone. Read-only: nothing is written on a GET.
create or replace function public.ops_session_get(p_token_hash text)
returns table (user_name text, role text, via text, secret_tag text, expires_at timestamptz, operators integer)
language sql
stable
security invoker
set search_path = ''
as $$
  select u.name, coalesce(u.role, 'admin'), s.via, s.secret_tag, s.expires_at,
         (select count(*)::integer from public.ops_users o where not o.disabled)
    from public.ops_sessions s
    left join public.ops_users u on u.id = s.user_id
   where s.token_hash = p_token_hash
     and s.expires_at > now()
     and (s.user_id is null or (u.id is not null and not u.disabled));
$$;

-- Sign out: the session is gone for every instance at once.
create or replace function public.ops_session_end(p_token_hash text)
returns table (ended integer, token_hash text)
language sql
volatile
security invoker
set search_path = ''
as $$
  with gone as (delete from public.ops_sessions s where s.token_hash = p_token_hash returning s.token_hash)
  select (select count(*)::integer from gone), p_token_hash;
$$;
