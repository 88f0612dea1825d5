"""The postgres adapter (psycopg 3): `SELECT ... FROM public.fn(arg => %s, ...)`, one network round trip per call.

It works through Supabase's transaction pooler (Supavisor, port 6543), which
does not keep named prepared statements across transactions. So nothing is
prepared (`prepare_threshold=None`): psycopg sends each call as the unnamed
statement, Parse, Bind, Describe, Execute and Sync in one flight, and reads
one answer. (asyncpg, without its statement cache, needed two round trips:
Parse/Describe first, to learn the parameter types, then Bind/Execute.)
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.types.json import Jsonb

from lib.db.pg_pool import Connection, ConnectionPool
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
# Errors the server sent that mean the connection, not the SQL, failed: the
# connection (08xxx), the server shutting down or starting (57P01-57P03), or
# no free slot (53300). psycopg raises them as OperationalError subclasses,
# like a serialization failure, so the SQLSTATE decides.
_UNREACHABLE_SQLSTATE = frozenset({"57P01", "57P02", "57P03", "53300"})
# The database is there but the call lost a race: a second attempt can pass.
_CONTENTION_SQLSTATE = frozenset({"40001", "40P01", "55P03"})


def classify(error: psycopg.Error) -> str:
    """'unreachable', 'contention' (both retried) or 'permanent'."""
    code = error.sqlstate or ""
    if code.startswith("08") or code in _UNREACHABLE_SQLSTATE:
        return "unreachable"
    if code in _CONTENTION_SQLSTATE:
        return "contention"
    if not code and isinstance(error, psycopg.OperationalError | psycopg.InterfaceError):
        # libpq's own failures carry no SQLSTATE: connecting failed (refused,
        # no such host, and also what the server said while refusing the
        # login), the connection broke, or it was closed under us.
        return "unreachable"
    return "permanent"


def _call_deadline() -> Deadline:
    """The earlier of the run's deadline and this call's own cap."""
    own = Deadline.after(CALL_BUDGET_SECONDS + RESERVE_SECONDS)
    run = current_deadline()
    return run if run is not None and run.expires_at < own.expires_at else own


# The name of every jsonb parameter of our functions, and nothing else
# (tests/test_postgres_adapter.py checks it against the schema). The call
# carries no parameter types, and learning them from the server would cost
# the round trip this adapter exists to save; so the name says it.
JSON_ARGUMENTS = frozenset(
    {
        "p_alerts",
        "p_args",
        "p_blocked",
        "p_changes",
        "p_channels",
        "p_deadlines",
        "p_details",
        "p_empty_stats",
        "p_ids",
        "p_items",
        "p_jobs",
        "p_outcomes",
        "p_payload",
        "p_settings",
        "p_stats",
        "payload",
    }
)


@lru_cache(maxsize=512)
def call_statement(function: str, names: tuple[str, ...]) -> str:
    """The one statement shape this adapter runs. Names are checked identifiers."""
    named = ", ".join(f"{name} => %s" for name in names)
    return f"select coalesce(json_agg(r), '[]'::json)::text from public.{function}({named}) r"


@dataclass
class PostgresDatabase:
    dsn: str
    max_connections: int = 10
    name: str = "postgres"
    # Cut out of every message about an unreachable database: the password,
    # and what libpq takes for part of a host name when a password holds an
    # unencoded @ (it ends the credentials at the first @, and quotes the host
    # it could not resolve). lib/settings.py refuses such a URL; a DSN given
    # here directly is not checked there.
    _secrets: tuple[str, ...] = field(default=(), init=False, repr=False)
    # A DSN libpq cannot read fails every call at once, without libpq's
    # message (which quotes the DSN). lib/settings.py refuses such a URL.
    _readable: bool = field(default=True, init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            params = conninfo_to_dict(self.dsn)
        except psycopg.Error:
            self._readable = False
            return
        hosts = str(params.get("host", "")).split(",")
        found = [str(params.get("password") or ""), *(host.rpartition("@")[0] for host in hosts)]
        self._secrets = tuple(sorted({value for value in found if value}, key=len, reverse=True))

    async def _pool(self) -> ConnectionPool:
        async def create() -> ConnectionPool:
            return ConnectionPool(self.dsn, self.max_connections)

        return await loop_local(f"pg:{id(self)}", create)

    async def call(self, function: str, /, **args: Any) -> list[Row]:
        check_identifiers(function, args)
        if not self._readable:
            raise DatabaseError("the database URL is not one libpq can read (see DATABASE_URL's check at startup)")
        statement = call_statement(function, tuple(args))
        values = [_argument(name, value) for name, value in args.items()]
        deadline = _call_deadline()
        for attempt, delay in enumerate((*RETRY_DELAYS, None), start=1):
            left = deadline.remaining()
            timeout = min(STATEMENT_TIMEOUT_SECONDS, max(left, FIRST_ATTEMPT_FLOOR if attempt == 1 else 0))
            try:
                text = await self._fetch(statement, values, timeout)
                return json.loads(text)  # type: ignore[no-any-return]
            except psycopg.Error as error:
                kind = classify(error)
                if kind == "permanent" and error.sqlstate is None:
                    # Raised before anything was sent: an argument psycopg cannot
                    # encode (a NUL in a string, an unknown type). Our bug, not
                    # the database's state.
                    raise DatabaseError(f"bad argument for {function}: {error}") from error
                if kind == "permanent":
                    raise DatabaseError(_message(error), error.sqlstate) from error
                last: BaseException = error
            except _UNREACHABLE as error:
                kind, last = "unreachable", error
            # A broken connection was closed when it came back (see
            # lib/db/pg_pool.py), so the next attempt gets a fresh one; the
            # other connections, and calls in flight on them, are left alone.
            if delay is None or deadline.remaining() - RESERVE_SECONDS < delay + MIN_ATTEMPT_SECONDS:
                break
            await asyncio.sleep(delay)
        if kind == "unreachable":
            raise DatabaseUnavailable(
                f"database unavailable: {self._describe_unreachable(last)} after {attempt} attempt(s)"
            ) from last
        assert isinstance(last, psycopg.Error)
        raise DatabaseError(f"{_message(last)} after {attempt} attempt(s)", last.sqlstate) from last

    async def _fetch(self, statement: str, values: list[Any], seconds: float) -> str:
        """One attempt: a connection and the statement's answer, both within `seconds`."""
        pool = await self._pool()
        loop = asyncio.get_running_loop()
        ends = loop.time() + seconds
        try:
            connection = await pool.take(min(CONNECT_TIMEOUT_SECONDS, seconds))
        except TimeoutError:
            raise TimeoutError(f"no connection within {min(CONNECT_TIMEOUT_SECONDS, seconds):.1f} s") from None
        # The statement runs in a task of its own, so that running out of time
        # does not wait for psycopg's cancellation (a request to the server and
        # up to 5 s for its answer): the pool finishes that and closes the
        # connection meanwhile.
        work = asyncio.ensure_future(_run(connection, statement, values))
        try:
            done, _ = await asyncio.wait({work}, timeout=max(0.0, ends - loop.time()))
        except BaseException:
            pool.abandon(connection, work)
            raise
        if not done:
            pool.abandon(connection, work)
            raise TimeoutError(f"no answer within {seconds:.1f} s")
        await pool.give_back(connection)
        return work.result()

    async def _drop_pool(self) -> None:
        key = f"pg:{id(self)}"
        pool = peek(key)
        forget(key)
        if pool is not None:
            await pool.close()

    async def close(self) -> None:
        await self._drop_pool()

    def _describe_unreachable(self, error: BaseException) -> str:
        # libpq's messages run over lines ("...\n\tIs the server running..."): one line for the log.
        text = " ".join(str(error).split()) or type(error).__name__
        # A message quoting the DSN keeps only what follows its credentials.
        text = text.split("@")[-1] if "://" in text else text
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


