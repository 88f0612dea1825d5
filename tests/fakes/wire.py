"""A TCP proxy in front of the embedded Postgres that records who spoke when, to count round trips.

Each chunk that crosses it is noted with its direction, in the order it came.
A flight is a run of chunks in one direction: however TCP splits a message,
the client's bytes sent before the server answers anything are one flight,
and one client flight answered by one server flight is one round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit


@dataclass
class Wire:
    dsn: str
    # "client" or "server", one entry per chunk passed on.
    chunks: list[str] = field(default_factory=list)

    def mark(self) -> int:
        return len(self.chunks)

    def client_flights(self, since: int) -> int:
        """Runs of client chunks since `since` (a `mark()`): how many times the client spoke, then waited."""
        return sum(
            1
            for i, who in enumerate(self.chunks[since:], start=since)
            if who == "client" and (i == since or self.chunks[i - 1] != "client")
        )


def _socket_path(dsn: str) -> str:
    parts = urlsplit(dsn)
    return f"{parse_qs(parts.query)['host'][0]}/.s.PGSQL.{parts.port or 5432}"


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, who: str, wire: Wire) -> None:
    try:
        while data := await reader.read(65536):
            # Noted before it is passed on: the answer cannot be noted before the question.
            wire.chunks.append(who)
            writer.write(data)
            await writer.drain()
    except OSError:
        pass
    finally:
        writer.close()


@asynccontextmanager
async def counting_proxy(socket_dsn: str) -> AsyncIterator[Wire]:
    """A DSN for 127.0.0.1 reaching the embedded server (trust auth there), and the record of its traffic."""
    path = _socket_path(socket_dsn)
    wire = Wire("")
    pipes: set[asyncio.Task[None]] = set()

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        server_reader, server_writer = await asyncio.open_unix_connection(path)
        for task in (
            asyncio.create_task(_pipe(client_reader, server_writer, "client", wire)),
            asyncio.create_task(_pipe(server_reader, client_writer, "server", wire)),
        ):
            pipes.add(task)
            task.add_done_callback(pipes.discard)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    parts = urlsplit(socket_dsn)
    wire.dsn = f"postgresql://{parts.username or 'postgres'}@127.0.0.1:{port}{parts.path or '/postgres'}"
    try:
        yield wire
    finally:
        server.close()
        for task in list(pipes):
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        await server.wait_closed()
