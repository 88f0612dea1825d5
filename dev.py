#!/usr/bin/env python3
"""The two commands, on a machine with nothing but Python 3.11+.

    python3 dev.py local   # embedded Postgres + app on 127.0.0.1:3000 + local cron runner
    python3 dev.py test    # the gate: ruff check, ruff format --check, mypy, then pytest
                           # (extra arguments go to pytest; --no-lint skips the static
                           # checks for a quick local run; --long runs the reliability
                           # suite at full size; CI runs the plain command)

and two helpers:

    python3 dev.py cli ARGS    # the CLI in the venv: .venv/bin/python -m lib ARGS
                               # (on the running local stack's database when none is configured)
    python3 dev.py bench [NAME]    # every benchmark (or one) -> bench/results.md

Each makes .venv/ and installs requirements-dev.txt into it when needed.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import venv
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
PYTHON = VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
STAMP = VENV / ".requirements.sha256"


def ensure_environment() -> None:
    wanted = hashlib.sha256(
        b"".join((ROOT / name).read_bytes() for name in ("requirements.txt", "requirements-dev.txt"))
    ).hexdigest()
    if PYTHON.exists() and STAMP.exists() and STAMP.read_text() == wanted:
        return
    if not PYTHON.exists():
        print("dev.py: creating .venv", flush=True)
        venv.create(VENV, with_pip=True)
    print("dev.py: installing requirements-dev.txt", flush=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r", "requirements-dev.txt"],
        cwd=ROOT,
        check=True,
    )
    STAMP.write_text(wanted)


def _in_terminal_foreground() -> bool:
    try:
        return os.getpgrp() == os.tcgetpgrp(sys.stdin.fileno())
    except (OSError, ValueError, AttributeError):
        return False


# The signals run_child passed on to its child, first one first.
INTERRUPTED: list[str] = []


def run_child(args: list[str], env: dict[str, str] | None = None) -> int:
    """Run `args` and wait for it. SIGINT and SIGTERM go to the child, which
    stops in its own way; this process waits for it instead of dying first and
    leaving it running (and never prints a KeyboardInterrupt traceback)."""
    started: list[subprocess.Popen[bytes]] = []
    missed: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        INTERRUPTED.append(signal.Signals(signum).name)
        if not started:
            missed.append(signum)
        # Ctrl-C in a terminal already reached the child (same foreground
        # process group); sending it again would count as a second Ctrl-C.
        elif signum != signal.SIGINT or not _in_terminal_foreground():
            started[0].send_signal(signum)

    # Set before the child starts, for two reasons: a signal in between would
    # otherwise end this process without passing it on; and a child started
    # while this process still ignored SIGINT (as a job started with & by a
    # script inherits) would ignore it too, where one started after a handler
    # is set gets the default.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, forward)
    child = subprocess.Popen(args, cwd=ROOT, env=env)
    started.append(child)
    if missed:
        child.send_signal(missed[0])
    while True:
        try:
            return child.wait()
        except InterruptedError:  # pragma: no cover - wait() retries on EINTR itself
            continue


LINTED = ["lib", "api", "tests", "bench", "dev.py"]


def static_checks() -> list[tuple[str, list[str]]]:
    """The gate's steps before pytest, in order: (name, command)."""
    return [
        ("ruff check", [str(PYTHON), "-m", "ruff", "check", *LINTED]),
        ("ruff format --check", [str(PYTHON), "-m", "ruff", "format", "--check", *LINTED]),
        # Strict on what deploys; pyproject.toml's override loosens tests and bench.
        ("mypy", [str(PYTHON), "-m", "mypy", *LINTED]),
    ]


def gate(pytest_args: list[str]) -> int:
    """Each step fails the gate with one line naming it; pytest's exit code 5 (nothing collected) fails too."""
    lint = "--no-lint" not in pytest_args
    # --long: the reliability suite at full size (tests/reliability reads CRONRELAY_LONG).
    long = "--long" in pytest_args
    pytest_args = [arg for arg in pytest_args if arg not in ("--no-lint", "--long")]
    steps = static_checks() if lint else []
    steps.append(("pytest", [str(PYTHON), "-m", "pytest", *pytest_args]))
    for name, args in steps:
        print(f"dev.py test: {name}", flush=True)
        code = run_child(args, {**os.environ, "CRONRELAY_LONG": "1"} if long and name == "pytest" else None)
        if INTERRUPTED:
            # Not a failure: the run was stopped. tests/conftest.py stops the test Postgres on the way out.
            print(f"dev.py test: interrupted ({INTERRUPTED[0]}) during {name}; nothing left running", flush=True)
            return 130 if INTERRUPTED[0] == "SIGINT" else 143
        if code != 0:
            print(f"dev.py test: FAILED at {name} (exit code {code})", file=sys.stderr, flush=True)
            return code
    return 0


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("local", "test", "bench", "cli"):
        print(__doc__)
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    ensure_environment()
    env = None
    if command == "local":
        args = [str(PYTHON), "-m", "lib", "local", *rest]
    elif command == "test":
        return gate(rest)
    elif command == "cli":
        # Without database settings the CLI finds the running local stack itself (lib/cli/discovery.py).
        args = [str(PYTHON), "-m", "lib", *rest]
    else:
        args = [str(PYTHON), "-m", "bench", *rest]
    return run_child(args, env)


if __name__ == "__main__":
    sys.exit(main())
