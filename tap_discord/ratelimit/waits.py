"""Waiting: how long a request is held and why, the sleep itself, and its log lines.

Every policy answers "may this request go now?" with None or a `Wait`; the limiter
sleeps it out here, outside its lock, and logs what the request waited for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

POLL_SECONDS = 0.05
"""Re-check interval while waiting for an in-flight response rather than a clock time."""

LONG_WAIT_SECONDS = 30.0
"""Waits longer than this are logged at INFO, shorter ones at DEBUG.

Why: waiting for a bucket's reset or the global rate is how a rate-limited run
proceeds (a backfill waits on every channel's 5-per-5-seconds bucket), nothing a person
acts on; the progress lines and the run summary say how much time went to it. A wait
longer than the progress interval is announced, or the run would look stuck. What
causes the waits (a global 429, a ban) has its own WARNING.
"""

BEFORE_WAIT_MIN_SECONDS = 0.1
"""Sleeps at least this long run the limiter's `before_wait` first."""


@dataclass(frozen=True)
class Wait:
    """Why a request may not go yet, and for how long at most."""

    seconds: float
    reason: str


@dataclass
class WaitLog:
    """The waits of one `acquire()` call, for logging and statistics."""

    total: float = 0.0
    reason: str = ""
    longest: float = 0.0
    announced: bool = False

    def add(self, seconds: float, reason: str) -> None:
        """Count one sleep; the longest names the reason logged for the call."""
        self.total += seconds
        if seconds >= self.longest:
            self.longest = seconds
            self.reason = reason


@dataclass
class WaitTotals:
    """The waits of the whole run: how many `acquire()` calls waited, and how long."""

    waits: int = 0
    seconds: float = 0.0
    longest: float = 0.0

    def add(self, waited: WaitLog) -> None:
        """Count one `acquire()` call that waited."""
        self.waits += 1
        self.seconds += waited.total
        self.longest = max(self.longest, waited.total)


class Sleeper:
    """Sleeps for the limiter and logs its waits (never called with the lock held)."""

    def __init__(
        self,
        sleep: Callable[[float], None],
        before_wait: Callable[[], None] | None,
        log: logging.Logger,
    ) -> None:
        """`before_wait` runs before each sleep of `BEFORE_WAIT_MIN_SECONDS` or more."""
        self._sleep = sleep
        self._before_wait = before_wait
        self._log = log

    def sleep(self, seconds: float, reason: str, waited: WaitLog) -> None:
        """Sleep, logging a long wait at INFO before it starts."""
        if seconds <= 0:
            return
        if seconds > LONG_WAIT_SECONDS:
            self._log.info("Rate limit: waiting %.1f s for %s", seconds, reason)
            waited.announced = True
        waited.add(seconds, reason)
        if self._before_wait is not None and seconds >= BEFORE_WAIT_MIN_SECONDS:
            self._before_wait()
        self._sleep(seconds)

    def report(self, waited: WaitLog) -> None:
        """Log what one `acquire()` call waited for, unless announced already."""
        if waited.total <= 0 or waited.announced:
            return
        level = logging.INFO if waited.total > LONG_WAIT_SECONDS else logging.DEBUG
        self._log.log(level, "Rate limit: waited %.3f s for %s", waited.total, waited.reason)
