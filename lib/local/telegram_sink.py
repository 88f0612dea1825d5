"""A stand-in Bot API for the local stack: `sendMessage` prints the message and says ok.

With no TELEGRAM_BOT_TOKEN configured, the local stack points the reminders
job here, so the whole reminder lifecycle runs on a laptop without a bot.
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from lib.local.say import say

# Shaped like a real token (<bot id>:<secret>), so the job's checks pass.
LOCAL_TOKEN = "1000000:local-stack-not-a-real-bot-token"


def create_sink() -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    message_ids = itertools.count(1)

    @app.post("/bot{token}/sendMessage")
    async def send_message(token: str, request: Request) -> JSONResponse:
        body: dict[str, Any] = await request.json()
        text = str(body.get("text", ""))
        say(f"local telegram: to chat {body.get('chat_id')}: {text[:200]!r}", sys.stderr)
        result = {"message_id": next(message_ids), "chat": {"id": body.get("chat_id")}, "text": text}
        return JSONResponse({"ok": True, "result": result})

    return app
