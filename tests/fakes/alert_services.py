"""Stand-ins for Slack, Discord and Telegram that enforce each service's documented rules.

respx side effects (no sockets): each records what it received and answers
as the real service does, so a formatter that breaks a rule fails its test.

- Slack incoming webhooks (api.slack.com/messaging/webhooks): 200 `ok` as
  plain text; 400 `invalid_payload` for a body that is not JSON, `no_text`
  without `text`, `invalid_blocks` for blocks outside Block Kit's limits
  (50 blocks; header plain_text <= 150; section text <= 3,000; context <= 10
  elements); 404 `no_service` / 410 `channel_is_archived` for a dead hook.
- Discord's Execute Webhook (discord.com/developers/docs/resources/webhook):
  204 without `?wait`; 400 `{"message": "Cannot send an empty message",
  "code": 50006}` without `content` or `embeds`; 400 `Invalid Form Body`
  (50035, BASE_TYPE_MAX_LENGTH) for `content` over 2,000; 429 with a JSON
  `retry_after` in seconds, `global`, and the X-RateLimit-* and Retry-After headers.
- Telegram's sendMessage (core.telegram.org/bots/api#sendmessage): `text`
  1-4,096 characters after entities parsing (UTF-16 units); with
  parse_mode HTML only the documented tags, and `<`, `>`, `&` outside
  them must be entities, else 400 "can't parse entities"; 429 with
  `parameters.retry_after`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx

SLACK_URL = "https://hooks.slack.test/services/T000/B000/XXXXXXXXXXXXXXXX"
DISCORD_URL = "https://discord.test/api/webhooks/123456/abcdefTOKEN"
TELEGRAM_API = "https://telegram-alerts.test"
TELEGRAM_TOKEN = "654321:ALERT-token_abcdef"
TELEGRAM_CHAT = "-1001234567890"


@dataclass
class StandIn:
    """What a service received (parsed JSON bodies) and the answers queued for the next calls."""

    received: list[dict[str, Any]] = field(default_factory=list)
    # Answers to give before the service's own behaviour resumes: (status, body, headers).
    scripted: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)

    def next_scripted(self) -> httpx.Response | None:
        if not self.scripted:
            return None
        status, body, headers = self.scripted.pop(0)
        if isinstance(body, str):
            return httpx.Response(status, text=body, headers=headers)
        return httpx.Response(status, json=body, headers=headers)


# -- Slack --------------------------------------------------------------------------------------------


def _slack_blocks_problem(blocks: Any) -> bool:
    if not isinstance(blocks, list) or len(blocks) > 50:
        return True
    for block in blocks:
        if not isinstance(block, dict):
            return True
        kind = block.get("type")
        text = block.get("text")
        if kind == "header":
            if not isinstance(text, dict) or text.get("type") != "plain_text" or len(text.get("text", "")) > 150:
                return True
        elif kind == "section":
            if not isinstance(text, dict) or text.get("type") not in ("mrkdwn", "plain_text"):
                return True
            if not 1 <= len(text.get("text", "")) <= 3000:
                return True
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                return True
        elif kind != "divider":
            return True
    return False


class Slack(StandIn):
    def __call__(self, request: httpx.Request) -> httpx.Response:
        try:
            body = json.loads(request.content)
        except ValueError:
            return httpx.Response(400, text="invalid_payload")
        if not isinstance(body, dict):
            return httpx.Response(400, text="invalid_payload")
        self.received.append(body)
        scripted = self.next_scripted()
        if scripted is not None:
            return scripted
        if not isinstance(body.get("text"), str) or not body["text"].strip():
            return httpx.Response(400, text="no_text")
        if "blocks" in body and _slack_blocks_problem(body["blocks"]):
            return httpx.Response(400, text="invalid_blocks")
        return httpx.Response(200, text="ok")


# -- Discord ------------------------------------------------------------------------------------------


class Discord(StandIn):
    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.received.append(body)
        scripted = self.next_scripted()
        if scripted is not None:
            return scripted
        content = body.get("content")
        if not content and not body.get("embeds"):
            return httpx.Response(400, json={"message": "Cannot send an empty message", "code": 50006})
        if isinstance(content, str) and len(content) > 2000:
            return httpx.Response(
                400,
                json={
                    "code": 50035,
                    "errors": {
                        "content": {
                            "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]
                        }
                    },
                    "message": "Invalid Form Body",
                },
            )
        return httpx.Response(204)

    @staticmethod
    def rate_limited(retry_after: float) -> tuple[int, Any, dict[str, str]]:
        """Discord's 429: the JSON body and the headers it documents."""
        return (
            429,
            {"message": "You are being rate limited.", "retry_after": retry_after, "global": False},
            {
                "Retry-After": str(int(retry_after) + 1),
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": str(retry_after),
                "X-RateLimit-Bucket": "abcd1234",
                "X-RateLimit-Scope": "shared",
            },
        )