async def _run(connection: Connection, statement: str, values: list[Any]) -> str:
    cursor = await connection.execute(statement, values)
    row = await cursor.fetchone()
    assert row is not None  # json_agg over the function's rows: always one row
    return row[0]  # type: ignore[no-any-return]


def _argument(name: str, value: Any) -> Any:
    # A jsonb parameter's value, whatever it is, goes as JSON, as PostgREST
    # sends it: {"a": 1}, [1], and also "text" as the JSON string "text" (the
    # function then says what it thinks of it). Every other value psycopg
    # encodes natively: a str or None untyped, for the function's signature to
    # decide; an int as the smallest of smallint, integer and bigint that holds
    # it, which Postgres widens to an integer or bigint parameter; a bool,
    # datetime or UUID as itself. A dict or list under another name still goes
    # as jsonb (psycopg would make a list a Postgres array).
    if value is not None and (name in JSON_ARGUMENTS or isinstance(value, dict | list | tuple)):
        return Jsonb(jsonable(value))
    return value


def _message(error: psycopg.Error) -> str:
    # The server's primary message and detail, as asyncpg gave them; str(error)
    # would add libpq's "LINE 1: ..." context and hint.
    message = error.diag.message_primary or str(error) or type(error).__name__
    detail = error.diag.message_detail
    return f"{message} ({detail})" if detail else message
