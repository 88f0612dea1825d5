"""Sending at a provider's pace.

- At most `per_second` sends in any one-second window, spread evenly rather
  than in bursts.
- At most one send per second to any one key (a Telegram chat).
- At most `concurrency` sends in flight.
- A rate-limit answer pauses every send for as long as the provider asks, and
  the item goes again afterwards.

`dispatch` never lets one slow key hold up the others: it always sends the
oldest item whose key is free, so three reminders to one chat wait their turn
while the rest of the batch goes out.

The provider counts a send when the request reaches it, which can be well
after we decide to send: the first requests of a run wait for a new
connection (TCP, TLS) while later ones reuse a warm one. So each send reports
the moment its request actually left (`sent()`), and the window and per-key
rules count from that moment, never from the earlier decision.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# Requests reach the provider a little after they leave us, by a varying
# amount. Keeping the window this much wider than the nominal second keeps
# every window it measures within the limit.
MARGIN_SECONDS = 0.02
PER_KEY_SECONDS = 1.0
# How far a send may run ahead of its evenly spaced slot. Timers fire a
# millisecond or so late; without slack each late timer would push the whole
# schedule back, and at high rates one timer per send would itself cap the
# rate. The window log still bounds every second.
SLACK_SECONDS = 0.01


@dataclass
class Pace:
    """The sending state of one run. Times are `time.monotonic()` values."""

    per_second: float
    concurrency: int
    margin: float = MARGIN_SECONDS
    paused_until: float = 0.0
    # Sends allowed per window, and the window: 25/s is 25 per second; 0.5/s is 1 per 2 s.
    _burst: int = field(init=False)
    _window: float = field(init=False)
    _spacing: float = field(init=False)
    _next_slot: float = field(init=False, default=0.0)
    # When each of the last `burst` sends left: [time], raised by its `sent()`.
    _recent: deque[list[float]] = field(init=False)
    _last_by_key: dict[Hashable, list[float]] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        if self.per_second <= 0 or self.concurrency < 1:
            raise ValueError("pace needs a positive rate and concurrency")
        self._burst = max(1, math.floor(self.per_second))
        self._window = max(1.0, 1.0 / self.per_second) + self.margin
        self._spacing = self._window / self._burst
        self._recent = deque(maxlen=self._burst)

    def global_ready_at(self) -> float:
        """The earliest moment any send may start."""
        ready = max(self._next_slot - SLACK_SECONDS, self.paused_until)
        if len(self._recent) == self._burst:
            # The hard guarantee: the send `burst` places back is a full window ago.
            ready = max(ready, self._recent[0][0] + self._window)
        return ready

    def key_ready_at(self, key: Hashable) -> float:
        last = self._last_by_key.get(key)
        return -math.inf if last is None else last[0] + PER_KEY_SECONDS + self.margin

    def record(self, key: Hashable, now: float) -> Callable[[], None]:
        """A send to `key` starts at `now`; call the returned `sent()` when its request has left."""
        # Slots follow the schedule, not the moment the timer fired, so small
        # timer delays do not add up into a lower rate; after an idle spell the
        # schedule restarts from now rather than allowing a burst.
        self._next_slot = max(now, self._next_slot) + self._spacing
        left = [now]
        self._recent.append(left)
        self._last_by_key[key] = left

        def sent() -> None:
            left[0] = max(left[0], time.monotonic())

        return sent

    def pause(self, seconds: float) -> None:
        # NaN would compare false everywhere and silently cancel the pause.
        wait = max(0.0, seconds) if not math.isnan(seconds) else 0.0
        self.paused_until = max(self.paused_until, time.monotonic() + wait)


async def dispatch(
    items: Sequence[T],
    *,
    pace: Pace,
    key: Callable[[T], Hashable],
    send: Callable[[T, Callable[[], None]], Coroutine[Any, Any, R]],
    done: Callable[[T, R | None], None],
    cutoff: float,
    more: Callable[[], Awaitable[Sequence[T]]] | None = None,
    retry_after: Callable[[R], float | None] = lambda _: None,
    stop: Callable[[R], bool] = lambda _: False,
    max_tries: int = 3,
) -> None:
    """Send `items` (oldest first) at `pace`, calling `done(item, result)` once per item.

    - `send(item, sent)` delivers one item and calls `sent()` when its request
      has actually left (it may not, then the decision time counts).
    - `more()` is asked for the next items as soon as every item so far has
      started, while the last sends are still in flight, so a caller feeding
      batches pays no gap between them. An empty answer ends the feed.
    - No send starts after `cutoff` (a monotonic time), and `more` is not
      asked after it. Items never sent are done with None.
    - When `retry_after(result)` gives seconds, all sending pauses that long
      and the item goes again, up to `max_tries` sends in all; if it cannot,
      it is done with that rate-limit result.
    - When `stop(result)` is true, nothing more is sent (sends in flight finish).
    - `send` must not raise for a failed delivery: it returns a result saying so.
    """
    queue: list[T] = list(items)
    tries = [0] * len(queue)
    waiting = list(range(len(queue)))  # indexes into queue, oldest first
    limited: dict[int, R] = {}  # the rate-limit answer of items waiting to go again
    running: dict[asyncio.Task[R], int] = {}
    stopped = False
    fed = more is None

    def finish(task: asyncio.Task[R]) -> None:
        nonlocal stopped
        index = running.pop(task)
        result = task.result()
        if stop(result):
            stopped = True
        else:
            delay = retry_after(result)
            if delay is not None:
                pace.pause(delay)
                if tries[index] < max_tries:
                    limited[index] = result
                    bisect.insort(waiting, index)
                    return
        done(queue[index], result)

    async def wait_for_running(limit: float | None) -> None:
        finished, _ = await asyncio.wait(running, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            finish(task)

    try:
        while True:
            if not waiting and not stopped and not fed and max(time.monotonic(), pace.global_ready_at()) < cutoff:
                # Ask only for what could still go before the cutoff (not during a long 429 pause).
                assert more is not None
                fresh = await more()
                fed = not fresh
                queue.extend(fresh)
                tries.extend(0 for _ in fresh)
                waiting.extend(range(len(queue) - len(fresh), len(queue)))
                continue
            if stopped or not waiting:
                if not running:
                    break
                await wait_for_running(None)
                continue
            index, at = _next_item(waiting, queue, key, pace)
            if at > cutoff:
                # Pace only moves later, so nothing waiting can go in time.
                stopped = True
                continue
            now = time.monotonic()
            if at > now or len(running) >= pace.concurrency:
                full = len(running) >= pace.concurrency
                if running:
                    # A send finishing may free a slot, pause everything or put an item back.
                    await wait_for_running(None if full else at - now)
                else:
                    await asyncio.sleep(at - now)
                continue
            waiting.remove(index)
            limited.pop(index, None)
            tries[index] += 1
            sent = pace.record(key(queue[index]), now)
            running[asyncio.create_task(send(queue[index], sent))] = index
    finally:
        for task in running:
            task.cancel()
    for index in waiting:
        done(queue[index], limited.get(index))


def _next_item(waiting: list[int], items: Sequence[T], key: Callable[[T], Hashable], pace: Pace) -> tuple[int, float]:
    """The oldest waiting item that can go soonest, and when."""
    ready = pace.global_ready_at()
    best, best_at = waiting[0], math.inf
    for index in waiting:
        at = max(ready, pace.key_ready_at(key(items[index])))
        if at <= ready:
            return index, at
        if at < best_at:
            best, best_at = index, at
    return best, best_at
