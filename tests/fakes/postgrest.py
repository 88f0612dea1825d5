"""A stand-in for PostgREST's RPC endpoint, over the real test database.

No PostgREST binary can be installed here, so this answers
`POST /rest/v1/rpc/<fn>` the way PostgREST's own source says it does. Sources
read (PostgREST/postgrest at 4834678, v14-era; the same logic since v12):

- `src/library/PostgREST/Plan.hs`, `findProc` / `matchesParams`: a function is
  found by name and by the set of argument keys: every required parameter must
  be given, any optional one may be, nothing else. No match is `NoRpc`
  (PGRST202, 404); more than one is `AmbiguousRpc` (PGRST203, 300).
- `Plan.hs`, `callReadPlan`: `txMode` is `SQL.Read` for STABLE and IMMUTABLE
  functions and `SQL.Write` for VOLATILE ones, so a STABLE function that writes
  fails with 25006 (read_only_sql_transaction), which the table maps to 405.
- `Plan.hs`, `treeRestrictRange` / `RangeQuery.restrictRange`: `db-max-rows`
  limits the read over the function's result, RPC included, so a function that
  returns 50,000 rows answers with the first 1000 (Supabase's default).
- `MainTx.hs`, `mainTx`: one transaction per request (`transactionNoRetry`,
  READ COMMITTED unless the role or function says otherwise); PostgREST never
  retries it.
- `Query/PreQuery.hs`, `txVarQuery`: `set_config(..., true)` (transaction
  local) of search_path, the role's settings, `role`, the JWT claims, and the
  function's own hoisted settings (`db-hoisted-tx-settings`, by default
  statement_timeout, plan_filter.statement_cost_limit and
  default_transaction_isolation; `Config.hs`), in that order, so a function's
  own `set statement_timeout` overrides the role's. Supabase gives the
  authenticator role `statement_timeout` and `lock_timeout` of 8 s; here they
  are set local the same way.
- `Error.hs`, `mapSQLtoHTTP` / `pgErrorStatus`: the SQLSTATE to HTTP status
  table (`status_for_sqlstate` below, case by case), 503 for a lost connection
  (`ClientError`, PGRST001) and for a refused one (`ConnectionUsageError`,
  PGRST000), 504 for a pool acquisition timeout (PGRST003). Every error body is
  `{code, message, details, hint}` with a `Proxy-Status: PostgREST;
  error=<code>` header (`errorResponseFor`).

What sits in front of PostgREST on a real Supabase (Kong, Cloudflare) can also
answer on its own: 502/503/504/520 with a body that carries only `message`, or
an HTML page. Those, and a read timeout after the call committed, can be
injected per function with `fail_next`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx

_RPC_PATH = re.compile(r"/rest/v1/rpc/(?P<fn>[a-z_][a-z0-9_]*)$")
# Supabase's default `db-max-rows`.
MAX_ROWS = 1000
# Supabase's authenticator role settings.
STATEMENT_TIMEOUT = "8s"
LOCK_TIMEOUT = "8s"
# Config.hs, defaultHoistedAllowList.
HOISTED_SETTINGS = ("statement_timeout", "plan_filter.statement_cost_limit", "default_transaction_isolation")


def status_for_sqlstate(code: str, message: str = "", authed: bool = True) -> int:
    """Error.hs `mapSQLtoHTTP`, in its order (the first matching case wins)."""
    cls = code[:2]
    if cls == "08":
        return 503  # pg connection err
    if cls == "09":
        return 500  # triggered action exception
    if cls in ("0L", "0P"):
        return 403  # invalid grantor / role specification
    if code in ("23503", "23505"):
        return 409  # foreign key / unique violation
    if code == "25006":
        return 405  # read_only_sql_transaction
    if code == "21000":
        return 400 if message.endswith("requires a WHERE clause") else 500
    if code == "22023":
        return 401 if message.startswith("role") and message.endswith("does not exist") else 400
    if cls in ("25", "2D", "38", "39", "3B", "40"):
        return 500  # tx state, tx termination, routine exceptions, savepoint, tx rollback (40001, 40P01)
    if cls == "28":
        return 403  # invalid auth specification
    if code == "53400":
        return 500  # config limit exceeded
    if cls == "53":
        return 503  # insufficient resources (53300 too_many_connections)
    if cls in ("54", "55"):
        return 500  # too complex; object not in prerequisite state (55P03 lock_not_available)
    if code == "57P01":
        return 503  # terminating connection due to administrator command
    if cls in ("57", "58", "F0", "HV"):
        return 500  # operator intervention (57014 query_canceled), system, config file, FDW
    if code == "P0001":
        return 400  # default code of RAISE
    if cls in ("P0", "XX"):
        return 500
    if code == "42883":
        return 406 if message.startswith("function xmlagg(") else 404
    if code == "42P01":
        return 404
    if code == "42P17":
        return 500
    if code == "42501":
        return 403 if authed else 401
    if cls == "PT" and code[2:].isdigit():
        return int(code[2:])
    return 400


def error_response(status: int, code: str, message: str, details: Any = None, hint: Any = None) -> httpx.Response:
    return httpx.Response(
        status,
        json={"code": code, "message": message, "details": details, "hint": hint},
        headers={"Proxy-Status": f"PostgREST; error={code}"},
    )


# -- injectable faults ---------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """What to do instead of (`before`) or after (`after_commit`) running one call."""

    when: str  # "before" | "after_commit"
    respond: Callable[[httpx.Request], httpx.Response] | None = None
    exception: Callable[[httpx.Request], Exception] | None = None


def gateway_error(status: int = 503, message: str | None = None, html: bool = False) -> Fault:
    """A proxy's own answer: a body with only `message`, or an HTML page; no PostgREST code."""
    if html:
        page = f"<html><body><h1>{status}</h1>upstream unavailable</body></html>"
        return Fault(
            "before", respond=lambda _: httpx.Response(status, text=page, headers={"content-type": "text/html"})
        )
    text = message or "An invalid response was received from the upstream server"
    return Fault("before", respond=lambda _: httpx.Response(status, json={"message": text}))


