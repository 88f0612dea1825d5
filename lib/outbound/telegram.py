"""Telegram Bot API `sendMessage`, and what each answer means for a reminder.

The bot token is part of the request URL (`<base>/bot<token>/sendMessage`),
which is how the Bot API authenticates. It must never reach a log line, a
stored error or an exception message, so every text this module produces
passes through `redact`, and httpx's own request log is filtered.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from lib.backoff import CAP_SECONDS
from lib.outbound.http import http_client

# Telegram's limit is 4096 characters, counted in UTF-16 code units.
MAX_TEXT_UNITS = 4096
DEFAULT_TEXT = "Reminder: you have a follow-up due now."
ELLIPSIS = "…"
# Used when a 429 comes without `retry_after` (Telegram always sends one).
DEFAULT_RETRY_AFTER_SECONDS = 1.0
# The longest wait a 429 can impose. Telegram's real values are seconds to
# minutes; a larger one (a proxy's garbage, 1e13) would pause the run and push
# due_at past any date Postgres can hold.
MAX_RETRY_AFTER_SECONDS = CAP_SECONDS
_MAX_ERROR_CHARS = 500
_BOT_PATH = re.compile(r"/bot[^/\s\"']+")
# A token that cannot break out of its URL path segment.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9:_-]+$")

Outcome = Literal["delivered", "transient", "permanent", "misconfigured"]


@dataclass(frozen=True)
class Delivery:
    """What one send came to.

    - delivered: Telegram accepted the message.
    - transient: network, timeout, 5xx or 429; worth another try later.
    - permanent: this chat will not take it (blocked, deactivated, not found).
    - misconfigured: the token or API base is wrong; no reminder is to blame.
    """

    outcome: Outcome
    error: str | None = None
    # Seconds Telegram asked every sender to wait (429 only).
    retry_after: float | None = None

    @property
    def rate_limited(self) -> bool:
        return self.retry_after is not None


def token_problem(token: str | None) -> str | None:
    """Why this TELEGRAM_BOT_TOKEN cannot be used, without echoing it; None when it can."""
    if not token:
        return "TELEGRAM_BOT_TOKEN is not set: the reminders job has no bot to send with"
    if not _TOKEN_SHAPE.match(token):
        return "TELEGRAM_BOT_TOKEN is malformed: expected <bot id>:<secret> as issued by @BotFather"
    return None


def message_text(draft: str | None) -> tuple[str, str | None]:
    """The text to send, and a note when the draft had to be cut to Telegram's limit."""
    if draft is None or not draft.strip():
        return DEFAULT_TEXT, None
    units = _utf16_units(draft)
    if units <= MAX_TEXT_UNITS:
        return draft, None
    cut = _cut_to_units(draft, MAX_TEXT_UNITS - _utf16_units(ELLIPSIS))
    note = (
        f"draft_text is {units} characters, over Telegram's {MAX_TEXT_UNITS}: sent the first {len(cut)} and an ellipsis"
    )
    return cut + ELLIPSIS, note


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _cut_to_units(text: str, limit: int) -> str:
    used = 0
    for position, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit:
            # Never split a surrogate pair: the cut falls before this character.
            return text[:position]
    return text


async def send_message(
    *,
    api_base: str,
    token: str,
    chat_id: int,
    text: str,
    time_limit: float,
    sent: Callable[[], None] | None = None,
) -> Delivery:
    """One `sendMessage` call. Never raises for a failed delivery.

    `sent()` is called once the request has gone out on the wire, after any
    connection set-up: that, not the call, is when Telegram sees it.
    """
    url = f"{api_base}/bot{token}/sendMessage"
    client = await http_client()

    async def trace(event: str, info: dict[str, Any]) -> None:
        if sent is not None and event.endswith("send_request_body.complete"):
            sent()

    try:
        response = await client.post(
            url, json={"chat_id": chat_id, "text": text}, timeout=time_limit, extensions={"trace": trace}
        )
    except httpx.TimeoutException:
        return Delivery("transient", f"Telegram did not answer within {time_limit:.1f}s")
    except (httpx.HTTPError, httpx.InvalidURL) as error:
        return Delivery("transient", redact(f"network error: {type(error).__name__}: {error}", token))
    return classify(response.status_code, _json(response), token)


def classify(status: int, body: dict[str, Any], token: str = "") -> Delivery:
    """Map one Bot API answer onto a reminder outcome."""
    description = redact(str(body.get("description") or "").strip(), token)
    said = f"HTTP {status}: {description}" if description else f"HTTP {status}"
    if 200 <= status < 300:
        if body.get("ok") is True:
            return Delivery("delivered")
        return Delivery("transient", f"{said}: not a Bot API answer")
    raw_parameters = body.get("parameters")
    parameters: dict[str, Any] = raw_parameters if isinstance(raw_parameters, dict) else {}
    if status == 429:
        retry_after = _seconds(parameters.get("retry_after"))
        return Delivery("transient", said, retry_after if retry_after is not None else DEFAULT_RETRY_AFTER_SECONDS)
    if status in (401, 404) or 300 <= status < 400:
        # 401: Telegram rejects the token. 404: no such bot or method, which
        # is what a wrong TELEGRAM_API_BASE or a mangled token looks like.
        # The Bot API never redirects: a 3xx is a wrong base (http for https,
        # a moved proxy), and failing every reminder for it would lose them.
        return Delivery(
            "misconfigured", f"{said} (check TELEGRAM_BOT_TOKEN and TELEGRAM_API_BASE); no reminder was at fault"
        )
    if status in (408,) or status >= 500:
        return Delivery("transient", said)
    if status == 400 and "migrate_to_chat_id" in parameters:
        new_chat = parameters["migrate_to_chat_id"]
        return Delivery("permanent", f"{said} (the group is now supergroup {new_chat}; update telegram_id)")
    # 400 (chat not found, bad request), 403 (blocked, deactivated, cannot
    # initiate) and other 4xx: the same message would fail the same way again.
    return Delivery("permanent", said)


def redact(text: str, token: str) -> str:
    """`text` without the token, cut to one stored line."""
    if token:
        text = text.replace(token, "<redacted>")
    text = _BOT_PATH.sub("/bot<redacted>", text)
    return " ".join(text.split())[:_MAX_ERROR_CHARS]


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _seconds(value: Any) -> float | None:
    """A usable retry_after, capped; None when there is none (NaN, negative, not a number)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return min(float(value), MAX_RETRY_AFTER_SECONDS)
    return None


def _redact_request_log(record: logging.LogRecord) -> bool:
    # httpx logs every request at INFO with its full URL, token included.
    message = record.getMessage()
    if "/bot" in message:
        record.msg, record.args = _BOT_PATH.sub("/bot<redacted>", message), None
    return True


if _redact_request_log not in logging.getLogger("httpx").filters:
    logging.getLogger("httpx").addFilter(_redact_request_log)
