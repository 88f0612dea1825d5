"""The kick: an insert into `public.cron_run_requests` calls the drain at once (`supabase-cron install`).

A statement trigger on `cron_run_requests` inserts calls `/api/cron/run-requests`
through pg_net, so an app's `request_run` starts within about a second instead
of at the next minute. At most one call per second however many rows arrive
(the `public.cron_kicks` row, from migration 0004, is the throttle), and a
failing kick never fails the insert. The roles that insert (service_role, an
app's own) may not read Vault, so the trigger function is `security definer`,
owned by the installing role, with `search_path = ''`.
"""

from __future__ import annotations

from lib import pgconn
from lib.cli.supabase_sql import SECRET_NAME, literal, timeout_milliseconds
from lib.pgconn import Connection
from lib.settings import Settings

# The kick: the drain's path, the trigger and its function (dropped with cascade, which drops the trigger).
KICK_PATH = "/api/cron/run-requests"
KICK_FUNCTION = "public.cronrelay_kick()"
HAS_QUEUE = (
    "select to_regclass('public.cron_run_requests') is not null and to_regclass('public.cron_kicks') is not null"
)
DROP_KICK = f"drop function if exists {KICK_FUNCTION} cascade"
HAS_KICK = "select to_regprocedure('public.cronrelay_kick()') is not null"
KICK_BODY = (
    """create or replace function public.cronrelay_kick()
returns trigger
language plpgsql
security definer
set search_path = ''
as $kick$
begin
  -- At most one call per second, however many rows arrive: the first insert
  -- of a second takes the throttle row; a concurrent one skips it, never waits.
  begin
    update public.cron_kicks k
       set last_kicked_at = now()
     where k.id = (select c.id from public.cron_kicks c
                    where c.id = 1 and c.last_kicked_at <= now() - interval '1 second'
                      for update skip locked);
    if found then
      perform net.http_post(
        url := {url},
        body := '{{}}'::jsonb,
        headers := jsonb_build_object(
          'Content-Type', 'application/json',
          'Authorization', 'Bearer ' || (select decrypted_secret from vault.decrypted_secrets
                                          where name = '"""
    + SECRET_NAME
    + """')),
        timeout_milliseconds := {timeout});
    end if;
  exception when others then
    -- A failing kick never fails the insert: the row waits for the next tick.
    raise warning 'cronrelay kick failed: %', sqlerrm;
  end;
  return null;
end
$kick$"""
)
# The roles exist once migrate has run (it creates anon, authenticated and service_role), as does the queue.
KICK_TRIGGER = """do $trigger$
begin
  if to_regclass('public.cron_run_requests') is null or to_regclass('public.cron_kicks') is null then
    raise notice 'cronrelay kick: run `python -m lib migrate` first, then install again';
    return;
  end if;
  revoke execute on function public.cronrelay_kick() from public, anon, authenticated;
  drop trigger if exists cronrelay_kick on public.cron_run_requests;
  create trigger cronrelay_kick
    after insert on public.cron_run_requests
    for each statement execute function public.cronrelay_kick();
end
$trigger$"""


def kick_statements(base_url: str, settings: Settings) -> list[str]:
    """The kick, as statements: the trigger function, then its grants and the trigger (when the queue exists)."""
    body = KICK_BODY.format(url=literal(f"{base_url}{KICK_PATH}"), timeout=timeout_milliseconds(settings))
    return [body, KICK_TRIGGER]


async def install_kick(connection: Connection, base_url: str, settings: Settings) -> str:
    """Inside install's transaction; the line `install` prints after `kick:`."""
    if not await pgconn.fetchval(connection, HAS_QUEUE):
        return "not installed: run `python -m lib migrate` on this database first, then install again"
    for statement in kick_statements(base_url, settings):
        await pgconn.execute(connection, statement)
    return f"installed (inserts into cron_run_requests call {base_url}{KICK_PATH}, at most once a second)"


async def remove_kick(connection: Connection) -> str:
    """`install --no-kick` removes a kick an earlier install made."""
    had = await pgconn.fetchval(connection, HAS_KICK)
    await pgconn.execute(connection, DROP_KICK)
    return "removed (--no-kick)" if had else "left out (--no-kick)"
