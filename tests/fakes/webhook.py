"""A real HTTP/1.1 keep-alive server on 127.0.0.1 standing in for a webhook
receiver: it answers 200 after a delay. For what respx cannot fake (timeouts,
real sockets) in tests, and for the run-requests benchmark. Pass `hits` to get
each call's body with the moments it arrived and was answered
(`time.monotonic()`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import respx

from tests.factories import HOOK

WEBHOOK_SECRET = "whsec-test-0123456789"


@dataclass
class Hit:
    body: bytes
    arrived: float
    answered: float | None = None


@asynccontextmanager
async def local_receiver(delay: float = 0.0, hits: list[Hit] | None = None) -> AsyncIterator[tuple[str, list[bytes]]]:
    """Serve until the block ends; yields the hook URL and the bodies received so far."""
    bodies: list[bytes] = []
    handlers: set[asyncio.Task[Any]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                bodies.append(body)
                hit = Hit(body, time.monotonic())
                if hits is not None:
                    hits.append(hit)
                await asyncio.sleep(delay)
                writer.write(
                    b'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}'
                )
                hit.answered = time.monotonic()
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            handlers.discard(task)

    server = await asyncio.start_server(handle, "127.0.0.1", 0, backlog=512)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/hook", bodies
    finally:
        server.close()
        pending = list(handlers)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await server.wait_closed()


def hook_route(http_mock: respx.MockRouter, url: str = HOOK, **mock: Any) -> respx.Route:
    """A respx route for a webhook target, where only behaviour matters."""
    return http_mock.post(url).mock(**mock)