def connection_refused() -> Fault:
    return Fault("before", exception=lambda request: httpx.ConnectError("connection refused", request=request))


def sql_error(code: str, message: str = "injected") -> Fault:
    """PostgREST's answer to a SQL error the call raised (nothing ran)."""
    return Fault("before", respond=lambda _: error_response(status_for_sqlstate(code, message), code, message))


def read_timeout_after_commit() -> Fault:
    """The call ran and committed; the answer never reached the client."""
    return Fault("after_commit", exception=lambda request: httpx.ReadTimeout("read timed out", request=request))


# -- the schema cache ----------------------------------------------------------


@dataclass(frozen=True)
class Routine:
    """SchemaCache.hs `Routine`, the parts RPC calls use."""

    name: str
    params: tuple[tuple[str, str, bool], ...]  # (name, type, required)
    volatility: str  # 'i' | 's' | 'v'
    settings: tuple[tuple[str, str], ...]  # hoisted proconfig settings

    def matches(self, keys: set[str]) -> bool:
        """Plan.hs `matchesParams`."""
        if not self.params:
            return not keys
        required = {name for name, _, req in self.params if req}
        optional = {name for name, _, req in self.params if not req}
        return keys - optional == required


_ROUTINES = """
select p.proname as name,
       coalesce(array(select unnest(p.proargnames[1:p.pronargs])), '{}') as names,
       array(select format_type(t, null) from unnest(p.proargtypes) t) as types,
       p.pronargdefaults as defaults,
       p.provolatile::text as volatility,
       coalesce(array(select s from unnest(p.proconfig) s where split_part(s, '=', 1) = any($1::text[])), '{}')
         as settings
  from pg_proc p
 where p.pronamespace = 'public'::regnamespace and p.prokind = 'f'
"""


