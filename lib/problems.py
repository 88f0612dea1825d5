"""The one problem type every route raises: a status code and one clear line, answered as JSON.

Its own module so that lib/app.py and the console (lib/ops) both import it
without importing each other.
"""

from __future__ import annotations

from typing import Any


class ProblemError(Exception):
    """An answer other than a run: status code plus one clear line (`{"error": ...}` and any extra fields)."""

    def __init__(self, status: int, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.body: dict[str, Any] = {"error": error, **extra}
