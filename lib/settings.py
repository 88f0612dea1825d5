"""Every setting cronrelay reads, from the environment (and `.env` locally).

Settings are read once per process. A bad value becomes a `SettingsError`
that names the variable; the routes turn it into a 503, the CLI into an exit.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 16
_ACTIVE_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)$")


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


def _http_url(name: str, value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    cron_secret: SecretStr | None = None
    cron_secret_next: SecretStr | None = None

    supabase_url: str | None = None
    supabase_service_role_key: SecretStr | None = None
    database_url: SecretStr | None = None

    run_time_budget_seconds: float = Field(50, gt=0, le=800)
    lease_seconds: int = Field(120, gt=0)

    stale_after_seconds: int = Field(300, ge=1)
    alert_webhook_url: str | None = None

    heartbeat_retention_days: int = Field(30, ge=1)
    cleanup_batch_size: int = Field(10_000, ge=1, le=1_000_000)

    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org"
    telegram_max_per_second: float = Field(25, gt=0, le=10_000)
    reminder_batch_size: int = Field(100, ge=1, le=1_000)
    reminder_repeat_hours: float = Field(24, gt=0)
    reminder_max_count: int = Field(3, ge=1)
    delivery_max_attempts: int = Field(5, ge=1)
    reminder_active_hours: str | None = None
    reminder_timezone: str = "UTC"

    run_request_batch_size: int = Field(20, ge=1, le=1_000)
    webhook_signing_secret: SecretStr | None = None
    webhook_timeout_seconds: float = Field(10, gt=0, le=800)
    allow_http_webhooks: bool = False

    @field_validator("*", mode="before")
    @classmethod
    def _blank_means_default(cls, value: Any) -> Any:
        # A variable set to "" (or a stray newline pasted into a dashboard)
        # means "not set", not "set to nothing".
        if isinstance(value, str):
            value = value.strip()
            if not value:
                raise PydanticUseDefault()
        return value

    @field_validator("supabase_url")
    @classmethod
    def _supabase_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url("SUPABASE_URL", value)

    @field_validator("alert_webhook_url")
    @classmethod
    def _alert_url(cls, value: str | None) -> str | None:
        return None if value is None else _http_url("ALERT_WEBHOOK_URL", value)

    @field_validator("telegram_api_base")
    @classmethod
    def _telegram_base(cls, value: str) -> str:
        return _http_url("TELEGRAM_API_BASE", value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            scheme = urlparse(value.get_secret_value()).scheme
            if scheme not in ("postgres", "postgresql"):
                # Never echo the URL: it usually carries the password.
                raise ValueError("DATABASE_URL must start with postgres:// or postgresql://")
        return value

    @field_validator("reminder_active_hours")
    @classmethod
    def _active_hours(cls, value: str | None) -> str | None:
        if value is not None and not _ACTIVE_HOURS.match(value.replace(" ", "")):
            raise ValueError(f"REMINDER_ACTIVE_HOURS must look like 08:00-22:00, got {value!r}")
        return None if value is None else value.replace(" ", "")

    @field_validator("reminder_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"REMINDER_TIMEZONE must be an IANA zone like Europe/Berlin, got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _lease_outlives_budget(self) -> Settings:
        # A lease shorter than the run would let a duplicate delivery start a
        # second run while the first is still working.
        if self.lease_seconds <= self.run_time_budget_seconds:
            raise ValueError(
                f"LEASE_SECONDS ({self.lease_seconds}) must be greater than "
                f"RUN_TIME_BUDGET_SECONDS ({self.run_time_budget_seconds:g})"
            )
        return self

    # -- derived views, so callers never unwrap secrets by hand ---------------

    def cron_secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.cron_secret, self.cron_secret_next) if s is not None]

    def database_problem(self) -> str | None:
        """Why no database adapter can be built, or None when one can."""
        if self.supabase_url and self.supabase_service_role_key:
            return None
        if self.database_url:
            return None
        if self.supabase_url or self.supabase_service_role_key:
            missing = "SUPABASE_SERVICE_ROLE_KEY" if self.supabase_url else "SUPABASE_URL"
            return f"database is not configured: {missing} is not set (or set DATABASE_URL)"
        return "database is not configured: set SUPABASE_URL and SUPABASE_SERVICE_ROLE_KEY, or DATABASE_URL"


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        name = str(item["loc"][0]).upper() if item["loc"] else "settings"
        message = str(item["msg"]).removeprefix("Value error, ")
        problems.append(message if name in message or not item["loc"] else f"{name}: {message}")
    return "; ".join(problems)


def load_settings(**overrides: Any) -> Settings:
    """Read the environment now. Tests pass overrides instead of touching os.environ."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
