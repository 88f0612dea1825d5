"""A webhook receiver for the local stack: `POST /local/echo` records the call and answers with it.

Dev-only (lib/local is in .vercelignore): the local stack mounts it on its own
app instance, so `python -m lib seed-demo`'s webhook jobs have somewhere to
land on a laptop. Each call prints one line to the stack's output, with the
outcome of checking its X-Cronrelay-Signature against the stack's
WEBHOOK_SIGNING_SECRET, and the answer carries what was received, so the run
request's `result.body` shows it too. `GET /local/echo` lists the latest calls.
"""

from __future__ import annotations

import json
import sys
from collections import deque
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from lib.local.say import say
from lib.outbound.webhooks import SIGNATURE_HEADER, verify_signature

ECHO_PATH = "/local/echo"
# Calls kept for GET: enough to look back over a demo, never a growing list.
KEPT_CALLS = 50
# Headers that may carry a credential are neither kept nor answered.
_PRIVATE_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

Signature = Literal["valid", "invalid", "missing", "unchecked"]


@dataclass(frozen=True)
class EchoCall:
    received_at: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # the parsed JSON body, or the text when it is not JSON
    size: int  # bytes received
    signature: Signature


class EchoLog:
    """The latest calls, newest last."""

    def __init__(self, size: int = KEPT_CALLS) -> None:
        self.calls: deque[EchoCall] = deque(maxlen=size)

    def add(self, call: EchoCall) -> None:
        self.calls.append(call)


def check_signature(secret: str | None, body: bytes, header: str | None) -> Signature:
    if header is None:
        return "missing"
    if not secret:
        return "unchecked"
    return "valid" if verify_signature(secret, body, header) else "invalid"


def _parse(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", errors="replace")


def describe(call: EchoCall) -> str:
    """The one line printed per call: what the job was and whether it was signed."""
    body = call.body
    if isinstance(body, dict) and "job" in body:
        request = str(body.get("request_id", "?"))[:8]
        what = f"{body.get('job')} (request {request}, payload {json.dumps(body.get('payload'))})"
    else:
        what = f"{call.size} bytes"
    return f"local echo: {call.method} {what}, signature {call.signature}"


def echo_router(signing_secret: str | None, log: EchoLog | None = None, out: TextIO | None = None) -> APIRouter:
    """The echo routes, checking signatures with `signing_secret` (None: not checked)."""
    calls = log if log is not None else EchoLog()
    router = APIRouter()

    @router.api_route(ECHO_PATH, methods=["POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
    async def receive(request: Request) -> JSONResponse:
        raw = await request.body()
        call = EchoCall(
            received_at=datetime.now(UTC).isoformat(),
            method=request.method,
            path=request.url.path,
            headers={k: v for k, v in request.headers.items() if k.lower() not in _PRIVATE_HEADERS},
            body=_parse(raw),
            size=len(raw),
            signature=check_signature(signing_secret, raw, request.headers.get(SIGNATURE_HEADER)),
        )
        calls.add(call)
        say(describe(call), out or sys.stderr)
        return JSONResponse({"ok": True, "received": asdict(call)})

    @router.get(ECHO_PATH, include_in_schema=False)
    async def recent() -> JSONResponse:
        return JSONResponse({"calls": [asdict(call) for call in reversed(calls.calls)]})

    return router


def mount_echo(app: FastAPI, signing_secret: str | None, log: EchoLog | None = None) -> EchoLog:
    """Serve the echo on `app` (the local stack's instance only); returns its log of calls."""
    calls = log if log is not None else EchoLog()
    app.include_router(echo_router(signing_secret, calls))
    return calls
