#!/usr/bin/env python3
"""The two commands, on a machine with nothing but Python 3.11+.

    python3 dev.py local   # embedded Postgres + app on 127.0.0.1:3000 + local cron runner
    python3 dev.py test    # the test suite (extra arguments go to pytest)

Each makes .venv/ and installs requirements-dev.txt into it when needed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

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


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in ("local", "test", "bench"):
        print(__doc__)
        return 2
    command, rest = sys.argv[1], sys.argv[2:]
    ensure_environment()
    if command == "local":
        args = [str(PYTHON), "-m", "lib", "local", *rest]
    elif command == "test":
        args = [str(PYTHON), "-m", "pytest", *rest]
    else:
        args = [str(PYTHON), "-m", "bench", *rest]
    return subprocess.run(args, cwd=ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
