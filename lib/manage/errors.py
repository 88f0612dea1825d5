"""ManageError: what went wrong with a job-management action, as one line, an HTTP status and a field."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

from lib.db.port import DatabaseError

# `<field>: <one line>`, as migrations/repeatable/manage_*.sql raise them.
_FIELD_MESSAGE = re.compile(r"^(?P<field>[a-z_]+): (?P<message>.+)$", re.DOTALL)
# Prefixes that name the object acted on, not an input field.
_OBJECTS = frozenset({"job", "request", "operator"})


class ManageError(Exception):
    """One clear line, never a secret or a configured value.

    status: 403 the actor's role does not allow it (lib/manage/acting.py),
    404 unknown job, request or operator, 409 conflict (name taken, a vercel.json
    job edited or deleted, a paused job run, a retry of a request that did not
    fail), 422 invalid input. field: the input at fault (schedule, timezone,
    name, project_id, kind, target, payload, schedule_type, ...) or None.
    """

    def __init__(self, message: str, *, status: int, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field

    def __str__(self) -> str:
        return self.message


def from_database(error: DatabaseError) -> ManageError | None:
    """The ManageError a manage_*.sql function raised (SQLSTATE PTnnn), or None for any other failure."""
    code = error.code or ""
    if not (code.startswith("PT") and code[2:].isdigit()):
        return None
    # Both adapters append ` (detail)` when the database gave one; ours give none.
    text = str(error).splitlines()[0] if str(error) else "job management failed"
    match = _FIELD_MESSAGE.match(text)
    if not match:
        return ManageError(text, status=int(code[2:]))
    field = match["field"]
    return ManageError(match["message"], status=int(code[2:]), field=None if field in _OBJECTS else field)


@contextmanager
def translated() -> Iterator[None]:
    """Turn a manage_*.sql refusal into a ManageError; every other database error passes through."""
    try:
        yield
    except DatabaseError as error:
        managed = from_database(error)
        if managed is None:
            raise
        raise managed from None


def id_of(ref: UUID | str, thing: str) -> UUID:
    """An id as given (a UUID or its text); text that is not one is a 404 naming `thing`, like an unknown id."""
    if isinstance(ref, UUID):
        return ref
    try:
        return UUID(str(ref))
    except ValueError:
        raise ManageError(f"no {thing} with id {str(ref)[:60]!r}", status=404) from None
