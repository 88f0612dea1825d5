"""Helpers for the worker tests: the app on a real port in this process, and the reference worker as a subprocess.

The app runs under uvicorn in the test's own event loop, so the supabase
adapter's calls still reach the PostgREST stand-in (respx), while the worker
talks to it over real HTTP from another process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from lib.app import create_app
from lib.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


class _QuietServer(uvicorn.Server):
    """uvicorn without its signal handlers: the test process keeps its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[str]:
    """The app on 127.0.0.1:<free port>; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_app(lambda: settings), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    server = _QuietServer(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


def write_jobs(path: Path, jobs: list[dict[str, Any]]) -> Path:
    """A worker.toml with these [[jobs]] tables (values as TOML through JSON, which TOML accepts for these)."""
    lines = []
    for job in jobs:
        lines.append("[[jobs]]")
        lines.extend(f"{key} = {json.dumps(value)}" for key, value in job.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def python_command(code: str) -> list[str]:
    return [sys.executable, "-c", code]


@dataclass
class WorkerProcess:
    process: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def signal(self, signum: int) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signum)

    async def wait(self, within: float = 60.0) -> int:
        return await asyncio.wait_for(self.process.wait(), within)


async def start_worker(url: str, token: str, jobs: Path, *extra: str) -> WorkerProcess:
    """`python -m lib worker` against `url`; its token through the environment, as docs/workers.md advises."""
    log = jobs.parent / f"worker-{os.urandom(4).hex()}.log"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(ROOT),
        "CRONRELAY_WORKER_TOKEN": token,
    }
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "lib",
            "worker",
            "--url",
            url,
            "--jobs",
            str(jobs),
            *extra,
            env=env,
            cwd=jobs.parent,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
    return WorkerProcess(process, log)


@asynccontextmanager
async def running_worker(url: str, token: str, jobs: Path, *extra: str) -> AsyncIterator[WorkerProcess]:
    worker = await start_worker(url, token, jobs, *extra)
    try:
        yield worker
    finally:
        if worker.process.returncode is None:
            worker.signal(signal.SIGKILL)
            await worker.process.wait()


async def eventually(check: Any, within: float = 30.0, every: float = 0.1) -> Any:
    """The first truthy answer of `await check()`, or AssertionError after `within` seconds."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + within
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > ends:
            raise AssertionError(f"still not true after {within} s: last answer {value!r}")
        await asyncio.sleep(every)


async def request_state(client: httpx.AsyncClient, request_id: str, auth: dict[str, str]) -> dict[str, Any]:
    answer = await client.get(f"/api/ops/requests/{request_id}", headers=auth)
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()["request"]
    return body
