"""Sending at a provider's pace.

- At most `per_second` sends in any one-second window, spread evenly rather
  than in bursts.
- At most one send per second to any one key (a Telegram chat).
- At most `concurrency` sends in flight.
- A rate-limit answer pauses every send for as long as the provider asks, and
  the item goes again afterwards.

`Dispatcher` never lets one slow key hold up the others: it always sends the
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
from typing import Any, Generic, TypeVar

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


def _no_retry_after(result: Any) -> float | None:
    return None


def _never_stop(result: Any) -> bool:
    return False


@dataclass
class Dispatcher(Generic[T, R]):
    """Sends items (oldest first) at `pace`, calling `done(item, result)` once per item.

    The fields say how to send; `run` says what, and until when.

    - `send(item, sent)` delivers one item and calls `sent()` when its request
      has actually left (it may not, then the decision time counts). It must
      not raise for a failed delivery: it returns a result saying so.
    - When `retry_after(result)` gives seconds, all sending pauses that long
      and the item goes again, up to `max_tries` sends in all; if it cannot,
      it is done with that rate-limit result.
    - When `stop(result)` is true, nothing more is sent (sends in flight finish).

    One run at a time: the rest of the fields are that run's state.
    """

    pace: Pace
    key: Callable[[T], Hashable]
    send: Callable[[T, Callable[[], None]], Coroutine[Any, Any, R]]
    done: Callable[[T, R | None], None]
    retry_after: Callable[[R], float | None] = _no_retry_after
    stop: Callable[[R], bool] = _never_stop
    max_tries: int = 3

    _queue: list[T] = field(init=False, default_factory=list)
    _tries: list[int] = field(init=False, default_factory=list)
    # Indexes into _queue, oldest first.
    _waiting: list[int] = field(init=False, default_factory=list)
    # The rate-limit answer of items waiting to go again.
    _limited: dict[int, R] = field(init=False, default_factory=dict)
    _running: dict[asyncio.Task[R], int] = field(init=False, default_factory=dict)
    _stopped: bool = field(init=False, default=False)

    async def run(
        self, items: Sequence[T], *, cutoff: float, more: Callable[[], Awaitable[Sequence[T]]] | None = None
    ) -> None:
        """Send `items`, then whatever `more()` gives, until it gives nothing or `cutoff` passes.

        - `more()` is asked for the next items as soon as every item so far has
          started, while the last sends are still in flight, so a caller feeding
          batches pays no gap between them. An empty answer ends the feed.
        - No send starts after `cutoff` (a monotonic time), and `more` is not
          asked after it. Items never sent are done with None.
        """
        if self._running:
            raise RuntimeError("a Dispatcher runs one batch at a time")
        self._queue, self._tries, self._waiting, self._limited = [], [], [], {}
        self._stopped = False
        self._add(items)
        fed = more is None
        try:
            while True:
                if not self._waiting and not self._stopped and not fed and self._can_start_before(cutoff):
                    assert more is not None
                    fresh = await more()
                    fed = not fresh
                    self._add(fresh)
                    continue
                if self._stopped or not self._waiting:
                    if not self._running:
                        break
                    await self._wait_for_running(None)
                    continue
                index, at = _next_item(self._waiting, self._queue, self.key, self.pace)
                if at > cutoff:
                    # Pace only moves later, so nothing waiting can go in time.
                    self._stopped = True
                    continue
                now = time.monotonic()
                full = len(self._running) >= self.pace.concurrency
                if at > now or full:
                    if self._running:
                        # A send finishing may free a slot, pause everything or put an item back.
                        await self._wait_for_running(None if full else at - now)
                    else:
                        await asyncio.sleep(at - now)
                    continue
                self._start(index, now)
        finally:
            for task in self._running:
                task.cancel()
            self._running.clear()
        for index in self._waiting:
            self.done(self._queue[index], self._limited.get(index))

    def _can_start_before(self, cutoff: float) -> bool:
        # Ask for more only for what could still go before the cutoff (not during a long 429 pause).
        return max(time.monotonic(), self.pace.global_ready_at()) < cutoff

    def _add(self, items: Sequence[T]) -> None:
        start = len(self._queue)
        self._queue.extend(items)
        self._tries.extend(0 for _ in items)
        self._waiting.extend(range(start, len(self._queue)))

    def _start(self, index: int, now: float) -> None:
        self._waiting.remove(index)
        self._limited.pop(index, None)
        self._tries[index] += 1
        item = self._queue[index]
        sent = self.pace.record(self.key(item), now)
        self._running[asyncio.create_task(self.send(item, sent))] = index

    async def _wait_for_running(self, limit: float | None) -> None:
        finished, _ = await asyncio.wait(self._running, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        for task in finished:
            self._finish(task)

    def _finish(self, task: asyncio.Task[R]) -> None:
        index = self._running.pop(task)
        result = task.result()
        if self.stop(result):
            self._stopped = True
        else:
            delay = self.retry_after(result)
            if delay is not None:
                self.pace.pause(delay)
                if self._tries[index] < self.max_tries:
                    self._limited[index] = result
                    bisect.insort(self._waiting, index)
                    return
        self.done(self._queue[index], result)


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
