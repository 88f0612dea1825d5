"""The local stack's data folder (`.data/`, or `CRONRELAY_DATA`): its files and its lock.

One running stack owns a data folder. The lock is an advisory `flock` on
`<data>/stack.lock`, held for the stack's whole life and released by the
kernel when the process ends however it ends, so a killed stack never leaves
a stale lock behind. The file also says who holds it (pid and port), for the
one line a second stack prints when it refuses.

Standard library only: the CLI reads this from a venv of requirements.txt.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent.parent

if os.name == "posix":
    import fcntl
else:  # pragma: no cover - the local stack's lock is POSIX-only; elsewhere it is skipped
    fcntl = None  # type: ignore[assignment]


def data_folder() -> Path:
    """Where the local stack keeps its Postgres and secrets: CRONRELAY_DATA, else .data/ in the checkout."""
    return Path(os.environ.get("CRONRELAY_DATA") or ROOT / ".data")


@dataclass(frozen=True)
class Files:
    """The files of one data folder."""

    data: Path

    @property
    def postgres(self) -> Path:
        return self.data / "postgres"

    @property
    def lock(self) -> Path:
        return self.data / "stack.lock"

    @property
    def cron_secret(self) -> Path:
        return self.data / "cron_secret"

    @property
    def signing_secret(self) -> Path:
        return self.data / "webhook_signing_secret"

    @property
    def database_url(self) -> Path:
        # Written while the stack runs, so the CLI finds the database.
        return self.data / "database_url"

    @property
    def app_url(self) -> Path:
        # Also written while it runs, so `seed-demo` and `doctor` find this stack's app.
        return self.data / "app_url"

    @property
    def first_start(self) -> Path:
        # Present from the moment a first start begins making the database until
        # that database answers: if it is still there at the next start, the
        # first start was interrupted and the half-made folder holds nothing.
        return self.data / "postgres.first-start"


def files(data: Path | None = None) -> Files:
    return Files(data or data_folder())


class FolderInUse(Exception):
    """Another running stack holds the data folder's lock; the message says which."""


class StackLock:
    """The data folder's lock, held from `acquire()` until the process ends (or `release()`)."""

    def __init__(self, where: Files) -> None:
        self.where = where
        self._handle: IO[str] | None = None

    def acquire(self, port: int) -> None:
        """Take the lock or raise FolderInUse; never waits."""
        if fcntl is None:  # pragma: no cover
            return
        self.where.data.mkdir(parents=True, exist_ok=True)
        # Opened without truncating: the holder's pid and port must survive a refused attempt.
        handle = open(self.where.lock, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise FolderInUse(_holder_words(self.where)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "port": port}))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.truncate(0)
            self._handle.close()
            self._handle = None


def in_use(where: Files) -> bool:
    """Whether a running stack holds this data folder (a killed one never does)."""
    if fcntl is None or not where.lock.exists():  # pragma: no cover - no lock where there is no fcntl
        return where.database_url.exists()
    try:
        with open(where.lock) as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    except OSError:
        return False
    return False


def _holder_words(where: Files) -> str:
    try:
        holder = json.loads(where.lock.read_text())
        return f"pid {int(holder['pid'])}, port {int(holder['port'])}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"
