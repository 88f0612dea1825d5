"""What the CLI's commands share: argument types and a database opened for one command."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from lib.db import Database, DatabaseError, database_for
from lib.manage.acting import acting
from lib.manage.actors import CLI
from lib.manage.errors import ManageError
from lib.settings import SettingsError, get_settings

# What a command's failure is worth to a script: the exit status of each kind.
FAILURES = (ManageError, SettingsError, DatabaseError)

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


def failed(error: ManageError | SettingsError | DatabaseError) -> int:
    """Say why a command failed in one line on stderr; its exit status: 1 refused, 2 configuration, 3 database."""
    if isinstance(error, ManageError):
        print(refusal(error), file=sys.stderr)
        return 1
    if isinstance(error, SettingsError):
        from lib.cli.discovery import with_hint

        print(f"configuration error: {with_hint(error)}", file=sys.stderr)
        return 2
    print(f"database error: {error}", file=sys.stderr)
    return 3


def refusal(error: ManageError) -> str:
    """A refusal as one line: what kind (not found, an invalid field, refused) and why."""
    if error.status == 422:
        return f"invalid {error.field or 'input'}: {error}"
    return f"{'not found' if error.status == 404 else 'refused'}: {error}"
