"""The local stack's log lines: each one starts with the time it was written (UTC, like the crons)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TextIO


def stamped(text: str) -> str:
    return f"{datetime.now(UTC):%Y-%m-%d %H:%M:%SZ} {text}"


def say(text: str, out: TextIO | None = None) -> None:
    """One timestamped line, flushed at once (the stack's output is often a pipe)."""
    print(stamped(text), file=out or sys.stdout, flush=True)
