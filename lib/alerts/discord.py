"""ALERT_DISCORD_WEBHOOK_URL: a Discord webhook message.

Discord answers 400 to a body without `content` or `embeds`, and to
`content` over 2,000 characters. `allowed_mentions` with an empty `parse`
list means nothing in the text can ping anyone, however an error reads
(`@everyone` in a failing job's output stays text).
"""

from __future__ import annotations

import json
from typing import Any

from lib.alerts.model import Alert, headline
from lib.alerts.outgoing import Outgoing, clip
from lib.settings import Settings

CONTENT_CHARS = 2000
USERNAME = "cronrelay"


def message(alert: Alert) -> dict[str, Any]:
    footer = f"\nalert_id {alert.alert_id}"
    return {
        # The alert_id line always fits: the headline is what gets cut.
        "content": f"{clip(headline(alert), CONTENT_CHARS - len(footer))}{footer}",
        "username": USERNAME,
        "allowed_mentions": {"parse": []},
    }


def build(alert: Alert, settings: Settings) -> Outgoing:
    assert settings.alert_discord_webhook_url is not None
    body = json.dumps(message(alert), separators=(",", ":")).encode()
    return Outgoing(settings.alert_discord_webhook_url, body)
