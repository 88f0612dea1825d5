"""The one outside HTTP client (Telegram, webhooks, alerts), one per event loop."""

from __future__ import annotations

import httpx

from lib.loop_local import loop_local

# Serverless functions freeze between invocations; a pooled connection that sat
# frozen past the peer's idle timeout is dead. A short keep-alive expiry and
# HTTP/1.1 (no long-lived multiplexed HTTP/2 connection) keep reuse safe.
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


async def _new_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=DEFAULT_TIMEOUT, limits=LIMITS, http2=False, follow_redirects=False)


async def http_client() -> httpx.AsyncClient:
    return await loop_local("http", _new_client)


# What is kept of an outside service's answer: enough to debug, never a whole download.
PREVIEW_BYTES = 2048


async def read_preview(response: httpx.Response, limit: int = PREVIEW_BYTES) -> bytes:
    """The first `limit` bytes of a streamed answer; the rest is never read."""
    collected = bytearray()
    async for chunk in response.aiter_bytes():
        collected += chunk
        if len(collected) >= limit:
            break
    return bytes(collected[:limit])
