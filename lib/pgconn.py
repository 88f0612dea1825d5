"""The one direct Postgres connection (psycopg 3) of the tools that speak SQL themselves.

`migrate` (lib/migrate.py), `supabase-cron` (lib/cli/supabase_cron.py) and
`seed-demo` (lib/local/demo.py) open one connection each, outside the database
port. They share this setup so the deployment carries one Postgres driver,
psycopg, like the runtime adapter:
- autocommit: a statement outside `connection.transaction()` commits on its
  own, and `transaction()` blocks (savepoints when nested) are the only
  transactions, as the code around them expects;
- no prepared statements (`prepare_threshold=None`): these commands run
  through Supabase's session and transaction poolers, and a transaction
  pooler does not keep a prepared statement from one transaction to the next;
- raw cursors, so statements keep Postgres' own `$1, $2` placeholders (a `%`
  in a LIKE pattern stays literal); without parameters a text may hold several
  statements (the simple query protocol), which a migration file needs;
- rows as dicts, read by column name.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row

Connection = psycopg.AsyncConnection[DictRow]


async def connect(dsn: str, *, timeout_seconds: int = 60) -> Connection:
    """A connection to dsn; raises psycopg.OperationalError when it cannot be made (the message names no password).

    timeout_seconds is libpq's connect_timeout: a minute unless asked (what migrate and seed-demo waited with
    asyncpg); doctor and supabase-cron ask for 15."""
    return await psycopg.AsyncConnection.connect(
        dsn,
        autocommit=True,
        prepare_threshold=None,
        row_factory=dict_row,
        cursor_factory=psycopg.AsyncRawCursor,
        connect_timeout=timeout_seconds,
    )


async def execute(connection: Connection, query: str, *args: Any) -> None:
    # No parameters means the simple query protocol, where several statements may run in one text.
    await connection.execute(query, args or None)


async def fetch(connection: Connection, query: str, *args: Any) -> list[DictRow]:
    cursor = await connection.execute(query, args or None)
    return await cursor.fetchall()


async def fetchrow(connection: Connection, query: str, *args: Any) -> DictRow | None:
    cursor = await connection.execute(query, args or None)
    return await cursor.fetchone()


async def fetchval(connection: Connection, query: str, *args: Any) -> Any:
    """The first column of the first row, or None when there is no row."""
    row = await fetchrow(connection, query, *args)
    return None if row is None else next(iter(row.values()))


def error_text(error: BaseException) -> str:
    """What the server said (its message, detail and hint), or the error's own text when no server answered.

    Not str(error): for a statement psycopg adds the statement's text around the failing position, which an error
    line for the user does not need."""
    diag = error.diag if isinstance(error, psycopg.Error) else None
    if diag is None or not diag.message_primary:
        return str(error)
    parts = [diag.message_primary]
    if diag.message_detail:
        parts.append(f"DETAIL:  {diag.message_detail}")
    if diag.message_hint:
        parts.append(f"HINT:  {diag.message_hint}")
    return "\n".join(parts)
