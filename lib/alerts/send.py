"""The one door every alert leaves by: `post_json`, and what its answer means for the delivery.

Every channel's call goes through `post_json`, so the outbound policy
(DESIGN.md, Outbound calls: where a target may point, checked at call time
on a pinned connection) applies to all of them in one place. Redirects are
not followed and at most 2 KB of an answer is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from lib.outbound.http import http_client, read_preview
from lib.outbound.policy import TargetAccess, TargetRefused, TargetUnresolved, pinned, pinned_client, resolve_target

ANSWER_BYTES = 2048
USER_AGENT = "cronrelay-alerts/1"
ERROR_CHARS = 300

Verdict = Literal["sent", "retry", "dead"]


@dataclass(frozen=True)
class Answer:
    """What one POST came to: an HTTP answer (status, its first line, a retry_after) or no answer (error)."""

    status: int | None
    first_line: str = ""
    retry_after: float | None = None
    error: str | None = None
    duration_ms: int = 0
    # The outbound policy refused the target: final, the same call would be refused again.
    refused: bool = False


async def post_json(
    url: str, body: bytes, headers: dict[str, str], seconds: float, access: TargetAccess | None = None
) -> Answer:
    """POST `body` (JSON) to `url`, taking at most `seconds` overall. Never raises for a failed call.

    With `access`, the target is a URL someone configured (a webhook, a Slack
    or Discord hook): the outbound policy resolves its host once, refuses a
    private or link-local address, and the call connects only to the checked
    address. None: a service of the deployment's own (Telegram's API base).
    Errors name what went wrong, never the URL: a Slack or Discord hook and a
    Telegram bot URL carry their token in the path.
    """
    clock = time.monotonic()
    sent_headers = {"content-type": "application/json", "user-agent": USER_AGENT, **headers}
    try:
        # httpx bounds each phase; asyncio.timeout the whole call, so an answer
        # dripped a byte at a time cannot outlast the run's budget.
        async with asyncio.timeout(seconds):
            pin: contextlib.AbstractContextManager[None]
            if access is None:
                client, pin = await http_client(), contextlib.nullcontext()
            else:
                client, pin = await pinned_client(), pinned(await resolve_target(url, access))
            with pin:
                async with client.stream("POST", url, content=body, headers=sent_headers, timeout=seconds) as response:
                    preview = await read_preview(response, ANSWER_BYTES)
    except TargetRefused as refusal:
        return Answer(None, error=str(refusal), duration_ms=_ms(clock), refused=True)
    except TargetUnresolved as unresolved:
        return Answer(None, error=str(unresolved), duration_ms=_ms(clock))
    except (TimeoutError, httpx.TimeoutException):
        return Answer(None, error=f"no answer within {seconds:.1f}s", duration_ms=_ms(clock))
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as error:
        return Answer(None, error=f"unreachable: {type(error).__name__}", duration_ms=_ms(clock))
    return Answer(
        response.status_code,
        first_line=_first_line(preview),
        retry_after=_retry_after(response, preview),
        duration_ms=_ms(clock),
    )


def verdict(answer: Answer) -> tuple[Verdict, str | None]:
    """sent (2xx); retry (no answer, 408, 429, 5xx); dead (any other answer: it would fail the same way again)."""
    if answer.refused:
        return "dead", answer.error
    if answer.status is None:
        return "retry", answer.error or "no answer"
    said = f"HTTP {answer.status}: {answer.first_line}" if answer.first_line else f"HTTP {answer.status}"
    if 200 <= answer.status < 300:
        return "sent", None
    if answer.status in (408, 429) or answer.status >= 500:
        return "retry", said
    if 300 <= answer.status < 400:
        return "dead", f"{said} (a redirect; alert URLs must point at the service itself)"
    return "dead", said


def _json(preview: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(preview)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _first_line(preview: bytes) -> str:
    """The answer's first line; for a JSON error, its own words (Telegram's description, Discord's message)."""
    body = _json(preview)
    for key in ("description", "message", "error"):
        if isinstance(body.get(key), str) and body[key].strip():
            return " ".join(body[key].split())[:ERROR_CHARS]
    text = preview.decode("utf-8", errors="replace").strip()
    return " ".join(text.splitlines()[0].split())[:ERROR_CHARS] if text else ""


def _retry_after(response: httpx.Response, preview: bytes) -> float | None:
    """Seconds the service asked for: the Retry-After header, Discord's JSON retry_after,
    or Telegram's parameters.retry_after; None when it gave none (or nonsense)."""
    candidates: list[Any] = [response.headers.get("retry-after")]
    body = _json(preview)
    candidates.append(body.get("retry_after"))
    parameters = body.get("parameters")
    if isinstance(parameters, dict):
        candidates.append(parameters.get("retry_after"))
    for value in candidates:
        seconds = _seconds(value)
        if seconds is not None:
            return seconds
    return None


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text or not text.replace(".", "", 1).isdigit():
            return None
        value = float(text)
    if isinstance(value, int | float) and 0 <= value < 10**9:
        return float(value)
    return None


def _ms(clock: float) -> int:
    return int((time.monotonic() - clock) * 1000)
