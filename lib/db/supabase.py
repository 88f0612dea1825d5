"""The supabase adapter: supabase-py's `AsyncClient.rpc()` over PostgREST.

The httpx client is ours, injected through `AsyncClientOptions`, so it has
explicit timeouts and keep-alive limits. supabase-py does not retry POST RPCs;
this adapter retries transient failures twice, which is safe because claims
expire and settles are token-guarded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import httpx
from postgrest.exceptions import APIError
from supabase import AsyncClient, AsyncClientOptions

from lib.db.port import DatabaseError, DatabaseUnavailable, Row, check_identifiers, jsonable
from lib.loop_local import forget, loop_local, peek

TIMEOUT = httpx.Timeout(30.0, connect=5.0)
# Short keep-alive: a frozen function's pooled connection may be dead on thaw.
LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=5.0)
RETRY_DELAYS = (0.2, 0.8)
# PostgREST answers these when it, or the database behind it, is briefly away.
_TRANSIENT_STATUS = {502, 503, 504, 520}


@dataclass
class SupabaseDatabase:
    url: str
    key: str
    name: str = "supabase"

    async def _client(self) -> AsyncClient:
        async def create() -> AsyncClient:
            http = httpx.AsyncClient(timeout=TIMEOUT, limits=LIMITS, http2=False)
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
        for attempt, delay in enumerate((*RETRY_DELAYS, None), start=1):
            try:
                response = await client.rpc(function, params).execute()
                data: Any = response.data
                return data if isinstance(data, list) else [] if data is None else [data]
            except APIError as error:
                status = _status_of(error)
                if status in _TRANSIENT_STATUS and delay is not None:
                    await asyncio.sleep(delay)
                    continue
                message = error.message or "PostgREST error"
                if status in _TRANSIENT_STATUS:
                    raise DatabaseUnavailable(f"database unavailable: {message}", error.code) from error
                raise DatabaseError(message + (f" ({error.details})" if error.details else ""), error.code) from error
            except httpx.TransportError as error:
                if delay is not None:
                    await asyncio.sleep(delay)
                    continue
                raise DatabaseUnavailable(
                    f"database unavailable: {type(error).__name__} after {attempt} attempts talking to Supabase"
                ) from error
        raise AssertionError("unreachable")


def _status_of(error: APIError) -> int | None:
    # postgrest-py keeps no status code on APIError when the body was JSON; a
    # non-JSON body (a gateway error page) yields a generated error whose
    # details hold the status.
    raw = error.json()
    for field in ("status", "status_code"):
        if isinstance(raw.get(field), int):
            return int(raw[field])
    code = str(error.code or "")
    if code.isdigit():
        return int(code)
    if code.startswith("PGRST0") or code.startswith("08") or code.startswith("53") or code == "57P03":
        return 503
    return None
