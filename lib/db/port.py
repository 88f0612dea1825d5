"""The one database port: `call(function, **named_args) -> rows`.

Every read and write is a SQL function from migrations/. Both adapters return
rows exactly as Postgres's own JSON functions serialize them (timestamps as
ISO strings, uuids as strings), so a job sees the same values whichever
adapter runs it.

Every function returns a table of at least two columns: PostgREST (and so
this port) treats a one-column table as a set of bare scalars.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any, Protocol
from uuid import UUID

Row = dict[str, Any]

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class DatabaseError(Exception):
    """A SQL function failed. `code` is the SQLSTATE (or PostgREST's code)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class DatabaseUnavailable(DatabaseError):
    """The database could not be reached at all."""


class Database(Protocol):
    name: str

    async def call(self, function: str, /, **args: Any) -> list[Row]: ...

    async def close(self) -> None:
        """Release this event loop's connections."""


def check_identifiers(function: str, args: dict[str, Any]) -> None:
    """Function and argument names become part of the call, so they must be plain identifiers."""
    for name in (function, *args):
        if not _IDENTIFIER.match(name):
            raise ValueError(f"not a plain SQL identifier: {name!r}")


def jsonable(value: Any) -> Any:
    """Arguments as JSON values, the form PostgREST receives them in."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
