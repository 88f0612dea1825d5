"""The supabase adapter: supabase-py's `AsyncClient.rpc()` over PostgREST.

The httpx client is ours, injected through `AsyncClientOptions`, so it has
explicit timeouts and keep-alive limits. supabase-py does not retry POST RPCs;
this adapter retries transient failures, at most twice and never past the
run's deadline. That is safe because every call we make is idempotent by
construction: claims expire, settles are token-guarded, and begin_run and
request_run carry keys that make a repeat return the first result.

Classifying a failure needs both halves of PostgREST's answer. postgrest-py's
`APIError` keeps only the body's `code`, `message`, `details` and `hint`: a
JSON body loses its HTTP status, and a proxy's body with only `message` (Kong,
Cloudflare: 502/503/504/520) has no code at all. So a response hook records the
status of the last answer in this task's context, and `is_transient` looks at
the SQLSTATE and the status together.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpx
from postgrest.exceptions import APIError
from supabase import AsyncClient, AsyncClientOptions

from lib.db.port import DatabaseError, DatabaseUnavailable, Row, check_identifiers, jsonable
from lib.deadline import RESERVE_SECONDS, Deadline, current_deadline
from lib.loop_local import forget, loop_local, peek

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Short keep-alive: a frozen function's pooled connection may be dead on thaw.
LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=5.0)
RETRY_DELAYS = (0.2, 0.8)
# Outside a run (health, begin_run, end_run) all attempts of one call together
# get this long; inside a run, the run's deadline bounds them as well.
CALL_BUDGET_SECONDS = 25.0
# A retry with less time than this left before the deadline's reserve is not started.
MIN_ATTEMPT_SECONDS = 0.5
# The first attempt's timeout, however little of the run is left.
FIRST_ATTEMPT_FLOOR = 3.0

# PostgREST answers these when it, or the database behind it, is briefly away
# (Error.hs: 503 for 08xxx, 53xxx, 57P01, PGRST000-002; 504 for PGRST003); a
# proxy in front answers 502/503/504/520 on its own.
TRANSIENT_STATUS = frozenset({502, 503, 504, 520})
# Errors a second attempt can get past: serialization failure, deadlock, lock
# timeout, and the connection-level ones.
TRANSIENT_SQLSTATE = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300"})

_last_status: ContextVar[int | None] = ContextVar("supabase_last_status", default=None)


async def _remember_status(response: httpx.Response) -> None:
    _last_status.set(response.status_code)


def is_transient(status: int | None, code: str | None) -> bool:
    """True when the same call may succeed if tried again."""
    code = code or ""
    if code in TRANSIENT_SQLSTATE or code.startswith("08"):
        return True
    if status in TRANSIENT_STATUS:
        return True
    # No status seen (should not happen): a generated error carries it as the code.
    return status is None and code.isdigit() and int(code) in TRANSIENT_STATUS


@dataclass
class SupabaseDatabase:
    url: str
    key: str
    name: str = "supabase"

    async def _client(self) -> AsyncClient:
        async def create() -> AsyncClient:
            http = httpx.AsyncClient(
                timeout=TIMEOUT, limits=LIMITS, http2=False, event_hooks={"response": [_remember_status]}
            )
            options = AsyncClientOptions(httpx_client=http, postgrest_client_timeout=TIMEOUT)
            return AsyncClient(self.url, self.key, options)

        return await loop_local(f"supabase:{id(self)}", create)

    async def close(self) -> None:
        """Close this loop's HTTP connections (local stack and tests; functions just exit)."""
        client = peek(f"supabase:{id(self)}")
        forget(f"supabase:{id(self)}")
        if client is not None:
            await client.options.httpx_client.aclose()

    async def call(self, function: str, /, **args: Any) -> list[Row]:
        check_identifiers(function, args)
        params = {name: jsonable(value) for name, value in args.items()}
        client = await self._client()
        deadline = _call_deadline()
        problem = "no attempt was made"
        for attempt, delay in enumerate((*RETRY_DELAYS, None), start=1):
            # Each attempt ends with the time left, so a slow answer cannot carry
            # the call past the run's deadline. The first one always gets a short
            # floor: settling and closing a run happen in the deadline's reserve.
            left = deadline.remaining()
            timeout = min(TIMEOUT.read or CALL_BUDGET_SECONDS, max(left, FIRST_ATTEMPT_FLOOR if attempt == 1 else 0))
            _last_status.set(None)
            try:
                async with asyncio.timeout(timeout):
                    response = await client.rpc(function, params).execute()
                data: Any = response.data
                return data if isinstance(data, list) else [] if data is None else [data]
            except APIError as error:
                status = _last_status.get()
                message = error.message or (f"HTTP {status}" if status else "PostgREST error")
                if not is_transient(status, error.code):
                    detail = f" ({error.details})" if error.details and error.code else ""
                    raise DatabaseError(f"{message}{detail}", error.code) from error
                problem = f"{message} (HTTP {status})" if status else message
            except (TimeoutError, httpx.TimeoutException):
                # The call may have committed; repeating it is safe (see the module note).
                problem = f"no answer within {timeout:.1f}s"
            except httpx.TransportError as error:
                problem = type(error).__name__
            if delay is None or deadline.remaining() - RESERVE_SECONDS < delay + MIN_ATTEMPT_SECONDS:
                break
            await asyncio.sleep(delay)
        raise DatabaseUnavailable(f"database unavailable: {problem} after {attempt} attempt(s) talking to Supabase")


def _call_deadline() -> Deadline:
    """The earlier of the run's deadline and this call's own cap."""
    own = Deadline.after(CALL_BUDGET_SECONDS + RESERVE_SECONDS)
    run = current_deadline()
    return run if run is not None and run.expires_at < own.expires_at else own
