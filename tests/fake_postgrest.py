"""A stand-in for PostgREST's RPC endpoint, over the real test database.

`POST /rest/v1/rpc/<fn>` behaves the way PostgREST does for our functions:
the JSON object becomes named arguments typed from the function's signature,
the call runs as `service_role` in its own transaction, rows come back
serialized by Postgres's own JSON functions, and errors come back as
`{code, message, details, hint}` with PostgREST's status codes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import asyncpg
import httpx

_RPC_PATH = re.compile(r"/rest/v1/rpc/(?P<fn>[a-z_][a-z0-9_]*)$")


def status_for_sqlstate(code: str) -> int:
    """PostgREST's mapping from SQLSTATE to HTTP status."""
    exact = {"23503": 409, "23505": 409, "25006": 405, "P0001": 400, "42883": 404, "42P01": 404, "42501": 403}
    if code in exact:
        return exact[code]
    by_class = {
        "08": 503, "09": 500, "0L": 403, "0P": 403, "25": 500, "28": 403, "2D": 500, "38": 500, "39": 500,
        "3B": 500, "40": 500, "53": 503, "54": 500, "55": 500, "57": 500, "58": 500, "F0": 500, "HV": 500,
        "P0": 500, "XX": 500,
    }  # fmt: skip
    return by_class.get(code[:2], 400)


def _error(status: int, code: str, message: str, details: Any = None, hint: Any = None) -> httpx.Response:
    return httpx.Response(status, json={"code": code, "message": message, "details": details, "hint": hint})


class PostgrestEmulator:
    """Answers RPC calls; `calls` counts them per function, for round-trip checks."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.calls: dict[str, int] = {}
        self._pool: asyncpg.Pool | None = None
        self._signatures: dict[str, dict[str, str]] = {}

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _pool_now(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=20, statement_cache_size=0)
        return self._pool

    async def _signature(self, connection: asyncpg.Connection, fn: str) -> dict[str, str] | None:
        if fn not in self._signatures:
            row = await connection.fetchrow(
                """
                select array(select unnest(p.proargnames[1:p.pronargs])) as names,
                       array(select format_type(t, null) from unnest(p.proargtypes) t) as types
                  from pg_proc p
                 where p.pronamespace = 'public'::regnamespace and p.proname = $1
                """,
                fn,
            )
            if row is None:
                return None
            self._signatures[fn] = dict(zip(row["names"], row["types"], strict=True))
        return self._signatures[fn]

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        match = _RPC_PATH.search(request.url.path)
        if request.method != "POST" or match is None:
            return _error(404, "PGRST125", f"Invalid path specified in request URL: {request.url.path}")
        fn = match["fn"]
        self.calls[fn] = self.calls.get(fn, 0) + 1
        try:
            args = json.loads(request.content or b"{}")
        except ValueError:
            return _error(400, "PGRST102", "Empty or invalid json")
        if not isinstance(args, dict):
            return _error(400, "PGRST102", "Empty or invalid json")

        pool = await self._pool_now()
        async with pool.acquire() as connection:
            signature = await self._signature(connection, fn)
            if signature is None or not set(args) <= set(signature):
                names = ", ".join(sorted(args))
                return _error(
                    404,
                    "PGRST202",
                    f"Could not find the function public.{fn}({names}) in the schema cache",
                    hint="Perhaps you meant to call another function",
                )
            columns = ", ".join(f"{name} {signature[name]}" for name in args)
            named = ", ".join(f"{name} => a.{name}" for name in args)
            source = f"json_to_record($1::json) as a({columns}) cross join lateral " if args else ""
            sql = f"select coalesce(json_agg(r), '[]'::json)::text from {source}public.{fn}({named}) r"
            try:
                async with connection.transaction():
                    await connection.execute("set local role service_role")
                    text = await connection.fetchval(sql, *([json.dumps(args)] if args else []))
            except asyncpg.PostgresError as error:
                code = getattr(error, "sqlstate", None) or "XX000"
                return _error(
                    status_for_sqlstate(code),
                    code,
                    str(error.args[0]) if error.args else type(error).__name__,
                    getattr(error, "detail", None),
                    getattr(error, "hint", None),
                )
        return httpx.Response(200, content=text.encode(), headers={"content-type": "application/json"})
