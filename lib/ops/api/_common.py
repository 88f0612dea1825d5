"""What every data route of the console shares: its database, its query parameters, its errors.

The routes are thin: they parse and check what the client sent, call
`lib.manage` (the one module that manages jobs, for the CLI too), and return
its models as JSON. Everything that can go wrong becomes an `OpsError`, so
the client always gets `{"error": "<one line>"}` with a fitting status, and
never a 500 for something it sent or for a database that cannot be reached.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import Request, Response
from pydantic import BaseModel, ValidationError

from lib.db import Database, DatabaseError, DatabaseUnavailable, database_for
from lib.manage import ManageError, acting
from lib.manage.limits import MAX_DEPTH, json_problem, text_problem
from lib.ops.session import OpsAccess, OpsError
from lib.runner import one_line
from lib.settings import SettingsError

log = logging.getLogger("cronrelay.ops")

PAGE_MAX = 200
# The SQL takes an int4 offset; far beyond any real list, and a clear 422 instead of an overflow.
OFFSET_MAX = 1_000_000
MAX_BODY_BYTES = 64 * 1024

Params = TypeVar("Params", bound=BaseModel)


def database(access: OpsAccess) -> Database:
    """The adapter for the request's settings, acting for who signed in (roles checked, writes audited).

    A 503 naming the missing setting when there is none."""
    try:
        return acting(database_for(access.settings), access.actor)
    except SettingsError as error:
        raise OpsError(503, str(error)) from None


@asynccontextmanager
async def answering(access: OpsAccess) -> AsyncIterator[None]:
    """Turns what `lib.manage` and the database raise into the API's JSON errors."""
    try:
        yield
    except ManageError as error:
        # A stale edit's 409 names `version` too, so the page can tell it from a taken name.
        named = error.field and (error.status == 422 or error.field == "version")
        extra = {"field": error.field} if named else {}
        raise OpsError(error.status, one_line_of(error), **extra) from None
    except DatabaseUnavailable as error:
        # The cause goes to the log (redacted); the page shows a banner with this line.
        log.error("ops: database unreachable: %s", access.settings.redact(one_line(error)))
        raise OpsError(503, "the database cannot be reached; the console retries by itself") from None
    except DatabaseError as error:
        # The database's own words stay in the log: they can quote the value that was refused.
        log.error("ops: database error: %s", access.settings.redact(one_line(error)))
        code = f" (SQLSTATE {error.code})" if error.code and error.code.isalnum() and len(error.code) == 5 else ""
        raise OpsError(
            500, f"the database could not complete this request{code}; the server log has the details"
        ) from None


def page_answer(page: BaseModel) -> Response:
    """A page model as the JSON answer, serialized by pydantic's own encoder (the lists' hot path)."""
    return Response(page.model_dump_json(), media_type="application/json")


def one_line_of(error: Exception) -> str:
    return " ".join(str(error).split())[:500] or type(error).__name__


def parse_query(model: type[Params], request: Request) -> Params:
    """The query string through `model`: an unknown, repeated or bad parameter is a 422 naming it."""
    items = request.query_params.multi_items()
    params = dict(items)
    if len(params) != len(items):
        repeated = next(name for name, _ in items if sum(1 for other, _ in items if other == name) > 1)
        raise OpsError(422, f"query parameter {repeated!r} may be given once", field=repeated)
    for name, value in items:
        if "\x00" in name or "\x00" in value:
            raise OpsError(422, f"query parameter {name!r} contains a NUL character", field=name.replace("\x00", ""))
    # An empty value (`?job=`) means "not given", as the page's links and curl users expect.
    params = {name: value for name, value in params.items() if value != ""}
    try:
        return model.model_validate(params)
    except ValidationError as error:
        raise _invalid(error, "query parameter", allowed=list(model.model_fields)) from None


def _invalid(error: ValidationError, what: str, allowed: list[str]) -> OpsError:
    first = error.errors()[0]
    name = ".".join(str(part) for part in first["loc"]) or "body"
    if first["type"] == "extra_forbidden":
        return OpsError(422, f"unknown {what} {name!r} (allowed: {', '.join(allowed)})", field=name)
    return OpsError(422, f"invalid {what} {name!r}: {first['msg']}", field=name)


async def json_object(request: Request, *, empty_ok: bool = False) -> dict[str, Any]:
    """The request body as a JSON object; 413/415/422 with one clear line otherwise.

    lib/body_limit.py already refused a body over 64 KB before it was read;
    this checks again for an app built without that middleware.
    """
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        raise OpsError(413, f"the body is larger than {MAX_BODY_BYTES // 1024} KB")
    if not body.strip():
        if empty_ok:
            return {}
        raise OpsError(422, "send a JSON object as the body", field="body")
    # Read as JSON whatever the content type says: `curl -d '{...}'` labels it a form.
    try:
        parsed = json.loads(body, parse_constant=_no_constant)
    except _NotJson as error:
        raise OpsError(422, f"the body {error}", field="body") from None
    except (ValueError, RecursionError):
        raise OpsError(422, "the body is not valid JSON", field="body") from None
    if not isinstance(parsed, dict):
        raise OpsError(422, "the body must be a JSON object", field="body")
    for key, value in parsed.items():
        field = _shown(key)
        # A field's value (a payload) counts as its first level, as lib/manage counts it.
        problem = text_problem(key) or json_problem(value, max_depth=MAX_DEPTH)
        if problem:
            # Postgres text and jsonb cannot hold these: refused here, not a database error later.
            raise OpsError(422, f"{field} {problem}", field=field)
    return parsed


class _NotJson(ValueError):
    """A body JSON parses but this service cannot store: NaN, Infinity."""


def _no_constant(name: str) -> Any:
    raise _NotJson(f"holds {name}, which JSON does not allow (and Postgres cannot store)")


def _shown(key: str) -> str:
    """A field name fit to echo: what the client sent, less what cannot be text, at most 100 characters."""
    shown = key.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")[:100]
    return shown or "body"


def validate_body(model: type[Params], data: dict[str, Any]) -> Params:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _invalid(error, "field", allowed=list(model.model_fields)) from None
