"""Sign-in, sign-out and the session's state: POST /api/ops/login, POST /api/ops/logout, GET /api/ops/session.

Sign-in takes `{"user", "password"}` (an operator), or `{"secret"}` (the cron
secret: only while no operator exists, to make the first admin, or with
OPS_SECRET_SIGNIN=true), as JSON or a form post of at most 4 KB. Failures are
counted in the database per client address and per account
(ops_signin_begin): after 10 from one address or 20 for one account within
15 minutes, sign-in answers 429 with Retry-After, whatever the password,
until the window passes. The client address is the socket's peer, or on
Vercel (VERCEL=1) the x-real-ip Vercel sets.

A session is a random id in the cookie (HttpOnly, SameSite=Strict, Secure on
https, Path=/api/ops, 12 hours); the database holds its SHA-256.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from lib.auth import Unauthorized, check_authorization
from lib.db import DatabaseError
from lib.db.queries.operators import ops_session_end, ops_signin_begin, ops_signin_state, ops_signin_succeeded
from lib.manage.passwords import MAX_LENGTH, verify_password
from lib.ops.routes import OpsRoute
from lib.ops.session import (
    COOKIE_NAME,
    COOKIE_PATH,
    SESSION_SECONDS,
    OpsError,
    authenticate,
    database_or_503,
    origin_allowed_if_present,
    request_scheme,
    secret_signin_allowed,
    secret_tag,
    secrets_or_503,
    settings_or_503,
    token_hash,
    unreachable,
)
from lib.settings import Settings

log = logging.getLogger("cronrelay.ops")

router = APIRouter(route_class=OpsRoute)

MAX_LOGIN_BODY = 4096
FIELDS = ("user", "password", "secret")


def client_address(request: Request, settings: Settings) -> str:
    """Who is signing in, for the throttle: on Vercel its x-real-ip (the client cannot set it), else the peer."""
    if settings.vercel:
        real = request.headers.get("x-real-ip", "").strip()
        if real:
            return real[:100]
    return (request.client.host if request.client else "")[:100]


async def _sign_in_fields(request: Request) -> dict[str, str]:
    """`user` and `password`, or `secret`, from a JSON body or a form post; 413/415/422 otherwise."""
    body = await request.body()
    if len(body) > MAX_LOGIN_BODY:
        raise OpsError(413, "the sign-in body is too large")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    parsed: Any
    if kind == "application/json":
        try:
            parsed = json.loads(body or b"null")
        except (ValueError, RecursionError):
            raise OpsError(422, "the sign-in body is not valid JSON", field="body") from None
    elif kind == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode("utf-8", "replace"))
        parsed = {name: values[0] for name, values in form.items() if len(values) == 1}
    else:
        raise OpsError(415, 'send {"user": ..., "password": ...} as application/json, or a form post')
    if not isinstance(parsed, dict):
        raise OpsError(422, 'send {"user": ..., "password": ...} (or {"secret": ...})', field="body")
    fields = {name: parsed[name] for name in FIELDS if name in parsed}
    if "secret" in fields:
        if not isinstance(fields["secret"], str) or not fields["secret"].strip():
            raise OpsError(422, "secret is required", field="secret")
        return {"secret": fields["secret"]}
    for name in ("user", "password"):
        value = fields.get(name)
        if not isinstance(value, str) or not value or len(value) > MAX_LENGTH:
            raise OpsError(422, f"{name} is required", field=name)
    return {"user": fields["user"], "password": fields["password"]}


def _set_session_cookie(response: Response, request: Request, token: str, max_age: int) -> None:
    response.set_cookie(
        COOKIE_NAME,
        token,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=request_scheme(request) == "https",
        httponly=True,
        samesite="strict",
    )


@router.post("/login", include_in_schema=False)
async def login(request: Request) -> Response:
    if not origin_allowed_if_present(request):
        raise OpsError(403, "sign-in must come from the console's own origin")
    settings = settings_or_503(request)
    keys_from = secrets_or_503(settings)
    fields = await _sign_in_fields(request)
    db = database_or_503(settings)
    address = client_address(request, settings)
    try:
        # Counted before any password is checked, so a burst cannot slip past the limit.
        start = await ops_signin_begin(db, address=address, account=fields.get("user"))
    except DatabaseError as error:
        raise unreachable(settings, error) from None
    if start.retry_after > 0 or start.attempt_id is None:
        log.warning("ops: sign-in throttled (too many failures from this address or for this account)")
        wait = max(start.retry_after, 1)
        raise OpsError(429, f"too many failed sign-ins; try again in {wait} s", retry_after=wait)

    tag: str | None = None
    if "secret" in fields:
        if not secret_signin_allowed(settings, start.operators or 0):
            raise OpsError(
                403, "the cron secret signs in only until the first operator exists; sign in with a name and password"
            )
        try:
            # The same constant-time check as the bearer header; the value is never logged.
            check_authorization(settings, f"Bearer {fields['secret'].strip()}")
        except Unauthorized:
            log.warning("ops: sign-in with a wrong secret")
            raise OpsError(401, "wrong secret") from None
        presented = fields["secret"].strip().encode()
        tag = secret_tag(next(secret for secret in keys_from if secrets.compare_digest(secret, presented)))
        answer: dict[str, Any] = {"signed_in": True, "user": None, "role": "admin", "via": "secret"}
    else:
        usable = start.user_id is not None and not start.disabled
        # Checked even for a name that does not exist, so the answer's timing does not tell.
        right = await asyncio.to_thread(verify_password, fields["password"], start.password_hash if usable else None)
        if not (usable and right):
            log.warning("ops: sign-in with a wrong name or password")
            raise OpsError(401, "wrong name or password")
        answer = {"signed_in": True, "user": fields["user"].strip().lower(), "role": start.role, "via": "password"}

    token = secrets.token_urlsafe(32)
    try:
        await ops_signin_succeeded(
            db,
            attempt_id=start.attempt_id,
            token_hash=token_hash(token),
            user_id=start.user_id if tag is None else None,
            secret_tag=tag,
            address=address,
            seconds=SESSION_SECONDS,
        )
    except DatabaseError as error:
        raise unreachable(settings, error) from None
    response = JSONResponse(answer)
    _set_session_cookie(response, request, token, SESSION_SECONDS)
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request) -> Response:
    """Ends the session in the database (every instance refuses it from now on) and clears the cookie."""
    if not origin_allowed_if_present(request):
        raise OpsError(403, "sign-out must come from the console's own origin")
    token = request.cookies.get(COOKIE_NAME, "")
    if token and len(token) <= 256:
        settings = settings_or_503(request)
        try:
            await ops_session_end(database_or_503(settings), token_hash=token_hash(token))
        except DatabaseError as error:
            raise unreachable(settings, error) from None
    response = JSONResponse({"signed_in": False})
    _set_session_cookie(response, request, "", 0)
    return response


@router.get("/session", include_in_schema=False)
async def session(request: Request) -> Response:
    """Never 401: the page asks this to choose between the sign-in form (which one) and the console."""
    # The guard's own rules decide; only its 401 becomes "not signed in" (a 503 stays a 503).
    try:
        access = await authenticate(request)
    except OpsError as error:
        if error.status != 401:
            raise
        settings = settings_or_503(request)
        try:
            operators = await ops_signin_state(database_or_503(settings))
        except DatabaseError as error:
            raise unreachable(settings, error) from None
        return JSONResponse(
            {
                "signed_in": False,
                # No operator yet: the form asks for the cron secret and offers to make the first admin.
                "bootstrap": operators == 0,
                "secret_signin": secret_signin_allowed(settings, operators),
            }
        )
    actor = access.actor
    user = actor.who.removeprefix("ops:") if actor.who.startswith("ops:") else None
    return JSONResponse({"signed_in": True, "user": user, "who": actor.who, "role": actor.role, "via": access.via})
