"""The channels the settings configure, and each one's formatter."""

from __future__ import annotations

from collections.abc import Callable

from lib.alerts import discord, slack, telegram, webhook
from lib.alerts.model import Alert
from lib.alerts.outgoing import Outgoing
from lib.settings import Settings

Formatter = Callable[[Alert, Settings], Outgoing]

FORMATTERS: dict[str, Formatter] = {
    "webhook": webhook.build,
    "slack": slack.build,
    "discord": discord.build,
    "telegram": telegram.build,
}


# The setting each channel needs, for lines that say what is missing (a name, never a value).
SETTING_OF: dict[str, str] = {
    "webhook": "ALERT_WEBHOOK_URL",
    "slack": "ALERT_SLACK_WEBHOOK_URL",
    "discord": "ALERT_DISCORD_WEBHOOK_URL",
    "telegram": "ALERT_TELEGRAM_CHAT_ID with TELEGRAM_BOT_TOKEN",
}


def configured(settings: Settings) -> list[str]:
    """The channels that get every event, in a fixed order."""
    chosen = []
    if settings.alert_webhook_url:
        chosen.append("webhook")
    if settings.alert_slack_webhook_url:
        chosen.append("slack")
    if settings.alert_discord_webhook_url:
        chosen.append("discord")
    if settings.alert_telegram_chat_id and settings.telegram_bot_token:
        chosen.append("telegram")
    return chosen


def problems(settings: Settings) -> list[str]:
    """Channel settings that cannot work as set; each names the variable, never a value."""
    if settings.alert_telegram_chat_id and not settings.telegram_bot_token:
        return ["the Telegram alert channel cannot send: ALERT_TELEGRAM_CHAT_ID is set but TELEGRAM_BOT_TOKEN is not"]
    return []
