"""One event loop's psycopg connections for the postgres adapter: reused with no round trip of their own.

psycopg_pool's AsyncConnectionPool connects in background workers: a caller
waiting for a connection to a database that refuses it sees only "couldn't
get a connection after N sec" once its whole timeout has passed, never why
(refused, a bad password, no such database), and a database that comes back
waits out the pool's reconnect backoff (1, 2, 4... s). Here a caller that
finds no idle connection opens one itself, within its own attempt's time,
and gets libpq's reason at once.

Nothing is sent to the server on checkout or return. A connection goes back
to the idle list only when libpq says it is idle outside a transaction; it
is handed out again only when its socket has nothing to read, since an idle
connection is never spoken to: a backend that was terminated (a restart, a
pooler recycling it) leaves its goodbye and an EOF there. Anything else is
closed, which disturbs no other connection.
"""

from __future__ import annotations

import asyncio
import select
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq

# libpq's own connect timeout, whole seconds (it ignores fractions; 2 is its minimum).
_LIBPQ_CONNECT_TIMEOUT = 10

Connection = psycopg.AsyncConnection[tuple[Any, ...]]


@dataclass
class ConnectionPool:
    dsn: str
    max_connections: int
    _idle: deque[Connection] = field(default_factory=deque)
    _slots: asyncio.Semaphore = field(init=False)
    _closed: bool = False
    # Closings of abandoned calls still under way (the loop keeps only weak references to tasks).
    _closing: set[asyncio.Future[None]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._slots = asyncio.Semaphore(self.max_connections)

    async def take(self, seconds: float) -> Connection:
        """An idle connection that still looks alive, else a new one; all within `seconds`."""
        ends = asyncio.get_running_loop().time() + seconds
        if self._slots.locked():
            async with asyncio.timeout_at(ends):
                await self._slots.acquire()
        else:
            # A free slot is taken at once; no timer to set and cancel on every call.
            await self._slots.acquire()
        try:
            while self._idle:
                # The most recently used first: the likeliest to be alive.
                connection = self._idle.pop()
                if _reusable(connection):
                    return connection
                # Closing sends one message and waits for nothing.
                await connection.close()
            async with asyncio.timeout_at(ends):
                return await psycopg.AsyncConnection.connect(
                    self.dsn,
                    # One statement per checkout and nothing held across calls, so
                    # each call commits on its own, as through a transaction pooler.
                    autocommit=True,
                    # Never prepare: named prepared statements do not survive
                    # Supabase's transaction pooler. Unprepared, psycopg sends
                    # Parse/Bind/Describe/Execute/Sync together: one round trip.
                    prepare_threshold=None,
                    connect_timeout=_LIBPQ_CONNECT_TIMEOUT,
                )
        except BaseException:
            self._slots.release()
            raise

    async def give_back(self, connection: Connection) -> None:
        """Return a connection taken with `take`; kept when it is idle and healthy, else closed."""
        try:
            if not self._closed and _idle(connection):
                self._idle.append(connection)
            else:
                await connection.close()
        finally:
            self._slots.release()

    def abandon(self, connection: Connection, work: asyncio.Future[Any]) -> None:
        """Give up on a call still running on `connection` (it ran out of time, or its caller went away).

        Cancelling psycopg's task makes it cancel the statement on the server
        too (bounded by psycopg's own 5 s waits); the connection is closed once
        that is over, whatever state it was left in, and only then is its slot
        free. The caller does not wait for any of it.
        """
        work.cancel()
        closing = asyncio.ensure_future(self._close_after(connection, work))
        self._closing.add(closing)
        closing.add_done_callback(self._closing.discard)

    async def _close_after(self, connection: Connection, work: asyncio.Future[Any]) -> None:
        try:
            await asyncio.wait({work})
            await connection.close()
        finally:
            self._slots.release()

    async def close(self) -> None:
        """Close the idle connections; those in use are closed as they come back."""
        self._closed = True
        while self._idle:
            await self._idle.pop().close()


def _idle(connection: Connection) -> bool:
    return (
        not connection.closed
        and connection.pgconn.status == pq.ConnStatus.OK
        and connection.info.transaction_status == pq.TransactionStatus.IDLE
    )


def _reusable(connection: Connection) -> bool:
    return _idle(connection) and not _readable(connection.pgconn.socket)


def _readable(fd: int) -> bool:
    """Whether anything (a message, an EOF) waits on an idle connection's socket; a system call, no round trip."""
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)
