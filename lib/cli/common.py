"""What the CLI's commands share: argument types and a database opened for one command."""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from lib.db import Database, database_for
from lib.manage.acting import acting
from lib.manage.actors import CLI
from lib.settings import get_settings

T = TypeVar("T")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object, such as '{\"key\": 1}'")
    return value


async def with_database(action: Callable[[Database], Awaitable[T]]) -> T:
    """`action` on a database opened for this command, closed after it.

    It acts for the CLI (an admin: whoever runs it holds the database's own
    credentials), so every write a command makes is in ops_audit as `cli`."""
    db = acting(database_for(get_settings()), CLI)
    try:
        return await action(db)
    finally:
        await db.close()
