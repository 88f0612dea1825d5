"""The CRON_SECRET guard: `Authorization: Bearer <secret>`, nothing else counts.

It fails closed: without a usable CRON_SECRET every guarded route is a 503.
Secrets are compared in constant time, as bytes, and never logged.
"""

from __future__ import annotations

import hmac
import logging

from lib.settings import MIN_SECRET_LENGTH, Settings, SettingsError

log = logging.getLogger("cronrelay.auth")


class Unauthorized(Exception):
    pass


def accepted_secrets(settings: Settings) -> list[bytes]:
    """The secrets a caller may present; raises SettingsError when there is none usable."""
    current = settings.cron_secret.get_secret_value() if settings.cron_secret else ""
    if not current:
        log.error("CRON_SECRET is not set: every guarded route answers 503 until it is")
        raise SettingsError("CRON_SECRET is not set")
    if len(current) < MIN_SECRET_LENGTH:
        log.error("CRON_SECRET is too short: every guarded route answers 503 until it is fixed")
        raise SettingsError(f"CRON_SECRET is shorter than {MIN_SECRET_LENGTH} characters")
    secrets = [current.encode()]
    upcoming = settings.cron_secret_next.get_secret_value() if settings.cron_secret_next else ""
    if upcoming:
        if len(upcoming) < MIN_SECRET_LENGTH:
            log.warning("CRON_SECRET_NEXT is shorter than %d characters and is ignored", MIN_SECRET_LENGTH)
        else:
            secrets.append(upcoming.encode())
    return secrets


def check_authorization(settings: Settings, authorization: str | None) -> None:
    """Pass, or raise Unauthorized (401) / SettingsError (503)."""
    secrets = accepted_secrets(settings)
    scheme, _, presented = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Unauthorized()
    candidate = presented.strip().encode()
    # Compare against every secret, so timing does not tell which one matched.
    matches = [hmac.compare_digest(candidate, secret) for secret in secrets]
    if not any(matches):
        raise Unauthorized()
