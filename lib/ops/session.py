"""Who may use the operator console, and how: the session cookie and the write guard.

Two ways in, both proven with the cron secret:
- `Authorization: Bearer <CRON_SECRET or CRON_SECRET_NEXT>`, as on every guarded route (curl, scripts);
- the `cronrelay_ops` cookie set by POST /api/ops/login (the page).

The cookie is an HMAC token, `v1.<issued>.<expires>.<nonce>.<mac>`, keyed from
the secret itself, so rotating CRON_SECRET ends every session and no
server-side session store is needed. A write carried by the cookie must also
show `X-Cronrelay-Request: 1` and a same-origin `Origin`: a cross-site form
cannot set the header, and SameSite=Strict already keeps the cookie off
cross-site requests; the two together are the CSRF guard.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Request

from lib.auth import Unauthorized, accepted_secrets, check_authorization
from lib.settings import Settings, SettingsError

log = logging.getLogger("cronrelay.ops")

COOKIE_NAME = "cronrelay_ops"
COOKIE_PATH = "/api/ops"
SESSION_SECONDS = 12 * 3600
WRITE_HEADER = "x-cronrelay-request"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A token issued a little "in the future" is a clock difference between
# instances, not an attack; more than this is refused.
CLOCK_SKEW_SECONDS = 60

_KEY_LABEL = b"cronrelay ops session"
_VERSION = "v1"


class OpsError(Exception):
    """An answer from the console's guard: status code plus one clear line."""

    def __init__(self, status: int, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.status = status
        self.body: dict[str, Any] = {"error": error, **extra}


@dataclass(frozen=True)
class OpsAccess:
    """A request that passed the guard: the settings, and how it proved itself."""

    settings: Settings
    via: Literal["bearer", "cookie"]


# -- tokens -----------------------------------------------------------------------


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signing_key(secret: bytes) -> bytes:
    """The key a session is signed with: derived, so the secret itself never signs anything."""
    return hmac.new(secret, _KEY_LABEL, hashlib.sha256).digest()


def _mac(key: bytes, message: str) -> str:
    return _b64(hmac.new(key, message.encode(), hashlib.sha256).digest())


def mint_token(secret: bytes, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    message = f"{_VERSION}.{issued}.{issued + SESSION_SECONDS}.{secrets.token_urlsafe(16)}"
    return f"{message}.{_mac(signing_key(secret), message)}"


def token_valid(token: str, keys_from: list[bytes], now: float | None = None) -> bool:
    """True when `token` was signed with one of these secrets' keys and is within its lifetime."""
    message, _, mac = token.rpartition(".")
    parts = message.split(".")
    if len(parts) != 4 or parts[0] != _VERSION or not mac:
        return False
    # Check every key, so timing does not tell which secret (if any) matched.
    matches = [hmac.compare_digest(mac.encode(), _mac(signing_key(secret), message).encode()) for secret in keys_from]
    if not any(matches):
        return False
    try:
        issued, expires = int(parts[1]), int(parts[2])
    except ValueError:
        return False
    current = time.time() if now is None else now
    return issued - CLOCK_SKEW_SECONDS <= current < expires and 0 < expires - issued <= SESSION_SECONDS


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
    host = _first(request.headers.get("x-forwarded-host")) or request.headers.get("host", "")
    return _normal_origin(request_scheme(request), host)


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


def cookie_signed_in(request: Request, keys_from: list[bytes]) -> bool:
    token = request.cookies.get(COOKIE_NAME)
    return bool(token) and token_valid(token or "", keys_from)


def authenticate(request: Request) -> OpsAccess:
    """Bearer first (an Authorization header decides alone), else the cookie; 401 or 503 otherwise."""
    settings = settings_or_503(request)
    keys_from = secrets_or_503(settings)
    if "authorization" in request.headers:
        try:
            check_authorization(settings, request.headers.get("authorization"))
        except Unauthorized:
            raise OpsError(401, "unauthorized") from None
        return OpsAccess(settings, "bearer")
    if cookie_signed_in(request, keys_from):
        return OpsAccess(settings, "cookie")
    raise OpsError(401, "unauthorized")


def check_write(request: Request, access: OpsAccess) -> None:
    """A cookie-carried write must show the custom header and come from this origin."""
    if access.via != "cookie":
        return
    if request.headers.get(WRITE_HEADER, "").strip() != "1":
        raise OpsError(403, "a write from the console must carry the header X-Cronrelay-Request: 1")
    if not same_origin(request):
        raise OpsError(403, "a write from the console must come from the console's own origin")


def require_ops_access(write: bool) -> Callable[[Request], OpsAccess]:
    """A dependency: `Depends(require_ops_access(write=True))` on every POST/PATCH/DELETE route.

    A write dependency reached by a GET is a 405, never a pass: nothing is written on a GET."""

    def dependency(request: Request) -> OpsAccess:
        access = authenticate(request)
        if write:
            if request.method not in WRITE_METHODS:
                raise OpsError(405, "writes are POST, PATCH or DELETE")
            check_write(request, access)
        return access

    return dependency


# For route signatures: `async def pause(job_id: str, access: OpsWriter) -> ...`.
OpsReader = Annotated[OpsAccess, Depends(require_ops_access(write=False))]
OpsWriter = Annotated[OpsAccess, Depends(require_ops_access(write=True))]
