"""A TCP proxy in front of the embedded Postgres that delays every chunk, as a network would.

The embedded server listens on a local socket, where a round trip costs tens
of microseconds; against that, any HTTP stack looks slow and round trips look
free. A database in the same cloud region answers in about a millisecond each
way, and then round trips are what a run costs. `delayed_dsn` serves a DSN
for 127.0.0.1 whose every byte arrives `one_way` seconds late, in order, in
both directions, from a loop on its own thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit


def _socket_path(dsn: str) -> str:
    parts = urlsplit(dsn)
    folder = parse_qs(parts.query)["host"][0]
    return f"{folder}/.s.PGSQL.{parts.port or 5432}"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, one_way: float) -> None:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            at, data = await queue.get()
            if not data:
                writer.close()
                return
            wait = at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()

    delivering = asyncio.create_task(deliver())
    try:
        while data := await reader.read(65536):
            queue.put_nowait((loop.time() + one_way, data))
    except OSError:
        pass
    queue.put_nowait((0.0, b""))
    await delivering


@contextmanager
def delayed_dsn(dsn: str, one_way: float) -> Iterator[str]:
    """A DSN reaching the same server through the delaying proxy (trust auth on 127.0.0.1, as embedded sets it)."""
    path = _socket_path(dsn)
    parts = urlsplit(dsn)
    ready = threading.Event()
    found: list[tuple[asyncio.AbstractEventLoop, asyncio.Event, int]] = []

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_unix_connection(path)
        try:
            await asyncio.gather(
                _pipe(client_reader, server_writer, one_way),
                _pipe(server_reader, client_writer, one_way),
                return_exceptions=True,
            )
        except asyncio.CancelledError:
            # The proxy is stopping with connections open: they just close.
            client_writer.close()
            server_writer.close()

    async def serve() -> None:
        stop = asyncio.Event()
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        found.append((asyncio.get_running_loop(), stop, server.sockets[0].getsockname()[1]))
        ready.set()
        async with server:
            await stop.wait()

    thread = threading.Thread(target=lambda: asyncio.run(serve()), name="bench-netdelay", daemon=True)
    thread.start()
    ready.wait(10)
    loop, stop, port = found[0]
    try:
        yield f"postgresql://{parts.username or 'postgres'}@127.0.0.1:{port}{parts.path or '/postgres'}"
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(5)
