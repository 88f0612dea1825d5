"""ALERT_TELEGRAM_CHAT_ID: a Telegram message through the Bot API's `sendMessage`.

With `parse_mode` HTML, Telegram reads `<`, `>` and `&` as markup and
refuses a message it cannot parse (400 "can't parse entities"), so every
value is escaped. The text may be at most 4,096 characters after the
entities are parsed, counted in UTF-16 code units: the plain text is cut to
fit before it is escaped. The bot token is in the URL, which is why no error
line ever carries the URL (lib/alerts/send.py).
"""

from __future__ import annotations

import html
import json
from typing import Any

from lib.alerts.model import Alert, headline
from lib.alerts.outgoing import Outgoing
from lib.settings import Settings

TEXT_UNITS = 4096


def units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def cut(text: str, limit: int) -> str:
    """`text` within `limit` UTF-16 units, never splitting a surrogate pair; an ellipsis marks a cut."""
    if units(text) <= limit:
        return text
    used = 0
    for position, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit - 1:
            return text[:position] + "…"
    return text


def message(alert: Alert, chat_id: str) -> dict[str, Any]:
    line = headline(alert)
    event, _, rest = line.partition(": ")
    footer = f"\nalert_id {alert.alert_id}"
    # The bold event name and its colon are visible characters too.
    visible = cut(rest or line, TEXT_UNITS - units(event) - 2 - units(footer))
    text = f"<b>{html.escape(event, quote=False)}</b>: {html.escape(visible, quote=False)}{html.escape(footer)}"
    return {
        "chat_id": int(chat_id) if chat_id.lstrip("-").isdigit() else chat_id,
        "text": text,
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }


def build(alert: Alert, settings: Settings) -> Outgoing:
    assert settings.alert_telegram_chat_id is not None and settings.telegram_bot_token is not None
    token = settings.telegram_bot_token.get_secret_value()
    body = json.dumps(message(alert, settings.alert_telegram_chat_id), separators=(",", ":")).encode()
    return Outgoing(f"{settings.telegram_api_base}/bot{token}/sendMessage", body)
