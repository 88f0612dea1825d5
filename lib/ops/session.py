"""Who may use the operator console, and how: bearer, session cookie, roles and the write guard.

Two ways in:
- `Authorization: Bearer <CRON_SECRET or CRON_SECRET_NEXT>`, as on every
  guarded route (curl, scripts): an admin, audited as `cron-secret`;
- the `cronrelay_ops` cookie set by POST /api/ops/login (lib/ops/signin.py):
  a random session id whose SHA-256 names a row of `ops_sessions`, so
  logout, disabling an operator and a password change end it at once, on
  every instance. A session opened with the cron secret (the first admin's
  bootstrap, or OPS_SECRET_SIGNIN) lives only while that is allowed and the
  secret it proved is still configured.

A write carried by the cookie must also show `X-Cronrelay-Request: 1` and an
`Origin` equal to the request's own `Host` (X-Forwarded-Host is not
trusted): a cross-site form cannot set the header, and SameSite=Strict
already keeps the cookie off cross-site requests; the two together are the
CSRF guard. Nothing is written on a GET.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import Depends, Request

from lib.auth import Unauthorized, accepted_secrets, check_authorization
from lib.db import Database, DatabaseError, DatabaseUnavailable, database_for
from lib.db.queries.operators import ops_session_get
from lib.manage.actors import CRON_SECRET, Actor, Role, allows, operator
from lib.problems import ProblemError
from lib.settings import Settings, SettingsError

log = logging.getLogger("cronrelay.ops")

COOKIE_NAME = "cronrelay_ops"
COOKIE_PATH = "/api/ops"
SESSION_SECONDS = 12 * 3600
WRITE_HEADER = "x-cronrelay-request"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_TAG_LABEL = b"cronrelay ops secret session"

# The console's answers are the one problem type (lib/problems.py); the old name stays for its callers.
OpsError = ProblemError


@dataclass(frozen=True)
class OpsAccess:
    """A request that passed the guard: the settings, how it proved itself, and who acts."""

    settings: Settings
    via: Literal["bearer", "cookie"]
    actor: Actor


# -- session ids and secrets ------------------------------------------------------


def token_hash(token: str) -> str:
    """What ops_sessions stores for a cookie's session id: its SHA-256, so a read of the table signs nobody in."""
    return hashlib.sha256(token.encode()).hexdigest()


def secret_tag(secret: bytes) -> str:
    """Names which cron secret opened a session without being it (a rotation ends the session)."""
    return hmac.new(secret, _TAG_LABEL, hashlib.sha256).hexdigest()[:32]


def secret_signin_allowed(settings: Settings, operators: int) -> bool:
    """The page takes the cron secret while no operator exists (bootstrap), or with OPS_SECRET_SIGNIN=true."""
    return operators == 0 or settings.ops_secret_signin


# -- request facts ----------------------------------------------------------------


def _first(value: str | None) -> str:
    return (value or "").split(",")[0].strip()


def request_scheme(request: Request) -> str:
    """`https` behind Vercel's proxy too (it sends x-forwarded-proto)."""
    forwarded = _first(request.headers.get("x-forwarded-proto")).lower()
    return forwarded if forwarded in ("http", "https") else request.url.scheme


def _normal_origin(scheme: str, host: str) -> str:
    scheme, host = scheme.lower(), host.lower()
    default = {"http": ":80", "https": ":443"}.get(scheme)
    if default and host.endswith(default):
        host = host.removesuffix(default)
    return f"{scheme}://{host}"


def own_origin(request: Request) -> str:
    # The Host header alone: X-Forwarded-Host is whatever the client says it is.
    return _normal_origin(request_scheme(request), request.headers.get("host", ""))


def same_origin(request: Request) -> bool:
    """The request's `Origin` names this server (not "null", not absent)."""
    origin = (request.headers.get("origin") or "").strip()
    scheme, sep, host = origin.partition("://")
    if not sep or not host or "/" in host:
        return False
    return _normal_origin(scheme, host) == own_origin(request)


def origin_allowed_if_present(request: Request) -> bool:
    """For sign-in and sign-out: curl sends no Origin; a browser from elsewhere does (login CSRF)."""
    return "origin" not in request.headers or same_origin(request)


# -- the guard ----------------------------------------------------------------------


