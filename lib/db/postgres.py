"""The asyncpg adapter: `SELECT ... FROM public.fn(arg => $1, ...)`.

It works through Supabase's transaction pooler (Supavisor/PgBouncer), which
cannot keep named prepared statements across transactions, so the statement
cache is off.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import asyncpg

from lib.db.port import DatabaseError, DatabaseUnavailable, Row, check_identifiers, jsonable
from lib.loop_local import forget, loop_local, peek

CONNECT_TIMEOUT_SECONDS = 10.0
STATEMENT_TIMEOUT_SECONDS = 60.0
_UNREACHABLE = (OSError, asyncpg.InterfaceError, asyncpg.CannotConnectNowError, TimeoutError)


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
            )

        return await loop_local(f"pg:{id(self)}", create)

    async def call(self, function: str, /, **args: Any) -> list[Row]:
        check_identifiers(function, args)
        statement = call_statement(function, list(args))
        values = [_argument(v) for v in args.values()]
        # One retry when the connection itself failed: a pooled connection may
        # have died while the function was frozen. Claims expire and settles are
        # token-guarded, so running a call twice is safe.
        for attempt in (1, 2):
            try:
                pool = await self._pool()
                text = await pool.fetchval(statement, *values)
                return json.loads(text)  # type: ignore[no-any-return]
            except asyncpg.PostgresError as error:
                raise DatabaseError(_message(error), getattr(error, "sqlstate", None)) from error
            except _UNREACHABLE as error:
                await self._drop_pool()
                if attempt == 2:
                    raise DatabaseUnavailable(f"database unavailable: {_describe_unreachable(error)}") from error
        raise AssertionError("unreachable")

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
