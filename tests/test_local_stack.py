"""The README's first command: the local stack starts, answers the curl lines it prints, and stops cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import asyncpg
import httpx

from lib.outbound.webhooks import verify_signature

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
        console = re.search(r"console: (\S+)", banner)
        assert console and console[1] == f"http://127.0.0.1:{port}/api/ops", banner
        page = httpx.get(console[1], timeout=30)
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert secret[1] not in page.text
    finally:
        stack.send_signal(signal.SIGINT)
        try:
            stack.wait(timeout=30)
        finally:
            if stack.poll() is None:
                stack.kill()
    assert stack.returncode == 0


# -- stopping, restarting, and what a newcomer needs from the banner ----------


def _stack_env(data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRON_", "SUPABASE_", "DATABASE_", "TELEGRAM_"))}
    env.pop("WEBHOOK_SIGNING_SECRET", None)
    env["CRONRELAY_DATA"] = str(data)
    return env


def _start_dev_local(data: Path, port: int) -> tuple[subprocess.Popen[str], list[str]]:
    """`python3 dev.py local` as a user starts it; returns once the banner is out."""
    stack = subprocess.Popen(
        [sys.executable, "dev.py", "local", "--port", str(port)],
        cwd=ROOT,
        env=_stack_env(data),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert stack.stdout is not None
    printed: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = stack.stdout.readline()
        if not line:
            break
        printed.append(line.rstrip("\n"))
        if line.startswith("Ctrl-C"):
            return stack, printed
    stack.kill()
    raise AssertionError("the local stack did not come up:\n" + "\n".join(printed))


def _postgres_pid(data: Path) -> int | None:
    pidfile = data / "postgres" / "postmaster.pid"
    return int(pidfile.read_text().split()[0]) if pidfile.exists() else None


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for a parent that never reaps it (pid 1 in a container)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _stop(stack: subprocess.Popen[str], signum: int) -> str:
    stack.send_signal(signum)
    try:
        rest, _ = stack.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stack.kill()
        raise AssertionError(f"the stack did not stop within 30 s of {signal.Signals(signum).name}") from None
    return rest


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


def test_sigterm_stops_the_whole_stack_and_it_starts_again(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = _free_port()
    stack, printed = _start_dev_local(data, port)
    try:
        banner = "\n".join(printed)
        dsn = re.search(r"DATABASE_URL: (\S+)", banner)
        signing = re.search(r"WEBHOOK_SIGNING_SECRET: (\S+)", banner)
        secret = re.search(r"CRON_SECRET: (\S+)", banner)
        assert dsn and signing and secret, banner
        assert (data / "webhook_signing_secret").read_text().strip() == signing[1]
        postgres = _postgres_pid(data)
        assert postgres is not None and _alive(postgres)

        # The CLI takes the printed DATABASE_URL; `dev.py cli` finds it by itself.
        cli = subprocess.run(
            [sys.executable, "dev.py", "cli", "request", "check-stale"],
            cwd=ROOT,
            env=_stack_env(data),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout)["status"] == "queued"

        # A webhook job works out of the box, signed with the printed secret.
        _Receiver.received = []
        receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        try:
            hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"

            async def queue_webhook() -> None:
                connection = await asyncpg.connect(dsn[1])
                try:
                    await connection.execute(
                        "insert into cron_jobs (name, kind, target) values ('local-hook', 'webhook', $1)", hook
                    )
                    await connection.execute("select * from request_run(job_name => 'local-hook')")
                finally:
                    await connection.close()

            asyncio.run(queue_webhook())
            drained = httpx.get(
                f"http://127.0.0.1:{port}/api/cron/run-requests",
                headers={"Authorization": f"Bearer {secret[1]}"},
                timeout=60,
            )
            assert drained.status_code == 200, drained.text
            assert len(_Receiver.received) == 1, drained.text
            headers, body = _Receiver.received[0]
            assert verify_signature(signing[1], body, headers["x-cronrelay-signature"])
        finally:
            receiver.shutdown()
            receiver.server_close()
    except BaseException:
        stack.kill()
        raise

    rest = _stop(stack, signal.SIGTERM)
    assert stack.returncode == 0, rest
    assert "Traceback" not in rest and "local stack stopped (SIGTERM)" in rest, rest
    assert _port_free(port) and _port_free(port + 1)
    assert not _alive(postgres)
    assert _postgres_pid(data) is None

    # The next start succeeds, keeps both secrets, and Ctrl-C stops it just as cleanly.
    again, printed = _start_dev_local(data, port)
    try:
        banner = "\n".join(printed)
        assert f"WEBHOOK_SIGNING_SECRET: {signing[1]}" in banner and secret[1] in banner
        assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=30).json()["status"] == "ok"
    except BaseException:
        again.kill()
        raise
    rest = _stop(again, signal.SIGINT)
    assert again.returncode == 0 and "Traceback" not in rest, rest
    assert _port_free(port) and _postgres_pid(data) is None


def test_a_busy_port_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "lib", "local", "--port", str(port)],
            cwd=ROOT,
            env=_stack_env(tmp_path / "data"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"127.0.0.1:{port} is already in use" in lines[0] and "--port" in lines[0]
    assert _postgres_pid(tmp_path / "data") is None  # nothing was started
