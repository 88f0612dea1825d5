"""The Telegram sender: texts, answer classification, redaction, and the pacing it runs under."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from lib.outbound.pace import Dispatcher, Pace
from lib.outbound.telegram import (
    DEFAULT_TEXT,
    MAX_TEXT_UNITS,
    classify,
    message_text,
    redact,
    token_problem,
)

TOKEN = "123456:AAE-secret_value"


def test_message_text_defaults_and_cuts_to_telegrams_limit() -> None:
    assert message_text(None) == (DEFAULT_TEXT, None)
    assert message_text(" \n") == (DEFAULT_TEXT, None)
    assert message_text("hi") == ("hi", None)
    exact = "a" * MAX_TEXT_UNITS
    assert message_text(exact) == (exact, None)

    text, note = message_text("a" * 5000)
    assert len(text) == MAX_TEXT_UNITS and text.endswith("…")
    assert note is not None and "5000 characters" in note


def test_the_cut_counts_utf16_units_and_never_splits_a_surrogate_pair() -> None:
    text, note = message_text("😀" * 3000)  # 6000 UTF-16 units
    assert note is not None
    assert len(text.encode("utf-16-le")) // 2 <= MAX_TEXT_UNITS
    assert text[:-1] == "😀" * 2047  # 4094 units, then the ellipsis


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (200, {"ok": True, "result": {}}, "delivered"),
        (200, {}, "transient"),
        (500, {"ok": False, "description": "Internal Server Error"}, "transient"),
        (502, {}, "transient"),
        (429, {"ok": False, "parameters": {"retry_after": 7}}, "transient"),
        (400, {"ok": False, "description": "Bad Request: chat not found"}, "permanent"),
        (403, {"ok": False, "description": "Forbidden: bot was blocked by the user"}, "permanent"),
        (401, {"ok": False, "description": "Unauthorized"}, "misconfigured"),
        (404, {"ok": False, "description": "Not Found"}, "misconfigured"),
    ],
)
def test_classify(status: int, body: dict[str, object], outcome: str) -> None:
    assert classify(status, body).outcome == outcome


def test_a_429_carries_retry_after() -> None:
    delivery = classify(
        429, {"ok": False, "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}}
    )
    assert delivery.rate_limited and delivery.retry_after == 7
    assert classify(429, {}).retry_after is not None
    assert classify(500, {}).retry_after is None


@pytest.mark.parametrize("asked", [1e13, float("inf"), 10**30])
def test_an_absurd_retry_after_is_capped_at_an_hour(asked: float) -> None:
    delivery = classify(429, {"ok": False, "parameters": {"retry_after": asked}})
    assert delivery.outcome == "transient" and delivery.retry_after == 3600.0


def test_a_migrated_group_says_where_it_went() -> None:
    delivery = classify(
        400, {"description": "Bad Request: group chat was upgraded", "parameters": {"migrate_to_chat_id": -100123}}
    )
    assert delivery.outcome == "permanent" and "-100123" in (delivery.error or "")


def test_redact_removes_the_token_in_any_form() -> None:
    assert TOKEN not in redact(f"boom at https://api.telegram.org/bot{TOKEN}/sendMessage", TOKEN)
    assert "secret_value" not in redact(f"token {TOKEN} leaked", TOKEN)
    assert "secret" not in redact("path /botOTHER:secret/x", "")


def test_token_problem_never_echoes_the_token() -> None:
    assert token_problem(TOKEN) is None
    assert "not set" in (token_problem(None) or "")
    bad = "12:abc/../../x"
    problem = token_problem(bad)
    assert problem is not None and bad not in problem


# -- pacing, without any I/O --------------------------------------------------------------

MISSING = object()


async def collect(
    items: list[Any], *, key: Callable[[Any], Any], send: Callable[[Any], Any], **options: Any
) -> list[Any]:
    """A Dispatcher's run, with each item's result by position; every item must be done exactly once."""
    results: list[Any] = [MISSING] * len(items)

    def done(pair: tuple[int, Any], result: Any) -> None:
        assert results[pair[0]] is MISSING
        results[pair[0]] = result

    cutoff = options.pop("cutoff")
    dispatcher: Dispatcher[tuple[int, Any], Any] = Dispatcher(
        key=lambda pair: key(pair[1]),
        send=lambda pair, sent: send(pair[1]),
        done=done,
        **options,
    )
    await dispatcher.run(list(enumerate(items)), cutoff=cutoff)
    assert MISSING not in results
    return results


async def test_dispatch_spreads_sends_and_keeps_chats_a_second_apart() -> None:
    sent: list[tuple[float, int]] = []

    async def send(chat: int) -> str:
        sent.append((time.monotonic(), chat))
        return "ok"

    pace = Pace(per_second=20, concurrency=4)
    items = [1, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]
    results = await collect(items, pace=pace, key=lambda c: c, send=send, cutoff=time.monotonic() + 30)

    assert results == ["ok"] * len(items)
    times = sorted(at for at, _ in sent)
    assert all(later - earlier >= 1.0 for earlier, later in zip(times, times[20:], strict=False))
    first, second = [at for at, chat in sent if chat == 1]
    assert second - first >= 1.0
    # Chat 1's second reminder did not hold up the rest of the batch.
    assert [chat for _, chat in sent].index(1, 1) > 15


async def test_dispatch_bounds_concurrency() -> None:
    in_flight = peak = 0

    async def send(item: int) -> int:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return item

    results = await collect(
        list(range(60)),
        pace=Pace(per_second=10_000, concurrency=5),
        key=lambda i: i,
        send=send,
        cutoff=time.monotonic() + 30,
    )
    assert results == list(range(60))
    assert peak == 5


async def test_dispatch_stops_at_the_cutoff_and_on_request() -> None:
    async def send(item: int) -> int:
        return item

    results = await collect(
        list(range(10)),
        pace=Pace(per_second=10, concurrency=2),
        key=lambda i: i,
        send=send,
        cutoff=time.monotonic() + 0.25,
    )
    assert results[:3] == [0, 1, 2] and results[-1] is None

    stopped = await collect(
        list(range(10)),
        pace=Pace(per_second=10_000, concurrency=1),
        key=lambda i: i,
        send=send,
        cutoff=time.monotonic() + 30,
        stop=lambda r: r == 3,
    )
    assert stopped == [0, 1, 2, 3, *[None] * 6]


async def test_dispatch_pauses_everything_after_a_rate_limit_and_retries_the_item() -> None:
    calls: list[tuple[float, int]] = []

    async def send(item: int) -> str:
        calls.append((time.monotonic(), item))
        return "429" if len(calls) == 2 else "ok"

    results = await collect(
        [1, 2, 3, 4],
        pace=Pace(per_second=10_000, concurrency=1),
        key=lambda i: i,
        send=send,
        cutoff=time.monotonic() + 30,
        retry_after=lambda r: 0.3 if r == "429" else None,
    )
    assert results == ["ok"] * 4
    limited_at = calls[1][0]
    # The retry still keeps its chat a second apart, so 3 and 4 go first.
    assert [item for _, item in calls] == [1, 2, 3, 4, 2]
    assert all(at >= limited_at + 0.3 for at, _ in calls[2:])
    assert calls[-1][0] >= limited_at + 1.0


async def test_dispatch_asks_for_more_while_the_last_sends_are_in_flight() -> None:
    feed = [[3, 4, 5], [6], []]
    done: list[int] = []
    done_when_asked: list[list[int]] = []

    async def send(item: int) -> int:
        await asyncio.sleep(0.05)
        return item

    async def more() -> list[int]:
        done_when_asked.append(sorted(done))
        return feed.pop(0)

    dispatcher: Dispatcher[int, int] = Dispatcher(
        pace=Pace(per_second=10_000, concurrency=4),
        key=lambda i: i,
        send=lambda item, sent: send(item),
        done=lambda item, result: done.append(item),
    )
    await dispatcher.run([1, 2], cutoff=time.monotonic() + 30, more=more)
    assert sorted(done) == [1, 2, 3, 4, 5, 6]
    assert feed == []
    # No gap between batches: the next was asked for before the previous had finished.
    assert done_when_asked[0] == []
    assert not {3, 4, 5} <= set(done_when_asked[1])


def test_a_slow_rate_is_one_send_per_interval() -> None:
    pace = Pace(per_second=0.5, concurrency=1)
    pace.record("a", 100.0)
    pace.record("b", 102.0)
    assert pace.global_ready_at() >= 104.0
