"""ALERT_SLACK_WEBHOOK_URL: a Slack incoming webhook message.

Slack answers 400 `no_text` to a body without `text`, and `invalid_blocks`
to blocks outside Block Kit's limits: at most 50 blocks, a header's
plain_text at most 150 characters, a section's text at most 3,000, a
context at most 10 elements. `text` is the line a notification shows; the
blocks lay the same facts out. Slack's mrkdwn reads `&`, `<` and `>` as
markup, so every value is escaped: an error text cannot make a link or
mention anyone.
"""

from __future__ import annotations

import json
from typing import Any

from lib.alerts.model import Alert, headline
from lib.alerts.outgoing import Outgoing, clip
from lib.settings import Settings

TEXT_CHARS = 3000
HEADER_CHARS = 150
SECTION_CHARS = 3000


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def message(alert: Alert) -> dict[str, Any]:
    line = headline(alert)
    event, _, rest = line.partition(": ")
    facts = [f"*job*: {escape(alert.job)}"] if alert.job_id else []
    facts.append(f"*alert_id*: `{alert.alert_id}`")
    return {
        "text": escape(clip(line, TEXT_CHARS)),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": clip(event, HEADER_CHARS), "emoji": False}},
            {"type": "section", "text": {"type": "mrkdwn", "text": escape(clip(rest or line, SECTION_CHARS - 200))}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(" · ".join(facts), SECTION_CHARS)}]},
        ],
    }


def build(alert: Alert, settings: Settings) -> Outgoing:
    assert settings.alert_slack_webhook_url is not None
    body = json.dumps(message(alert), separators=(",", ":")).encode()
    return Outgoing(settings.alert_slack_webhook_url, body)
