"""The figures every reliability test ends with, and the suite's sizes.

Each test fills one `Counts` (the `counts` fixture): items handled, lost,
repeated beyond the stated window, stuck, dead (alert deliveries given up on), 5xx answers, and configured secrets
leaked into an answer or a log line. The conftest prints them per test and in
the session's summary, and fails a test whose lost, repeated, stuck, 5xx or
leaked figure is not 0.

`python3 dev.py test --long` sets CRONRELAY_LONG=1: the same tests at full size.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import httpx

LONG = os.environ.get("CRONRELAY_LONG", "").strip() not in ("", "0")


def size(short: int, long: int) -> int:
    """`short` in the normal gate, `long` under --long."""
    return long if LONG else short


# Every secret any reliability test configures; none may appear in an answer or a log line.
SECRETS: set[str] = set()


def watch(*secrets: str | None) -> None:
    """Add configured secrets to the suite's leak check."""
    SECRETS.update(secret for secret in secrets if secret)


def leaks(text: str) -> int:
    """How many watched secrets appear in `text`."""
    return sum(1 for secret in SECRETS if secret in text)


@dataclass
class Counts:
    test: str
    handled: int = 0
    lost: int = 0
    # Repeats beyond the stated window (in flight + the last 0.5 s at a crash); 0 elsewhere.
    repeated: int = 0
    stuck: int = 0
    # Alert deliveries given up on (dead) where a receiver came back: must be 0.
    dead: int = 0
    server_errors: int = 0
    leaked: int = 0
    # Repeats inside the window, reported but allowed (the kill tests).
    repeated_in_window: int = 0
    notes: list[str] = field(default_factory=list)

    def answer(self, response: httpx.Response, *, allowed: tuple[int, ...] = ()) -> httpx.Response:
        """Count one HTTP answer: a 5xx (unless `allowed`: a 503 while the database is down) and any secret in it."""
        if response.status_code >= 500 and response.status_code not in allowed:
            self.server_errors += 1
        self.leaked += leaks(response.text) + leaks(str(response.headers))
        return response

    def text(self, text: str) -> None:
        """Count secrets in a captured log or output."""
        self.leaked += leaks(text)

    @property
    def failures(self) -> dict[str, int]:
        figures = {
            "lost": self.lost,
            "repeated": self.repeated,
            "stuck": self.stuck,
            "dead": self.dead,
            "5xx": self.server_errors,
            "leaked": self.leaked,
        }
        return {name: value for name, value in figures.items() if value}

    def line(self) -> str:
        extra = f" (+{self.repeated_in_window} repeated within the window)" if self.repeated_in_window else ""
        notes = f"; {'; '.join(self.notes)}" if self.notes else ""
        return (
            f"{self.test}: handled={self.handled} lost={self.lost} repeated={self.repeated}{extra} "
            f"stuck={self.stuck} dead={self.dead} 5xx={self.server_errors} leaked={self.leaked}{notes}"
        )
