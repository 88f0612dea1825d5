"""Every setting cronrelay reads, from the environment (and `.env` locally).

Settings are read once per process. A bad value becomes a `SettingsError`
that names the variable; the routes turn it into a 503, the CLI into an exit.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_LENGTH = 16
# The end may be 24:00 (end of day), nothing later: what lib/clock/quiet_hours.py accepts.
_ACTIVE_HOURS = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-(([01]\d|2[0-3]):[0-5]\d|24:00)$")


# A Telegram chat: a numeric id (groups are negative) or a public @username.
_TELEGRAM_CHAT = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31})$")
ALERT_URL_SETTINGS = ("alert_webhook_url", "alert_slack_webhook_url", "alert_discord_webhook_url")
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})


def alert_url_problem(value: str, *, allow_http: bool, allow_private: bool = False) -> str | None:
    """What is wrong with an alert channel URL, worded after its variable's name; None when it may be used.

    DESIGN.md, Outbound calls: https, no credentials in the URL; plain http
    only to localhost with ALLOW_HTTP_WEBHOOKS. A host written as an address
    (`10.0.0.5`, `[::1]`, `169.254.169.254`, `2130706433`) is checked here, by
    the outbound policy's rules, so a channel that could never be called stops
    the deployment at load, not at its first alert. A name is checked at call
    time (lib/alerts/send.py), as a DNS answer can change.
    """
    try:
        parsed = urlsplit(value)
        parsed.port  # noqa: B018 -- raises on a port that is not a number in range
    except ValueError:
        return "is not a valid URL"
    if any(c.isspace() for c in value) or not parsed.hostname:
        return "must be an https URL with a host"
    if parsed.username is not None or parsed.password is not None:
        return "must not carry credentials (user:password@); the service's own token in the path is fine"
    if parsed.scheme == "http" and allow_http and parsed.hostname in _LOCAL_HOSTS:
        return None
    if parsed.scheme == "http" and parsed.hostname in _LOCAL_HOSTS:
        return "must be https (plain http to localhost needs ALLOW_HTTP_WEBHOOKS=true)"
    if parsed.scheme != "https":
        return "must be an https URL"
    return _literal_host_problem(parsed.hostname, allow_http=allow_http, allow_private=allow_private)


def _literal_host_problem(host: str, *, allow_http: bool, allow_private: bool) -> str | None:
    """Why an https URL's host, when it is an address or a loopback name, is refused; None for a name to resolve.

    The message names the address's class, never the address: the setting's
    name says which URL, and the value is not echoed (see below).
    """
    # Imported here, not at the top: the policy brings httpx, which importing the entry point must
    # not load (tests/test_cold_start.py); only a deployment with an alert URL pays for it, at load.
    from lib.outbound.policy import LOOPBACK_NAMES, TargetAccess, address_problem, literal_address

    access = TargetAccess(allow_loopback=allow_http, allow_private=allow_private)
    if host.lower() in LOOPBACK_NAMES:
        # `localhost` resolves to loopback everywhere: refused now, not at the first alert.
        return (
            None if access.allow_loopback else "must not point at a loopback name (ALLOW_HTTP_WEBHOOKS=true allows it)"
        )
    address = literal_address(host)
    problem = None if address is None else address_problem(address, access)
    return f"must not point at {problem}" if problem else None


_SSL_MODES = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"}


class SettingsError(Exception):
    """A setting is missing or malformed; the message names the variable."""


# Every message below says what is wrong and never the value: a URL can carry
# a token (a Slack hook, a bot URL), and a settings error is served as a 503
# before authorization and written to the log.


def _http_url(name: str, value: str) -> str:
    problem = f"{name} must be an http(s) URL with a host"
    try:
        parsed = urlsplit(value)
        parsed.port  # noqa: B018 -- raises on a port that is not a number in range
    except ValueError:
        raise ValueError(problem) from None
    if parsed.scheme not in ("http", "https") or not parsed.hostname or any(c.isspace() for c in value):
        raise ValueError(problem)
    return value.rstrip("/")


def _valid_port(text: str) -> bool:
    return text.isascii() and text.isdigit() and 1 <= int(text) <= 65535


# Query parameters other Postgres clients put in their URLs that libpq refuses
# ("invalid URI query parameter"): named in the message, as they are not
# secrets and are the usual culprits (Supabase's dashboard gives Prisma's URL
# with ?pgbouncer=true&connection_limit=1; asyncpg took any name as a server
# setting). Any other unknown name is refused without being named.
_OTHER_CLIENTS_PARAMETERS = frozenset(
    {
        "pgbouncer",
        "connection_limit",
        "pool_timeout",
        "connect_timeout_ms",
        "socket_timeout",
        "schema",
        "statement_cache_size",
        "sslaccept",
        "sslcert_password",
        "server_settings",
        "prepared_statement_cache_size",
        "search_path",
        "role",
    }
)
_UNKNOWN_PARAMETER = re.compile(r'invalid URI query parameter: "([^"]*)"')


def _database_url_problem(value: str) -> str | None:
    """What is wrong with a postgres DSN, checked as libpq (psycopg) reads it, or None.

    libpq parses the URL here, offline, so a URL that would fail at the first
    connection fails at load instead, naming DATABASE_URL. libpq's own messages
    quote the URL, so none is passed on: each problem has its own wording.
    """
    # Imported here: the settings load on every cold start, and only a deployment
    # with DATABASE_URL pays for psycopg (its postgres adapter needs it anyway).
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    if not value.startswith(("postgres://", "postgresql://")):
        return "DATABASE_URL must start with postgres:// or postgresql://"
    if any(c.isspace() for c in value):
        return "DATABASE_URL must not contain spaces"
    try:
        params = conninfo_to_dict(value)
    except psycopg.Error as error:
        return _libpq_refusal(str(error))
    hosts = str(params.get("host", "")).split(",")
    if any("@" in host for host in hosts):
        # libpq ends the credentials at the first @: p@ss@host is user:p, host ss@host.
        return "DATABASE_URL has an @ in its user or password: percent-encode it as %40"
    if any(not host for host in hosts):
        return "DATABASE_URL has no host (postgresql://user:password@host:5432/database)"
    ports = str(params.get("port", "")).split(",") if "port" in params else []
    if any(port and not _valid_port(port) for port in ports):
        return "DATABASE_URL has a port that is not a number from 1 to 65535"
    if len(ports) > 1 and len(ports) != len(hosts):
        return "DATABASE_URL has a different number of ports and hosts (one port for all, or one per host)"
    if "sslmode" in params and params["sslmode"] not in _SSL_MODES:
        return "DATABASE_URL has an unknown sslmode (disable, allow, prefer, require, verify-ca or verify-full)"
    if not str(params.get("connect_timeout", "0")).lstrip("-").isdigit():
        return "DATABASE_URL has a connect_timeout that is not a whole number of seconds"
    return None


def _libpq_refusal(message: str) -> str:
    """Our wording of why libpq cannot read a URL; `message` (which quotes the URL) is not echoed."""
    unknown = _UNKNOWN_PARAMETER.search(message)
    if unknown and unknown.group(1) in _OTHER_CLIENTS_PARAMETERS:
        return (
            f"DATABASE_URL has a query parameter libpq does not accept ({unknown.group(1)}, from another client's"
            " URL): remove it"
        )
    if unknown:
        return (
            "DATABASE_URL has a query parameter libpq does not accept: remove it"
            " (a server setting goes in options=-c%20name%3Dvalue)"
        )
    if "percent-encod" in message:
        return "DATABASE_URL has a malformed percent-encoding (a % must start %XX; write a literal % as %25)"
    if "key/value separator" in message:
        return "DATABASE_URL has a malformed query string (expected ?name=value&...)"
    if "IPv6" in message or "host" in message:
        return "DATABASE_URL has a malformed host (expected host:port, or [ipv6]:port)"
    return "DATABASE_URL is not a connection URL libpq can read"


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
    # Alert channels (lib/alerts): each configured one gets every event.
    alert_slack_webhook_url: str | None = None
    alert_discord_webhook_url: str | None = None
    alert_telegram_chat_id: str | None = None
    alert_max_attempts: int = Field(10, ge=1, le=50)

    heartbeat_retention_days: int = Field(30, ge=1)
    cleanup_batch_size: int = Field(10_000, ge=1, le=1_000_000)
    # prune-history: ledger rows and finished run requests older than this go.
    run_history_days: int = Field(30, ge=1, le=36_500)

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
    # Outbound calls (lib/outbound/policy.py): private ranges allowed, for a self-hosted deployment's own services.
    allow_private_targets: bool = False

    # The console's page accepts the cron secret even once operators exist (else only until the first).
    ops_secret_signin: bool = False
    # Set to 1 by Vercel itself: the client address is then the x-real-ip it sets (lib/ops/signin.py).
    vercel: bool = False

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

    @field_validator("alert_telegram_chat_id")
    @classmethod
    def _alert_chat(cls, value: str | None) -> str | None:
        if value is not None and not _TELEGRAM_CHAT.match(value):
            raise ValueError("ALERT_TELEGRAM_CHAT_ID must be a chat id (like -1001234567890) or @channelname")
        return value

    @field_validator("telegram_api_base")
    @classmethod
    def _telegram_base(cls, value: str) -> str:
        return _http_url("TELEGRAM_API_BASE", value)

    @field_validator("supabase_service_role_key")
    @classmethod
    def _service_key(cls, value: SecretStr | None) -> SecretStr | None:
        # It travels in the apikey and Authorization headers: anything but
        # visible ASCII would fail inside httpx on every call (a 500), not here.
        key = None if value is None else value.get_secret_value()
        if key is not None and not (key.isascii() and key.isprintable() and " " not in key):
            raise ValueError(
                "SUPABASE_SERVICE_ROLE_KEY is malformed: expected a service_role JWT or an sb_secret_... key"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        # Checked in full here, so a malformed URL is a 503 naming DATABASE_URL
        # rather than a 500 from inside libpq; never echoed (it carries the password).
        problem = None if value is None else _database_url_problem(value.get_secret_value())
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("reminder_active_hours")
    @classmethod
    def _active_hours(cls, value: str | None) -> str | None:
        if value is not None and not _ACTIVE_HOURS.match(value.replace(" ", "")):
            raise ValueError("REMINDER_ACTIVE_HOURS must look like 08:00-22:00 (HH:MM-HH:MM)")
        return None if value is None else value.replace(" ", "")

    @field_validator("reminder_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("REMINDER_TIMEZONE must be an IANA zone like Europe/Berlin") from None
        return value

    @model_validator(mode="after")
    def _alert_targets(self) -> Settings:
        # After every field, as ALLOW_HTTP_WEBHOOKS and ALLOW_PRIVATE_TARGETS decide what a channel URL may be.
        for name in ALERT_URL_SETTINGS:
            value = getattr(self, name)
            problem = (
                None
                if value is None
                else alert_url_problem(
                    value, allow_http=self.allow_http_webhooks, allow_private=self.allow_private_targets
                )
            )
            if problem:
                raise ValueError(f"{name.upper()} {problem}")
        return self

    @model_validator(mode="after")
    def _lease_outlives_budget(self) -> Settings:
        # A lease shorter than the run would let a duplicate delivery start a
        # second run while the first is still working.
        if self.lease_seconds <= self.run_time_budget_seconds:
            raise ValueError("LEASE_SECONDS must be greater than RUN_TIME_BUDGET_SECONDS")
        return self

    # -- derived views, so callers never unwrap secrets by hand ---------------

    def cron_secrets(self) -> list[str]:
        return [s.get_secret_value() for s in (self.cron_secret, self.cron_secret_next) if s is not None]

    def redact(self, text: str) -> str:
        """`text` with every configured secret and URL cut out: for error lines built from outside messages."""
        values = [
            self.supabase_url,
            self.alert_webhook_url,
            self.alert_slack_webhook_url,
            self.alert_discord_webhook_url,
            self.telegram_api_base if self.telegram_api_base != "https://api.telegram.org" else None,
            *(
                secret.get_secret_value() if secret else None
                for secret in (
                    self.cron_secret,
                    self.cron_secret_next,
                    self.supabase_service_role_key,
                    self.database_url,
                    self.telegram_bot_token,
                    self.webhook_signing_secret,
                )
            ),
        ]
        if self.database_url:
            # As written in the URL and as libpq decodes it (%40 is @), which is how a message quotes it.
            password = urlsplit(self.database_url.get_secret_value()).password
            values.extend((password, unquote(password)) if password else ())
        for value in sorted((v for v in values if v and len(v) >= 4), key=len, reverse=True):
            text = text.replace(value, "<redacted>")
        return text

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
        bad = item.get("input")
        if isinstance(bad, str) and len(bad) >= 3 and bad in message:
            # pydantic's own messages quote few inputs; make sure none slips through.
            message = message.replace(bad, "<value not shown>")
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
