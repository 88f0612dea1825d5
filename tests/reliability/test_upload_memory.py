"""A 300 MB upload to sign-in and to the API: 413, and the app's memory stays flat.

The probe that found it: one 300 MB upload to the console's sign-in, which
read any body before its 4 KB check and without auth, took the app from
72 MB to 636 MB. Here the real app runs under uvicorn in its own process;
each upload is sent over a raw socket, announced (Content-Length) and
chunked (no length), and the process's peak resident memory (VmHWM, from
/proc) may grow by less than 50 MB over all four.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from pathlib import Path

import asyncpg
import httpx

from tests.conftest import SECRET
from tests.reliability.app_process import app_env, app_process
from tests.reliability.counts import Counts

UPLOAD = 300 * 1024 * 1024
CHUNK = 1024 * 1024
ALLOWED_GROWTH = 50 * 1024 * 1024


def peak_rss(pid: int) -> int:
    """The process's peak resident set size, in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


def upload_blocking(url: str, path: str, *, chunked: bool) -> tuple[int, int]:
    """POST UPLOAD bytes to `path` until the app answers or closes; (status, bytes sent).

    Blocking sockets, a thread each way, on purpose: the app answers 413 and
    closes with body bytes still unread, so its kernel resets the connection.
    An asyncio transport treats the reset on a write as fatal and drops the
    answer it has not read yet; a reader already waiting in recv() gets the
    answer first, as a real client does.
    """
    parsed = httpx.URL(url)
    sock = socket.create_connection((parsed.host, parsed.port), timeout=60)
    framing = "transfer-encoding: chunked" if chunked else f"content-length: {UPLOAD}"
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nhost: {parsed.host}:{parsed.port}\r\nauthorization: Bearer {SECRET}\r\n"
        f"content-type: application/json\r\n{framing}\r\n\r\n".encode()
    )
    sent = 0
    stop = threading.Event()

    def send_body() -> None:
        nonlocal sent
        block = b"[" * CHUNK
        frame = f"{CHUNK:x}\r\n".encode() + block + b"\r\n" if chunked else block
        with contextlib.suppress(OSError):
            while sent < UPLOAD and not stop.is_set():
                sock.sendall(frame)
                sent += CHUNK
            if chunked:
                sock.sendall(b"0\r\n\r\n")

    sender = threading.Thread(target=send_body, daemon=True)
    sender.start()
    answer = b""
    try:
        while b"\r\n" not in answer:
            piece = sock.recv(4096)
            if not piece:
                break
            answer += piece
    finally:
        stop.set()
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sender.join(60)
        sock.close()
    assert b"\r\n" in answer, f"the app closed without an answer after {sent} bytes"
    return int(answer.split()[1]), sent


async def upload(url: str, path: str, *, chunked: bool) -> tuple[int, int]:
    return await asyncio.to_thread(upload_blocking, url, path, chunked=chunked)


async def test_a_300_mb_upload_is_413_and_memory_stays_flat(
    pg_dsn: str, sql: asyncpg.Connection, tmp_path: Path, counts: Counts
) -> None:
    env = app_env(database_url=pg_dsn, cron_secret=SECRET)
    async with app_process(env, tmp_path) as app, httpx.AsyncClient(base_url=app.url, timeout=30) as http:
        # Warm: the console and the database pool loaded, so what grows after is the uploads.
        for _ in range(3):
            counts.answer(await http.get("/api/ops/jobs", headers={"authorization": f"Bearer {SECRET}"}))
            counts.answer(await http.post("/api/ops/login", json={"secret": "wrong-secret-0123456789"}))
        pid = app.process.pid
        before = peak_rss(pid)
        results = []
        for path in ("/api/ops/login", "/api/ops/jobs"):
            for chunked in (False, True):
                status, sent = await upload(app.url, path, chunked=chunked)
                results.append((path, chunked, status, sent))
                counts.handled += 1
        growth = peak_rss(pid) - before
        # Still answering afterwards.
        counts.answer(await http.get("/api/ops/jobs", headers={"authorization": f"Bearer {SECRET}"}))
    counts.notes.append(
        f"peak RSS {before / 2**20:.0f} MB before, +{growth / 2**20:.1f} MB after four 300 MB uploads "
        + ", ".join(f"{path}{' chunked' if chunked else ''}: {status}" for path, chunked, status, _ in results)
    )
    assert [status for *_, status, _ in results] == [413] * 4, results
    assert growth < ALLOWED_GROWTH, f"peak RSS grew {growth / 2**20:.1f} MB"
