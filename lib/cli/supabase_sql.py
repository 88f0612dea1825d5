"""The SQL `python -m lib supabase-cron` runs in the user's Supabase project: pg_cron, pg_net and Vault.

Names, statements, the connection (DATABASE_URL) and the helpers that turn
values into SQL text, shared by the commands (lib/cli/supabase_cron.py) and the
kick (lib/cli/supabase_kick.py).
These statements address schemas the service does not own (`cron`, `net`,
`vault`), so they are module-level text here instead of migrations. Values
always travel as bind parameters, except in the pg_cron command text and the
printed script, where they are validated first and quoted as SQL literals by
`literal`.
"""

from __future__ import annotations

import math
import re

import psycopg

from lib import pgconn
from lib.pgconn import Connection
from lib.settings import Settings

JOB_PREFIX = "cronrelay:"
PRUNE_JOB = f"{JOB_PREFIX}prune-cron-history"
# Daily, off the hour so it does not pile onto everyone's midnight jobs.
PRUNE_SCHEDULE = "41 3 * * *"
PRUNE_COMMAND = "delete from cron.job_run_details where coalesce(end_time, start_time) < now() - interval '7 days'"
SECRET_NAME = "cronrelay_cron_secret"
# Marks the Vault secret as ours, so uninstall removes only a secret that install (or its printed SQL) made.
SECRET_DESCRIPTION = "cronrelay: CRON_SECRET, sent by Supabase Cron as its bearer (python -m lib supabase-cron)"
SECRET_PLACEHOLDER = "<your CRON_SECRET>"
# pg_net lets a request run this much longer than a run may, so it never cuts off a run that is still working.
TIMEOUT_MARGIN_SECONDS = 10
# Named jobs (cron.schedule(name, ...) as an upsert) and cron.job_run_details arrived in pg_cron 1.3.
MIN_PG_CRON = (1, 3)
# pg_cron's job names are Postgres `name`s.
MAX_JOB_NAME = 63

ENABLE_HINT = "enable it in Supabase Dashboard → Database → Extensions, or run `create extension {}`"

# -- the statements ---------------------------------------------------------

PG_CRON_VERSION = "select extversion from pg_catalog.pg_extension where extname = 'pg_cron'"
ENSURE_PG_CRON = "create extension if not exists pg_cron"
# The signature pg_net has had since 0.2 (supabase/pg_net sql/pg_net.sql). Checked
# by signature, not by extension, so a `net` schema provided some other way counts.
HAS_HTTP_GET = "select to_regprocedure('net.http_get(text, jsonb, jsonb, integer)') is not null"
ENSURE_PG_NET = "create extension if not exists pg_net"
# Supabase Vault (supabase/vault sql/supabase_vault--0.3.0.sql).
HAS_VAULT = (
    "select to_regprocedure('vault.create_secret(text, text, text, uuid)') is not null"
    " and to_regclass('vault.decrypted_secrets') is not null"
)
# Compared in SQL, so the stored secret never comes back to this process.
SECRET_STATE = (
    "select id, decrypted_secret is not distinct from $1 as same from vault.decrypted_secrets where name = $2"
)
CREATE_SECRET = "select vault.create_secret($1, $2, $3) where not exists (select from vault.secrets where name = $2)"
UPDATE_SECRET = "select vault.update_secret(id, $1) from vault.secrets where name = $2"
SCHEDULE = "select cron.schedule($1, $2, $3)"
# pg_cron names are unique per user; a job of the same name owned by another role is not ours.
UNSCHEDULE_STALE = (
    "select jobname, cron.unschedule(jobname) from cron.job"
    " where jobname like 'cronrelay:%' and username = current_user and jobname <> all($1::text[])"
    " order by jobname"
)
UNSCHEDULE_ALL = (
    "select jobname, cron.unschedule(jobname) from cron.job"
    " where jobname like 'cronrelay:%' and username = current_user order by jobname"
)
DELETE_SECRET = "delete from vault.secrets where name = $1 and description = $2 returning id"
SECRET_EXISTS = "select exists (select from vault.secrets where name = $1)"
STATUS = """
select j.jobid, j.jobname, j.schedule, j.active, j.command,
       r.status, r.start_time, r.end_time, r.return_message
from cron.job j
left join lateral (
    select d.status, d.start_time, d.end_time, d.return_message
    from cron.job_run_details d
    where d.jobid = j.jobid
    order by d.runid desc
    limit 1
) r on true
where j.jobname like 'cronrelay:%' and j.username = current_user
order by j.jobname
"""

HTTP_GET = (
    "select net.http_get("
    "url := {url}, "
    "headers := jsonb_build_object('Authorization', 'Bearer ' || "
    "(select decrypted_secret from vault.decrypted_secrets where name = '" + SECRET_NAME + "')), "
    "timeout_milliseconds := {timeout})"
)


# pg_net keeps each answer in net._http_response (6 hours by default), for every
# caller in the database, not only cronrelay's jobs: counted by status, or by
# `timeout` / `error` when no answer came.
ANSWERS = """
select coalesce(r.status_code::text, case when r.timed_out then 'timeout' else 'error' end) as answer,
       count(*) as calls
from net._http_response r
where r.created > now() - interval '1 hour'
group by 1
order by 1
"""


class SupabaseCronError(Exception):
    """One clear line for the user; `exit_code` 2 for configuration, 3 for the database."""

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def timeout_milliseconds(settings: Settings) -> int:
    return (math.ceil(settings.run_time_budget_seconds) + TIMEOUT_MARGIN_SECONDS) * 1000


def http_get_command(url: str, timeout_ms: int) -> str:
    return HTTP_GET.format(url=literal(url), timeout=timeout_ms)


# -- the connection ------------------------------------------------------


def database_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise SupabaseCronError(
            "DATABASE_URL is not set: supabase-cron talks to your Supabase Postgres directly"
            " (Dashboard → Connect → the session pooler or direct connection string)"
        )
    return settings.database_url.get_secret_value()


def database_error(settings: Settings, doing: str, error: BaseException) -> SupabaseCronError:
    message = " ".join(pgconn.error_text(error).split()) or type(error).__name__
    return SupabaseCronError(f"{doing}: {settings.redact(message)}", exit_code=3)


async def connect(settings: Settings) -> Connection:
    dsn = database_url(settings)
    try:
        # No prepared statements (lib/pgconn.py): Supabase's transaction pooler does not keep them.
        return await pgconn.connect(dsn, timeout_seconds=15)
    except (TimeoutError, OSError, psycopg.Error) as error:
        raise database_error(settings, "could not connect to DATABASE_URL", error) from None


# -- SQL text (the pg_cron commands and the printed script) -----------------


def literal(text: str) -> str:
    """A standard SQL string literal (standard_conforming_strings is on in every supported Postgres)."""
    if "\x00" in text:
        raise SupabaseCronError("a value for the SQL holds a NUL character")
    return "'" + text.replace("'", "''") + "'"


def dollar_quoted(text: str) -> str:
    tag, n = "$$", 0
    while tag in text:
        n += 1
        tag = f"$cmd{n}$"
    return f"{tag}{text}{tag}"


def render_statement(statement: str, *values: str) -> str:
    """`statement` with $1, $2... replaced by SQL text; one pass, so inserted text is never rescanned."""
    return re.sub(r"\$(\d+)", lambda match: values[int(match[1]) - 1], statement)
