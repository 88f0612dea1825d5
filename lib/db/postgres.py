"""The asyncpg adapter: `SELECT ... FROM public.fn(arg => $1, ...)`.

It works through Supabase's transaction pooler (Supavisor/PgBouncer), which
cannot keep named prepared statements across transactions, so the statement
cache is off.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from lib.db.port import DatabaseError, DatabaseUnavailable, Row, check_identifiers, jsonable
from lib.deadline import RESERVE_SECONDS, Deadline, current_deadline
from lib.loop_local import forget, loop_local, peek

CONNECT_TIMEOUT_SECONDS = 10.0
STATEMENT_TIMEOUT_SECONDS = 60.0
RETRY_DELAYS = (0.1, 0.5)
# Outside a run (health, begin_run, end_run) all attempts of one call together
# get this long; inside a run, the run's deadline bounds them as well.
CALL_BUDGET_SECONDS = 25.0
# A retry with less time than this left before the deadline's reserve is not started.
MIN_ATTEMPT_SECONDS = 0.5
# The first attempt's timeout, however little of the run is left (closing a
# run happens in the deadline's reserve).
FIRST_ATTEMPT_FLOOR = 3.0
# Failing to connect, or a command that got no answer in time. The call may
# have committed before the answer was lost; every call we retry is safe to
# repeat (claims expire, settles are token-guarded, runs and requests are keyed).
_UNREACHABLE = (OSError, TimeoutError)
# asyncpg raises these as PostgresError subclasses, so they must be sorted out
# before the "the SQL failed" branch: the connection (08xxx), the server
# shutting down or starting (57P01-57P03), or no free slot (53300).
_UNREACHABLE_SQLSTATE = frozenset({"57P01", "57P02", "57P03", "53300"})
# The database is there but the call lost a race: a second attempt can pass.
_CONTENTION_SQLSTATE = frozenset({"40001", "40P01", "55P03"})


def classify(error: asyncpg.PostgresError) -> str:
    """'unreachable', 'contention' (both retried) or 'permanent'."""
    code = getattr(error, "sqlstate", None) or ""
    if code.startswith("08") or code in _UNREACHABLE_SQLSTATE:
        return "unreachable"
    if code in _CONTENTION_SQLSTATE:
        return "contention"
    return "permanent"


def _call_deadline() -> Deadline:
    """The earlier of the run's deadline and this call's own cap."""
    own = Deadline.after(CALL_BUDGET_SECONDS + RESERVE_SECONDS)
    run = current_deadline()
    return run if run is not None and run.expires_at < own.expires_at else own


async def _keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset on release, which is nothing here.

    asyncpg's default reset sends `pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL` after every use: one more network round trip per
    call. This adapter only ever runs one autocommit statement, a call of one
    of our functions, which leave no session state behind (no advisory locks,
    cursors, LISTEN or session settings; their `set search_path` ends with
    them), so there is nothing to reset.
    """


async def _init_connection(connection: asyncpg.Connection) -> None:
    # Arguments arrive as JSON-able values; jsonb parameters take them as is.
    for type_name in ("json", "jsonb"):
        await connection.set_type_codec(type_name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


def call_statement(function: str, names: list[str]) -> str:
    """The one statement shape this adapter runs. Names are checked identifiers."""
    named = ", ".join(f"{name} => ${i}" for i, name in enumerate(names, start=1))
    return f"select coalesce(json_agg(r), '[]'::json)::text from public.{function}({named}) r"


@dataclass
class PostgresDatabase:
    dsn: str
    max_connections: int = 10
    name: str = "postgres"

    async def _pool(self) -> asyncpg.Pool:
        async def create() -> asyncpg.Pool:
            return await asyncpg.create_pool(
                self.dsn,
                min_size=0,
                max_size=self.max_connections,
                statement_cache_size=0,
                timeout=CONNECT_TIMEOUT_SECONDS,
                command_timeout=STATEMENT_TIMEOUT_SECONDS,
                init=_init_connection,
                reset=_keep_session,
            )

        return await loop_local(f"pg:{id(self)}", create)

    async def call(self, function: str, /, **args: Any) -> list[Row]:
        check_identifiers(function, args)
        statement = call_statement(function, list(args))
        values = [_argument(v) for v in args.values()]
        deadline = _call_deadline()
        for attempt, delay in enumerate((*RETRY_DELAYS, None), start=1):
            left = deadline.remaining()
            timeout = min(STATEMENT_TIMEOUT_SECONDS, max(left, FIRST_ATTEMPT_FLOOR if attempt == 1 else 0))
            try:
                text = await self._fetch(statement, values, timeout)
                return json.loads(text)  # type: ignore[no-any-return]
            except asyncpg.PostgresError as error:
                kind = classify(error)
                if kind == "permanent":
                    raise DatabaseError(_message(error), getattr(error, "sqlstate", None)) from error
                last: BaseException = error
            except (*_UNREACHABLE, asyncpg.InterfaceError, asyncpg.InternalClientError) as error:
                if isinstance(error, ValueError):
                    # An argument asyncpg cannot encode (its client-side DataError):
                    # our bug, not the database's state.
                    raise DatabaseError(f"bad argument for {function}: {error}") from error
                kind, last = "unreachable", error
            # A lost connection is discarded by the pool when released, so the
            # next attempt gets a fresh one; the other connections (and calls in
            # flight on them) are left alone.
            if delay is None or deadline.remaining() - RESERVE_SECONDS < delay + MIN_ATTEMPT_SECONDS:
                break
            await asyncio.sleep(delay)
        if kind == "unreachable":
            raise DatabaseUnavailable(
                f"database unavailable: {_describe_unreachable(last)} after {attempt} attempt(s)"
            ) from last
        assert isinstance(last, asyncpg.PostgresError)
        raise DatabaseError(f"{_message(last)} after {attempt} attempt(s)", last.sqlstate) from last

    async def _fetch(self, statement: str, values: list[Any], seconds: float) -> str:
        pool = await self._pool()
        async with pool.acquire(timeout=CONNECT_TIMEOUT_SECONDS) as connection:
            try:
                return await connection.fetchval(statement, *values, timeout=seconds)  # type: ignore[no-any-return]
            except (OSError, asyncpg.InterfaceError, asyncpg.InternalClientError, asyncpg.PostgresError) as error:
                if isinstance(error, asyncpg.PostgresError) and classify(error) != "unreachable":
                    raise
                # A backend terminated while the connection sat idle can leave
                # asyncpg's protocol mid-state ("another operation is in
                # progress"); close this one connection so the pool never
                # hands it out again. The others, and calls on them, go on.
                connection.terminate()
                raise

    async def _drop_pool(self) -> None:
        key = f"pg:{id(self)}"
        pool = peek(key)
        forget(key)
        if pool is not None:
            pool.terminate()

    async def close(self) -> None:
        await self._drop_pool()


def _argument(value: Any) -> Any:
    # dicts and lists go to jsonb parameters, already in JSON form; everything
    # else (str, int, bool, None, datetime, UUID) asyncpg encodes natively.
    if isinstance(value, dict | list | tuple):
        return jsonable(value)
    return value


def _message(error: asyncpg.PostgresError) -> str:
    message = str(error.args[0]) if error.args else type(error).__name__
    detail = getattr(error, "detail", None)
    return f"{message} ({detail})" if detail else message


def _describe_unreachable(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    # asyncpg errors can quote the DSN; keep the password out of logs.
    return text.split("@")[-1] if "://" in text else text
