"""POST /api/ops/me/password: whoever is signed in with a password changes it (viewer, operator or admin).

`{"current": ..., "new": ...}` and nothing else: the account is the session's
own, never a name from the body. The current password is checked like a
sign-in, under the same throttle (ops_signin_begin: per client address and
per account), so a stolen cookie cannot be used to guess the password: a
wrong one is a counted failure (403, so the page keeps its session), and
too many are a 429 with Retry-After. A session opened with the cron secret
has no account, hence no password of its own (409).
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from lib.db import DatabaseError
from lib.db.queries.operators import ops_signin_begin
from lib.manage.own_password import change_own_password, check_new_password
from lib.manage.passwords import MAX_LENGTH, verify_password
from lib.ops.api._common import answering, database, json_object, validate_body
from lib.ops.routes import OpsRoute
from lib.ops.session import (
    COOKIE_NAME,
    OpsError,
    authenticate,
    check_cookie_write,
    database_or_503,
    token_hash,
    unreachable,
)
from lib.ops.signin import client_address

log = logging.getLogger("cronrelay.ops")

router = APIRouter(route_class=OpsRoute)

NO_ACCOUNT = (
    "this session signed in with the cron secret, which has no password of its own: sign in as an operator, "
    "or set an operator's password with `python -m lib ops-users password <name>`"
)


class OwnPasswordBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    current: str = Field(min_length=1, max_length=MAX_LENGTH)
    # Its length is checked by the password rules, so the message is theirs.
    new: str


@router.post("/me/password")
async def change_password(request: Request) -> JSONResponse:
    access = await authenticate(request)
    check_cookie_write(request, access)
    user = access.actor.who.removeprefix("ops:") if access.actor.who.startswith("ops:") else None
    token = request.cookies.get(COOKIE_NAME, "")
    if access.via != "cookie" or user is None or not token:
        raise OpsError(409, NO_ACCOUNT)
    body = validate_body(OwnPasswordBody, await json_object(request))
    async with answering(access):
        check_new_password(body.current, body.new)

    plain = database_or_503(access.settings)
    address = client_address(request, access.settings)
    try:
        # Counted before the password is checked, as a sign-in is: a burst cannot slip past the limit.
        start = await ops_signin_begin(plain, address=address, account=user)
    except DatabaseError as error:
        raise unreachable(access.settings, error) from None
    if start.retry_after > 0 or start.attempt_id is None:
        log.warning("ops: password change throttled (too many failures from this address or for this account)")
        wait = max(start.retry_after, 1)
        raise OpsError(429, f"too many wrong passwords; try again in {wait} s", retry_after=wait)
    usable = start.user_id is not None and not start.disabled
    # Constant time, and the same work whether or not the hash is usable (lib/manage/passwords.py).
    right = await asyncio.to_thread(verify_password, body.current, start.password_hash if usable else None)
    if not (usable and right):
        log.warning("ops: a password change with a wrong current password")
        raise OpsError(403, "the current password is wrong", field="current")

    async with answering(access):
        changed = await change_own_password(
            database(access), token_hash=token_hash(token), attempt_id=start.attempt_id, new=body.new
        )
    return JSONResponse(
        {"operator": changed.operator.model_dump(mode="json"), "sessions_ended": changed.sessions_ended}
    )