def settings_or_503(request: Request) -> Settings:
    """The app's settings (its `settings_source`), or a 503 naming what is wrong."""
    source: Callable[[], Settings] = request.app.state.settings_source
    try:
        return source()
    except SettingsError as error:
        log.error("configuration error: %s", error)
        raise OpsError(503, str(error)) from None


def secrets_or_503(settings: Settings) -> list[bytes]:
    try:
        return accepted_secrets(settings)
    except SettingsError as error:
        raise OpsError(503, str(error)) from None


def database_or_503(settings: Settings) -> Database:
    try:
        return database_for(settings)
    except SettingsError as error:
        raise OpsError(503, str(error)) from None


def unreachable(settings: Settings, error: DatabaseError) -> OpsError:
    """The 503 (or 500) for a database failure; the cause goes to the log, redacted."""
    from lib.runner import one_line

    log.error("ops: database error: %s", settings.redact(one_line(error)))
    if isinstance(error, DatabaseUnavailable):
        return OpsError(503, "the database cannot be reached; the console retries by itself")
    return OpsError(500, "the database failed; see the log")


async def _cookie_actor(request: Request, settings: Settings, keys_from: list[bytes]) -> Actor | None:
    token = request.cookies.get(COOKIE_NAME, "")
    if not token or len(token) > 256:
        return None
    db = database_or_503(settings)
    try:
        found = await ops_session_get(db, token_hash=token_hash(token))
    except DatabaseError as error:
        raise unreachable(settings, error) from None
    if found is None:
        return None
    if found.via == "secret":
        tags = [secret_tag(secret) for secret in keys_from]
        matches = [hmac.compare_digest(found.secret_tag or "", tag) for tag in tags]
        if not any(matches) or not secret_signin_allowed(settings, found.operators):
            return None
        return CRON_SECRET
    if found.user_name is None or found.role not in ("viewer", "operator", "admin"):
        return None
    role: Role = found.role  # type: ignore[assignment]
    return operator(found.user_name, role)


async def authenticate(request: Request) -> OpsAccess:
    """Bearer first (an Authorization header decides alone), else the cookie; 401 or 503 otherwise."""
    settings = settings_or_503(request)
    keys_from = secrets_or_503(settings)
    if "authorization" in request.headers:
        try:
            check_authorization(settings, request.headers.get("authorization"))
        except Unauthorized:
            raise OpsError(401, "unauthorized") from None
        return OpsAccess(settings, "bearer", CRON_SECRET)
    actor = await _cookie_actor(request, settings, keys_from)
    if actor is not None:
        return OpsAccess(settings, "cookie", actor)
    raise OpsError(401, "unauthorized")


def check_cookie_write(request: Request, access: OpsAccess) -> None:
    """The CSRF guard: a cookie-carried write must show the custom header and come from this origin."""
    if access.via == "cookie":
        if request.headers.get(WRITE_HEADER, "").strip() != "1":
            raise OpsError(403, "a write from the console must carry the header X-Cronrelay-Request: 1")
        if not same_origin(request):
            raise OpsError(403, "a write from the console must come from the console's own origin")


def check_write(request: Request, access: OpsAccess) -> None:
    """A cookie-carried write must show the custom header and come from this origin; a viewer writes nothing."""
    check_cookie_write(request, access)
    # lib/manage decides what each role may do; a viewer may do none of it.
    if not allows(access.actor.role, "operator"):
        raise OpsError(403, f"a viewer cannot change anything; {access.actor.who} is {access.actor.role}")


def require_ops_access(write: bool) -> Callable[[Request], Awaitable[OpsAccess]]:
    """A dependency: `Depends(require_ops_access(write=True))` on every POST/PATCH/DELETE route.

    A write dependency reached by a GET is a 405, never a pass: nothing is written on a GET."""

    async def dependency(request: Request) -> OpsAccess:
        access = await authenticate(request)
        if write:
            if request.method not in WRITE_METHODS:
                raise OpsError(405, "writes are POST, PATCH or DELETE")
            check_write(request, access)
        return access

    return dependency


# For route signatures: `async def pause(job_id: str, access: OpsWriter) -> ...`.
OpsReader = Annotated[OpsAccess, Depends(require_ops_access(write=False))]
OpsWriter = Annotated[OpsAccess, Depends(require_ops_access(write=True))]
