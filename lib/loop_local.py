"""Objects that belong to one event loop: HTTP clients, database pools.

Serverless runtimes (Mangum, some Vercel handlers) may start a fresh event loop
per invocation. A client created on an earlier loop then fails with "Event loop
is closed". So each cached object is keyed by the loop that made it, and a new
loop gets its own; entries die with their loop.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

T = TypeVar("T")

_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = weakref.WeakKeyDictionary()


async def loop_local(key: str, factory: Callable[[], Awaitable[T]]) -> T:
    """The object stored under `key` for the running loop, created on first use."""
    loop = asyncio.get_running_loop()
    if loop not in _by_loop:
        _drop_closed_loops()
    slots = _by_loop.setdefault(loop, {})
    if key not in slots:
        # One creator per loop and key, even when many tasks ask at once.
        lock = slots.setdefault(f"{key}:lock", asyncio.Lock())
        async with lock:
            if key not in slots:
                slots[key] = await factory()
    return slots[key]  # type: ignore[no-any-return]


def forget(key: str) -> None:
    """Drop `key` for the running loop, e.g. after its connection went bad."""
    slots = _by_loop.get(asyncio.get_running_loop(), {})
    slots.pop(key, None)


def peek(key: str) -> Any | None:
    """The object under `key` for the running loop, without creating it."""
    return _by_loop.get(asyncio.get_running_loop(), {}).get(key)


def _drop_closed_loops() -> None:
    # Objects of a closed loop can never be used again; drop them so their
    # sockets are released now rather than whenever the loop is collected.
    for loop in [loop for loop in _by_loop if loop.is_closed()]:
        del _by_loop[loop]
