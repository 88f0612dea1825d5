"""A fake Telegram Bot API on 127.0.0.1, for tests and benchmarks where timing matters.

It runs its own event loop in a thread, answers `POST /bot<token>/sendMessage`
after `latency` seconds, and records every call with the moment it arrived
(`time.monotonic()`, comparable with the caller's clock), and the moment it
answered each (`answered`). `answer` scripts the reply per call; the default
is Telegram's success answer.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx


@dataclass(frozen=True)
class Call:
    at: float  # time.monotonic() when the request arrived
    token: str
    chat_id: Any
    text: str


Answer = Callable[[Call, int], tuple[int, dict[str, Any]]]  # (call, index) -> (status, body)


def ok(call: Call, index: int) -> tuple[int, dict[str, Any]]:
    return 200, {"ok": True, "result": {"message_id": index + 1, "chat": {"id": call.chat_id}, "text": call.text}}


class FakeTelegram:
    def __init__(self, latency: float = 0.0, answer: Answer = ok) -> None:
        self.latency = latency
        self.answer = answer
        self.calls: list[Call] = []
        # call index -> time.monotonic() when its answer was written
        self.answered: dict[int, float] = {}
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fake-telegram", daemon=True)
        self._server: asyncio.Server | None = None
        self.url = ""

    def __enter__(self) -> FakeTelegram:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def snapshot(self) -> list[Call]:
        with self._lock:
            return list(self.calls)

    def answered_snapshot(self) -> dict[int, float]:
        with self._lock:
            return dict(self.answered)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_server(self._connection, "127.0.0.1", 0))
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            # Close open keep-alive connections inside the loop, before it goes.
            self._server.close()
            tasks = asyncio.all_tasks(self._loop)
            for task in tasks:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                headers = {
                    name.strip().lower(): value.strip()
                    for name, _, value in (line.partition(":") for line in header_lines if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                index, status, answer = self._record(request_line, body)
                if self.latency:
                    await asyncio.sleep(self.latency)
                payload = json.dumps(answer).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                    f"content-length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                if index is not None:
                    with self._lock:
                        self.answered[index] = time.monotonic()
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    def _record(self, request_line: str, body: bytes) -> tuple[int | None, int, dict[str, Any]]:
        arrived = time.monotonic()
        _, path, _ = request_line.split(" ", 2)
        token, _, method = path.removeprefix("/bot").partition("/")
        if method != "sendMessage":
            return None, 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        data = json.loads(body or b"{}")
        call = Call(arrived, token, data.get("chat_id"), data.get("text", ""))
        with self._lock:
            index = len(self.calls)
            self.calls.append(call)
        return index, *self.answer(call, index)


# -- a respx side effect, where only behaviour matters (no timing, no sockets) --------------------

TOKEN = "123456:TEST-secret_token-abcdef"
API = "https://telegram.test"

RespxAnswer = Callable[[int, int], tuple[int, dict[str, Any]]]  # (chat_id, call index) -> (status, body)


def ok_answer(chat_id: int, index: int) -> tuple[int, dict[str, Any]]:
    return 200, {"ok": True, "result": {"message_id": index + 1, "chat": {"id": chat_id}}}


def error_answer(status: int, description: str, **parameters: Any) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return status, body


class RespxTelegram:
    """A respx side effect playing Telegram: records each call, answers with `answer`."""

    def __init__(self) -> None:
        self.answer: RespxAnswer = ok_answer
        self.calls: list[tuple[float, int, str, str]] = []  # (monotonic time, chat_id, text, url path)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        data = json.loads(request.content)
        index = len(self.calls)
        self.calls.append((time.monotonic(), data["chat_id"], data["text"], request.url.path))
        status, body = self.answer(data["chat_id"], index)
        return httpx.Response(status, json=body)

    def chats(self) -> Counter[int]:
        return Counter(chat for _, chat, _, _ in self.calls)
