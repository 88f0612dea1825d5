"""Every route's request body has a limit, enforced before the body is read.

A body announced larger than its route's limit (`Content-Length`) is answered
413 at once, without reading a byte of it; a body sent without one (chunked)
is read only up to the limit, then answered 413. So a 300 MB upload costs the
app at most the limit in memory, authorized or not: the console's sign-in
used to read any body whole before checking its size.

Limits: 4 KB for the console's sign-in (a name and a password, or the
secret), 1 MB for the workers' API (a sync carries up to 1,000 jobs), and
64 KB for everything else (the console's API and the cron routes, whose
bodies are small JSON objects or nothing).
"""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SIGN_IN_LIMIT = 4 * 1024
API_LIMIT = 64 * 1024
WORKER_LIMIT = 1024 * 1024
SIGN_IN_PATHS = frozenset({"/api/ops/login", "/api/ops/login/"})
WORKER_PREFIX = "/api/worker/"


def limit_for(path: str) -> int:
    """The body limit of the route at `path`, in bytes."""
    if path in SIGN_IN_PATHS:
        return SIGN_IN_LIMIT
    return WORKER_LIMIT if path.startswith(WORKER_PREFIX) else API_LIMIT


class BodyTooLarge(HTTPException):
    """Raised by the guarded `receive` once a body without a length passes its limit.

    An HTTPException, so the app's own handler answers it (a JSON 413) from
    wherever the body was being read; the middleware answers it if it escapes.
    """

    def __init__(self, error: str) -> None:
        super().__init__(413, error)


def _announced_length(scope: Scope) -> int | None:
    """The Content-Length header as a number; None when absent; -1 when malformed or repeated."""
    values = [value for name, value in scope.get("headers", []) if name.lower() == b"content-length"]
    if not values:
        return None
    if len(values) > 1 or not values[0].strip().isdigit():
        return -1
    return int(values[0])


async def _refuse(send: Send, status: int, error: str) -> None:
    body = json.dumps({"error": error}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is not read; the client must not reuse this connection for it.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    """ASGI middleware: 413 for a body over its route's limit, from Content-Length or while reading."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(scope["path"])
        # Lower case throughout: lib/app.py's handler lowers an HTTPException's words.
        words = f"the body is over this route's limit of {limit} bytes"
        announced = _announced_length(scope)
        if announced == -1:
            await _refuse(send, 400, "the Content-Length header is not a single number")
            return
        if announced is not None and announced > limit:
            await _refuse(send, 413, words)
            return

        received = 0
        started = False

        async def guarded_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(words)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, watched_send)
        except BodyTooLarge:
            if not started:
                await _refuse(send, 413, words)
