"""The console's last-resort answer: whatever a route raises, the client gets `{"error": "<one line>"}`.

Guard and problem errors have their own answers (lib/ops/routes.py), and
HTTP errors the app's handler (lib/app.py); anything else is a bug or a
failure nobody worded. It is logged with its trace, and answered 500 with
one line that names no value: never a raw database message, never HTML.
"""

from __future__ import annotations

import logging

from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

log = logging.getLogger("cronrelay.ops")

ANSWER = "internal error ({kind}): the console could not answer this request; the server log has the details"


def last_resort(error: Exception) -> JSONResponse:
    """The 500 answer for `error`; an HTTP or validation error is re-raised for the app's own handlers."""
    if isinstance(error, HTTPException | RequestValidationError):
        raise error
    # The type is safe to show (it holds no value); the message may not be.
    log.error("ops: unhandled %s", type(error).__name__, exc_info=error)
    return JSONResponse({"error": ANSWER.format(kind=type(error).__name__)}, status_code=500)
