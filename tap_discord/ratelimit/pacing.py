"""The global pacing: one rate for all requests of the run, whatever their route.

Discord limits a bot to 50 requests per second over all routes, and a 429 with the
global flag pauses all of them:
https://discord.com/developers/docs/topics/rate-limits#global-rate-limit. The tap
sends at most `max_requests_per_second` (50 by default): requests are spaced 1/rate
apart, and one goes only while fewer than the limit count against a one-second window.

Threads may have a priority (`SlotQueue`): among prioritized threads waiting for the
rate, the lowest value gets the earliest slot. The message prefetcher gives the channel
nearest the output precedence, so channels finish in output order.

Neither class locks: the limiter calls them with its lock held.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

from tap_discord.ratelimit.routes import Route
from tap_discord.ratelimit.waits import POLL_SECONDS, Wait

GLOBAL_WINDOW_SECONDS = 1.0
"""The global limit counts requests per second. We cannot see when a request reaches
Discord, only that it did between our send and our response: so a request counts
against the window from its send until one window after its response, and a request
is sent only while fewer than the limit count. Spacing alone (1/rate) is not enough:
arrival times jitter, and a sliding window then sometimes counts rate + 1."""

CLOCK_EPSILON = 1e-9
"""Float noise allowed when comparing clock times (slots are sums of 1/rate)."""


class GlobalPacing:
    """Slots at the configured rate, the one-second window, and global 429 pauses."""

    def __init__(self, max_requests_per_second: float, log: logging.Logger) -> None:
        """Space requests `1 / max_requests_per_second` apart."""
        self._interval = 1.0 / max_requests_per_second
        self._next_slot = float("-inf")
        self._window_limit = max(1, int(min(max_requests_per_second, 1e9)))
        self.in_flight = 0
        self._answered: deque[float] = deque()  # clock times of recent responses
        self._paused_until = float("-inf")
        self._log = log
        self.global_429s = 0

    def next_slot(self, now: float) -> float:
        """Take the next free slot, at `now` or later, so requests stay 1/rate apart."""
        slot = max(now, self._next_slot)
        self._next_slot = slot + self._interval
        return slot

    def hold_until(self, until: float) -> None:
        """Give out no slot before `until` (a pause of every request)."""
        self._next_slot = max(self._next_slot, until)

    def window_opens(self, now: float) -> float:
        """The time from which a request sent would keep every server window within the limit.

        Requests in flight, and those answered within the last window, may all still
        fall inside the server's window.
        """
        answered = self._answered
        while answered and answered[0] <= now - GLOBAL_WINDOW_SECONDS + CLOCK_EPSILON:
            answered.popleft()
        excess = self.in_flight + len(answered) - (self._window_limit - 1)
        if excess <= 0:
            return now
        if excess > len(answered):
            return now + POLL_SECONDS
        return answered[excess - 1] + GLOBAL_WINDOW_SECONDS

    def sent(self) -> None:
        """A request goes now: it counts against the window until after its response."""
        self.in_flight += 1

    def answered(self, now: float) -> None:
        """A sent request was answered (or failed) at `now`."""
        self.in_flight -= 1
        self._answered.append(now)

    def wait(self, now: float) -> Wait | None:
        """How long a global 429 still holds every request, or None."""
        if now < self._paused_until:
            return Wait(self._paused_until - now, "a global rate limit (429)")
        return None

    def pause(self, route: Route, now: float, seconds: float) -> None:
        """A global 429: no request goes for `seconds`."""
        self.global_429s += 1
        self._paused_until = max(self._paused_until, now + seconds)
        self.hold_until(self._paused_until)
        self._log.warning(
            "Discord answered %s with a global 429: pausing all requests for %.1f s "
            "(is another program using the same token?)",
            route.label,
            seconds,
        )


@dataclass(eq=False)
class SlotWait:
    """A prioritized thread's reserved global slot; a lower priority may take it over."""

    slot: float
    priority: int


class SlotQueue:
    """The prioritized threads waiting for their global slot."""

    def __init__(self) -> None:
        """Start with no thread waiting."""
        self._waits: list[SlotWait] = []

    def join(self, slot: float, priority: int) -> SlotWait:
        """Join the prioritized waiters: take the earliest slot held by a higher value.

        Each waiter of a higher value moves to the next such slot, the last one to
        `slot`: slots stay in priority order and none is added or lost.
        """
        wait = SlotWait(slot, priority)
        behind = sorted((w for w in self._waits if w.priority > priority), key=lambda w: w.slot)
        slots = [w.slot for w in behind] + [slot]
        wait.slot = slots[0]
        for waiter, later in zip(behind, slots[1:], strict=True):
            waiter.slot = later
        self._waits.append(wait)
        return wait

    def leave(self, wait: SlotWait) -> None:
        """The waiter's slot has come, or it gave up: take it out of the queue."""
        self._waits.remove(wait)
