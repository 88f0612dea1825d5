"""The real app in a real process: `uvicorn api.index:app` on a free 127.0.0.1 port.

Settings come from the environment alone (the process runs in an empty
directory, so no .env is read). Its stdout and stderr go to a file the test
reads afterwards for secrets.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class AppProcess:
    url: str
    process: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def kill(self) -> None:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)


def app_env(**settings: object) -> dict[str, str]:
    """Only what the app needs (nothing from the test process, no SUPABASE_*): settings by name."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(ROOT),
    }
    env.update({name.upper(): str(value) for name, value in settings.items() if value is not None})
    return env


@asynccontextmanager
async def app_process(env: dict[str, str], cwd: Path, *, ready_path: str = "/api/health") -> AsyncIterator[AppProcess]:
    """Start the app, wait until `ready_path` answers, and stop it (SIGTERM, then SIGKILL) at the end."""
    port = free_port()
    log = cwd / f"app-{port}.log"
    with log.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "uvicorn",
            "api.index:app",
            "--app-dir",
            str(ROOT),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            env=env,
            cwd=cwd,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
    app = AppProcess(f"http://127.0.0.1:{port}", process, log)
    try:
        await _wait_ready(app, ready_path)
        yield app
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()


async def _wait_ready(app: AppProcess, path: str, limit: float = 30.0) -> None:
    give_up = time.monotonic() + limit
    async with httpx.AsyncClient(base_url=app.url, timeout=2) as http:
        while True:
            assert app.process.returncode is None, f"the app exited: {app.output()[-2000:]}"
            try:
                await http.get(path)
                return
            except httpx.TransportError:
                if time.monotonic() > give_up:
                    raise AssertionError(f"the app never answered on {app.url}: {app.output()[-2000:]}") from None
                await asyncio.sleep(0.1)
