"""ALERT_WEBHOOK_URL: the event as JSON, with its `alert_id`, signed like job webhooks.

Signed with `X-Cronrelay-Signature` (lib/outbound/webhooks.py) when
WEBHOOK_SIGNING_SECRET is set, so a receiver can tell our alerts from anyone
else's POST; `alert_id` lets it drop a repeat (delivery is at least once).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from lib.alerts.model import Alert
from lib.alerts.outgoing import Outgoing
from lib.outbound.webhooks import SIGNATURE_HEADER, signature_header
from lib.settings import Settings


def build(alert: Alert, settings: Settings) -> Outgoing:
    assert settings.alert_webhook_url is not None
    document = {**alert.document(), "sent_at": datetime.now(UTC).isoformat()}
    body = json.dumps(document, separators=(",", ":"), default=str).encode()
    headers = {}
    if settings.webhook_signing_secret is not None:
        # The exact bytes sent are signed, as a receiver verifies the raw body.
        headers[SIGNATURE_HEADER] = signature_header(settings.webhook_signing_secret.get_secret_value(), body)
    return Outgoing(settings.alert_webhook_url, body, headers)
