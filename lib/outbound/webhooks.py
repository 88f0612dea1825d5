"""Signed webhook calls for run requests, and the helper a receiver uses to check them.

Every call is a `POST` of a JSON body with the header

    X-Cronrelay-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

where <body> is the exact bytes sent. A receiver recomputes the HMAC over the
raw body it received (before any JSON parsing), compares in constant time, and
rejects a timestamp more than five minutes away from its own clock, so a
captured call cannot be replayed later. `verify_signature` does exactly that.
The signing and verifying half of this module uses only the standard library,
so a receiver written in Python can copy it as is.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import idna

from lib.outbound import policy
from lib.outbound.http import read_preview

SIGNATURE_HEADER = "X-Cronrelay-Signature"
TOLERANCE_SECONDS = 300
# result.body keeps the start of the answer: enough to debug, never a whole download.
BODY_PREVIEW_BYTES = 2048
USER_AGENT = "cronrelay-webhook/1"


# -- signing and verifying ------------------------------------------------------


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The X-Cronrelay-Signature value for `body`, signed now (or at `timestamp`)."""
    moment = int(time.time()) if timestamp is None else timestamp
    return f"t={moment},v1={_digest(secret, moment, body)}"


def verify_signature(
    secret: str,
    body: bytes | str,
    header: str | None,
    *,
    tolerance_seconds: int = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """True when `header` is a valid X-Cronrelay-Signature of `body` (the raw request body).

    Several v1 entries are accepted (any one may match), so the sender can sign
    with an old and a new secret while the secret is rotated.
    """
    if not header:
        return False
    raw = body.encode() if isinstance(body, str) else body
    timestamps: list[str] = []
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t":
            timestamps.append(value)
        elif key == "v1":
            candidates.append(value)
    if len(timestamps) != 1 or not timestamps[0].isdigit() or not candidates:
        return False
    moment = int(timestamps[0])
    current = time.time() if now is None else now
    if abs(current - moment) > tolerance_seconds:
        return False
    expected = _digest(secret, moment, raw).encode()
    # Check every candidate, so the time taken does not tell which one matched.
    matches = [hmac.compare_digest(expected, candidate.encode()) for candidate in candidates]
    return any(matches)


# -- targets --------------------------------------------------------------------


def target_problem(url: str | None, *, allow_http: bool, allow_private: bool = False) -> str | None:
    """Why `url` may not be called, as one line for result.error or a 422; None when it may.

    The URL must parse as httpx will call it; then lib/outbound/policy.py
    decides (https only, no credentials, literal addresses checked).
    `allow_http` is ALLOW_HTTP_WEBHOOKS, `allow_private` ALLOW_PRIVATE_TARGETS.
    """
    if not url or not url.strip():
        return "webhook job has no target URL"
    if any(c.isspace() for c in url):
        return "webhook target is not a valid URL (it contains whitespace)"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        _ = parts.port  # a malformed port raises ValueError here, not at call time
        # What httpx would refuse at call time (control characters, a bad
        # international host name) is refused now, as a bad target, not retried.
        raw_host = httpx.URL(url).raw_host.decode("ascii")
        for label in raw_host.split("."):
            if label.lower().startswith("xn--"):
                idna.decode(label)
    except (ValueError, httpx.InvalidURL):
        return "webhook target is not a valid URL"
    if parts.scheme.lower() in ("http", "https") and not host:
        return "webhook target is not a valid URL (no host)"
    problem = policy.target_problem(url, policy.TargetAccess(allow_loopback=allow_http, allow_private=allow_private))
    return None if problem is None else f"webhook {problem}"


# -- delivery -------------------------------------------------------------------

Verdict = Literal["delivered", "rejected", "failed"]


@dataclass(frozen=True)
class Delivery:
    """What one call came to.

    delivered: 2xx. rejected: the receiver refused it for good (a 4xx other
    than 408/429). failed: worth another try (timeout, network, 408, 429, 5xx,
    anything else).
    """

    verdict: Verdict
    result: dict[str, Any] = field(default_factory=dict)
    duration_ms: int = 0
    # The receiver's Retry-After, in seconds, when it sent one.
    retry_after: float | None = None


def classify(status_code: int) -> Verdict:
    if 200 <= status_code < 300:
        return "delivered"
    if 400 <= status_code < 500 and status_code not in (408, 429):
        return "rejected"
    return "failed"


async def post_signed(client: httpx.AsyncClient, url: str, body: bytes, *, secret: str, seconds: float) -> Delivery:
    """POST `body` to `url`, signed, taking at most `seconds` overall."""
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        SIGNATURE_HEADER: signature_header(secret, body),
    }
    clock = time.monotonic()
    try:
        # httpx's timeout bounds each phase; asyncio.timeout bounds the whole
        # call, so a receiver dripping its answer cannot outlast the budget.
        async with asyncio.timeout(seconds):
            async with client.stream("POST", url, content=body, headers=headers, timeout=seconds) as response:
                preview = (await read_preview(response, BODY_PREVIEW_BYTES)).decode("utf-8", errors="replace")
    except (TimeoutError, httpx.TimeoutException):
        return _failure(f"webhook timed out after {seconds:.1f}s", clock)
    except httpx.HTTPError as error:
        return _failure(f"webhook unreachable: {type(error).__name__}", clock)
    except (httpx.InvalidURL, ValueError):
        # Not an answer from the receiver but a target no call can reach: final.
        duration_ms = _elapsed_ms(clock)
        return Delivery(
            "rejected", {"error": "webhook target is not a valid URL", "duration_ms": duration_ms}, duration_ms
        )

    duration_ms = _elapsed_ms(clock)
    result: dict[str, Any] = {"status_code": response.status_code, "duration_ms": duration_ms, "body": preview}
    verdict = classify(response.status_code)
    if verdict != "delivered":
        result = {"error": f"webhook answered HTTP {response.status_code}", **result}
    return Delivery(verdict, result, duration_ms, _retry_after(response))


def _retry_after(response: httpx.Response) -> float | None:
    # Only the seconds form; an HTTP date is rare from webhook receivers. The
    # caller caps it (lib/backoff.py's CAP_SECONDS); float() of any digit run is finite.
    value = response.headers.get("retry-after", "").strip()
    return float(value) if value.isascii() and value.isdigit() else None


def _elapsed_ms(clock: float) -> int:
    return int((time.monotonic() - clock) * 1000)


def _failure(error: str, clock: float) -> Delivery:
    duration_ms = _elapsed_ms(clock)
    return Delivery("failed", {"error": error, "duration_ms": duration_ms}, duration_ms)
