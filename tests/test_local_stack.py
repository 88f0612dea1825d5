"""The README's first command: the local stack starts, answers the curl lines it prints, and stops cleanly."""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _curl_to_request(line: str) -> tuple[dict[str, str], str]:
    words = shlex.split(line)
    assert words[0] == "curl"
    headers = {}
    url = ""
    index = 1
    while index < len(words):
        if words[index] == "-H":
            name, _, value = words[index + 1].partition(": ")
            headers[name] = value
            index += 2
        else:
            url = words[index]
            index += 1
    return headers, url


def test_local_stack_answers_the_curl_lines_it_prints(tmp_path: Path) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRON_", "SUPABASE_", "DATABASE_", "TELEGRAM_"))}
    env["CRONRELAY_DATA"] = str(tmp_path / "data")
    stack = subprocess.Popen(
        [sys.executable, "-m", "lib", "local", "--port", str(port), "--no-cron"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert stack.stdout is not None
        printed: list[str] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = stack.stdout.readline()
            if not line:
                break
            printed.append(line.rstrip("\n"))
            if line.startswith("Ctrl-C"):
                break
        banner = "\n".join(printed)
        assert "cronrelay local stack is up" in banner, banner
        secret = re.search(r"CRON_SECRET: (\S+)", banner)
        assert secret and len(secret[1]) >= 16
        curls = [line.strip() for line in printed if line.strip().startswith("curl ")]
        assert len(curls) >= 4
        for line in curls:
            headers, url = _curl_to_request(line)
            assert url.startswith(f"http://127.0.0.1:{port}/")
            response = httpx.get(url, headers=headers, timeout=30)
            assert response.status_code == 200, (line, response.text)
            assert "error" not in response.json() or response.json().get("status") == "ok"
        runs = httpx.get(
            f"http://127.0.0.1:{port}/api/cron/runs", headers={"Authorization": f"Bearer {secret[1]}"}, timeout=30
        ).json()["runs"]
        assert {run["job"] for run in runs} >= {"check-stale", "cleanup-heartbeats"}
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            stack.wait(timeout=30)
        finally:
            if stack.poll() is None:
                stack.kill()
    assert stack.returncode == 0
