"""A real HTTP/1.1 keep-alive server on 127.0.0.1 standing in for a webhook
receiver (or any outside HTTP service): it answers 200 after a delay. For what
respx cannot fake (timeouts, real sockets, closed connections) in tests, and
for the run-requests benchmark. Pass `hits` to get each call's path, headers
and raw body with the moments it arrived and was answered
(`time.monotonic()`), and `reply` to script the answer per call (status,
body, headers, delay, or closing the connection without one)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import respx

from tests.factories import HOOK

WEBHOOK_SECRET = "whsec-test-0123456789"


@dataclass
class Hit:
    body: bytes
    arrived: float
    answered: float | None = None
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    path: str = ""


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b'{"ok":true}'
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    delay: float | None = None  # None: the receiver's own delay
    close: bool = False  # close the connection instead of answering


Replier = Callable[[Hit, int], Reply]  # (the call, its index) -> the answer


def _ok(hit: Hit, index: int) -> Reply:
    return Reply()


@asynccontextmanager
async def local_receiver(
    delay: float = 0.0, hits: list[Hit] | None = None, reply: Replier = _ok
) -> AsyncIterator[tuple[str, list[bytes]]]:
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
                request_line, *lines = head.decode("latin-1").split("\r\n")
                headers: dict[str, str] = {}
                for line in lines:
                    name, _, value = line.partition(":")
                    if name:
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                bodies.append(body)
                hit = Hit(body, time.monotonic(), headers=headers, path=request_line.split(" ")[1])
                index = len(bodies) - 1
                if hits is not None:
                    hits.append(hit)
                answer = reply(hit, index)
                await asyncio.sleep(delay if answer.delay is None else answer.delay)
                if answer.close:
                    break
                extra = "".join(f"{name}: {value}\r\n" for name, value in answer.headers)
                writer.write(
                    f"HTTP/1.1 {answer.status} X\r\ncontent-type: {answer.content_type}\r\n{extra}"
                    f"content-length: {len(answer.body)}\r\n\r\n".encode()
                    + answer.body
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