@dataclass
class PostgrestEmulator:
    """Answers RPC calls on `dsn`; `calls` counts requests per function, `committed` calls that committed."""

    dsn: str
    max_rows: int | None = MAX_ROWS
    statement_timeout: str = STATEMENT_TIMEOUT
    lock_timeout: str = LOCK_TIMEOUT
    calls: dict[str, int] = field(default_factory=dict)
    committed: dict[str, int] = field(default_factory=dict)
    _pool: asyncpg.Pool | None = None
    _routines: dict[str, list[Routine]] | None = None
    _faults: dict[str, list[Fault]] = field(default_factory=dict)

    def fail_next(self, fn: str, *faults: Fault) -> None:
        """The next calls of `fn` meet these faults, one each, in order."""
        self._faults.setdefault(fn, []).extend(faults)

    def reload_schema(self) -> None:
        """Like `NOTIFY pgrst, 'reload schema'`: read the functions again on the next call."""
        self._routines = None

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _pool_now(self) -> asyncpg.Pool:
        if self._pool is None:
            self._pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=20, statement_cache_size=0)
        return self._pool

    async def _schema(self, connection: asyncpg.Connection) -> dict[str, list[Routine]]:
        if self._routines is None:
            routines: dict[str, list[Routine]] = {}
            for row in await connection.fetch(_ROUTINES, list(HOISTED_SETTINGS)):
                count = len(row["types"])
                names = list(row["names"]) + [""] * (count - len(row["names"]))
                params = tuple((names[i], row["types"][i], i < count - row["defaults"]) for i in range(count))
                settings = tuple(tuple(s.split("=", 1)) for s in row["settings"])
                routines.setdefault(row["name"], []).append(Routine(row["name"], params, row["volatility"], settings))
            self._routines = routines
        return self._routines

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        match = _RPC_PATH.search(request.url.path)
        if match is None:
            return error_response(404, "PGRST125", "Invalid path specified in request URL")
        if request.method != "POST":
            return error_response(405, "PGRST101", f"Cannot use the {request.method} method on RPC")
        fn = match["fn"]
        self.calls[fn] = self.calls.get(fn, 0) + 1
        fault = self._faults[fn].pop(0) if self._faults.get(fn) else None
        if fault is not None and fault.when == "before":
            if fault.exception is not None:
                raise fault.exception(request)
            assert fault.respond is not None
            return fault.respond(request)

        try:
            args = json.loads(request.content or b"{}")
        except ValueError:
            return error_response(400, "PGRST102", "Empty or invalid json")
        if not isinstance(args, dict):
            return error_response(400, "PGRST102", "Empty or invalid json")

        pool = await self._pool_now()
        try:
            async with pool.acquire() as connection:
                routine_or_error = await self._find(connection, fn, set(args))
                if isinstance(routine_or_error, httpx.Response):
                    return routine_or_error
                text = await self._run(connection, routine_or_error, args)
        except asyncpg.PostgresError as error:
            code = getattr(error, "sqlstate", None) or "XX000"
            message = str(error.args[0]) if error.args else type(error).__name__
            return error_response(
                status_for_sqlstate(code, message),
                code,
                message,
                getattr(error, "detail", None),
                getattr(error, "hint", None),
            )
        except (asyncpg.InterfaceError, OSError) as error:
            # Error.hs: a ClientError (the connection went away) is PGRST001, 503.
            return error_response(
                503, "PGRST001", "Database client error. Retrying the connection.", type(error).__name__
            )
        self.committed[fn] = self.committed.get(fn, 0) + 1
        if fault is not None and fault.exception is not None:
            raise fault.exception(request)
        return httpx.Response(200, content=text.encode(), headers={"content-type": "application/json"})

    async def _find(self, connection: asyncpg.Connection, fn: str, keys: set[str]) -> Routine | httpx.Response:
        """Plan.hs `findProc` (without its single-unnamed-json-parameter fallback, which we never use)."""
        overloads = (await self._schema(connection)).get(fn, [])
        found = [routine for routine in overloads if routine.matches(keys)]
        if len(found) == 1:
            return found[0]
        if not found:
            listed = ", ".join(sorted(keys))
            plural = "s" if len(keys) > 1 else ""
            searched = f" with parameter{plural} {listed}" if keys else " without parameters"
            return error_response(
                404,
                "PGRST202",
                f"Could not find the function public.{fn}"
                + (f"({listed})" if keys else " without parameters")
                + " in the schema cache",
                f"Searched for the function public.{fn}{searched} or with a single unnamed json/jsonb parameter,"
                " but no matches were found in the schema cache.",
                None,
            )
        candidates = ", ".join(
            f"public.{r.name}(" + ", ".join(f"{name} => {type_}" for name, type_, _ in r.params) + ")" for r in found
        )
        return error_response(
            300,
            "PGRST203",
            f"Could not choose the best candidate function between: {candidates}",
            None,
            "Try renaming the parameters or the function itself in the database so function overloading can be"
            " resolved",
        )

    async def _run(self, connection: asyncpg.Connection, routine: Routine, args: dict[str, Any]) -> str:
        types = {name: type_ for name, type_, _ in routine.params}
        columns = ", ".join(f"{name} {types[name]}" for name in args)
        named = ", ".join(f"{name} => a.{name}" for name in args)
        # QueryBuilder.hs `callPlanToQuery`: the JSON body becomes a typed record
        # (json_to_record), and the function is called laterally on it.
        source = f"json_to_record($1::json) as a({columns}) cross join lateral " if args else ""
        limit = f" limit {int(self.max_rows)}" if self.max_rows is not None else ""
        sql = (
            "select coalesce(json_agg(r), '[]'::json)::text"
            f" from (select pgrst_call.* from {source}public.{routine.name}({named}) pgrst_call{limit}) r"
        )
        read_only = routine.volatility in ("s", "i")
        async with connection.transaction(isolation="read_committed", readonly=read_only):
            await connection.execute(
                "select set_config('search_path', '\"public\"', true),"
                " set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true),"
                " set_config('role', 'service_role', true)",
                self.statement_timeout,
                self.lock_timeout,
            )
            for name, value in routine.settings:
                await connection.execute("select set_config($1, $2, true)", name, value)
            text: str = await connection.fetchval(sql, *([json.dumps(args)] if args else []))
        return text