# -- Telegram -----------------------------------------------------------------------------------------

_TELEGRAM_TAGS = {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a", "code", "pre"}
_ENTITY = re.compile(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);")


class _TelegramHtml(HTMLParser):
    """Telegram's HTML parse mode: the visible text, or the reason it cannot be parsed."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.visible: list[str] = []
        self.problem: str | None = None
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _TELEGRAM_TAGS:
            self.problem = f'Unsupported start tag "{tag}"'
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1] != tag:
            self.problem = f'Unmatched end tag "{tag}"'
        else:
            self.open.pop()

    def handle_data(self, data: str) -> None:
        self.visible.append(data)


def telegram_visible_text(text: str) -> tuple[str | None, str | None]:
    """(the text a reader sees, None) or (None, why Telegram refuses it)."""
    # A bare & that is not an entity, or a < that does not open a tag, is refused.
    for match in re.finditer(r"&", text):
        if not _ENTITY.match(text, match.start()):
            return None, "Can't find end of the entity starting at byte offset " + str(match.start())
    for match in re.finditer(r"<", text):
        if not re.match(r"</?[a-z-]+[ >]", text[match.start() :]):
            return None, f"Unsupported start tag at byte offset {match.start()}"
    parser = _TelegramHtml()
    parser.feed(text)
    parser.close()
    if parser.problem or parser.open:
        return None, parser.problem or f'Can\'t find end tag corresponding to start tag "{parser.open[-1]}"'
    return "".join(parser.visible), None


class Telegram(StandIn):
    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        token = request.url.path.removeprefix("/bot").partition("/")[0]
        self.received.append({**body, "_token": token})
        scripted = self.next_scripted()
        if scripted is not None:
            return scripted
        if token != TELEGRAM_TOKEN:
            return httpx.Response(401, json={"ok": False, "error_code": 401, "description": "Unauthorized"})
        text = body.get("text")
        if not isinstance(text, str) or not text:
            return _telegram_error(400, "Bad Request: message text is empty")
        visible: str | None = text
        if body.get("parse_mode") == "HTML":
            visible, problem = telegram_visible_text(text)
            if problem:
                return _telegram_error(400, f"Bad Request: can't parse entities: {problem}")
        assert visible is not None
        if len(visible.encode("utf-16-le")) // 2 > 4096:
            return _telegram_error(400, "Bad Request: message is too long")
        if not visible.strip():
            return _telegram_error(400, "Bad Request: message text is empty")
        return httpx.Response(
            200, json={"ok": True, "result": {"message_id": len(self.received), "chat": {"id": body["chat_id"]}}}
        )

    @staticmethod
    def rate_limited(retry_after: int) -> tuple[int, Any, dict[str, str]]:
        return (
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": f"Too Many Requests: retry after {retry_after}",
                "parameters": {"retry_after": retry_after},
            },
            {},
        )


def _telegram_error(status: int, description: str) -> httpx.Response:
    return httpx.Response(status, json={"ok": False, "error_code": status, "description": description})


@dataclass
class Services:
    slack: Slack
    discord: Discord
    telegram: Telegram


def mount(http_mock: Any) -> Services:
    """Route the three stand-ins on a respx router."""
    services = Services(Slack(), Discord(), Telegram())
    http_mock.post(SLACK_URL).mock(side_effect=services.slack)
    http_mock.post(DISCORD_URL).mock(side_effect=services.discord)
    http_mock.post(url__startswith=f"{TELEGRAM_API}/bot").mock(side_effect=services.telegram)
    return services


def channel_settings() -> dict[str, Any]:
    """The settings that configure all three channels on the stand-ins."""
    return {
        "alert_slack_webhook_url": SLACK_URL,
        "alert_discord_webhook_url": DISCORD_URL,
        "alert_telegram_chat_id": TELEGRAM_CHAT,
        "telegram_bot_token": TELEGRAM_TOKEN,
        "telegram_api_base": TELEGRAM_API,
    }
