"""Discord rate limits: the only place in the tap that knows about them.

Every request of a run goes through one `RateLimiter` (mounted on each session with
`RateLimitedAdapter`). It keeps Discord's rules (see `discord-api.md` §2):

* Per-route buckets, identified by `X-RateLimit-Bucket` plus the major parameter
  (channel, guild or webhook). Before a route's first response its bucket is keyed
  by the route template, so nothing is shared by accident.
* A global limiter (default 50 requests per second) that every request passes,
  including routes that send no rate-limit headers.
* 429 handling: a global 429 pauses everything, a route or shared 429 pauses its
  bucket. The limiter never retries by itself; the caller retries the 429 and the
  next `acquire()` waits the pause out.
* Protection of the IP: 401/403/non-shared 429 responses are counted in a sliding
  10-minute window and the run stops long before Discord's ban threshold, and a
  Cloudflare ban (a 429 without rate-limit headers, or with an HTML body) gets one
  long back-off and one probe request, never a stream of retries.

Threads: any number of threads may call `acquire()`. The lock is never held while
sleeping, and a request reserves its slot in the bucket when `acquire()` returns, so
several threads cannot all spend a bucket's last `Remaining`. A thread may set a
priority (`set_priority`): among prioritized threads waiting for the global rate, the
lowest value gets the earliest slot (the message prefetcher gives the channel nearest
the output precedence, so channels finish in output order).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tap_discord.errors import ConfigError, RateLimitBanError
from tap_discord.ratelimit.ban import BanBackoff
from tap_discord.ratelimit.buckets import Bucket, BucketTable
from tap_discord.ratelimit.invalid import InvalidRequestGuard
from tap_discord.ratelimit.reservation import Reservation
from tap_discord.ratelimit.response import RateLimitResponse
from tap_discord.ratelimit.routes import Route, parse_route
from tap_discord.ratelimit.waits import POLL_SECONDS, Sleeper, Wait, WaitLog, WaitTotals

CLOCK_EPSILON = 1e-9
"""Float noise allowed when comparing clock times (slots are sums of 1/rate)."""

GLOBAL_WINDOW_SECONDS = 1.0
"""The global limit counts requests per second. We cannot see when a request reaches
Discord, only that it did between our send and our response: so a request counts
against the window from its send until one window after its response, and a request
is sent only while fewer than the limit count. Spacing alone (1/rate) is not enough:
arrival times jitter, and a sliding window then sometimes counts rate + 1."""

# Statistics --------------------------------------------------------------------------


@dataclass(frozen=True)
class RateLimitStats:
    """A snapshot of what the limiter has seen in this run."""

    requests: int = 0
    route_429: int = 0
    shared_429: int = 0
    global_429: int = 0
    bans: int = 0
    invalid_requests: int = 0
    invalid_requests_window: int = 0
    waits: int = 0
    wait_seconds: float = 0.0
    longest_wait: float = 0.0


# Internal state ----------------------------------------------------------------------


@dataclass(eq=False)
class _SlotWait:
    """A prioritized thread's reserved global slot; a lower priority may take it over."""

    slot: float
    priority: int


@dataclass
class _Counters:
    requests: int = 0
    global_429: int = 0


# The limiter -------------------------------------------------------------------------


class RateLimiter:
    """Discord's rate limits for every request of a run (thread-safe, one per run)."""

    def __init__(
        self,
        *,
        max_requests_per_second: float = 50.0,
        invalid_request_limit: int = 1000,
        ban_backoff_seconds: float = 60.0,
        max_header_wait: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
        wall_clock: Callable[[], float] = time.time,
        before_wait: Callable[[], None] | None = None,
    ) -> None:
        """Check the settings and start with no knowledge of any bucket.

        `clock` and `sleep` are injectable so tests run on a fake clock; `wall_clock`
        only converts an absolute `X-RateLimit-Reset` when `Reset-After` is missing.
        `before_wait` runs before each sleep of `BEFORE_WAIT_MIN_SECONDS` or more (the
        tap writes out its output then; not before the short pacing sleeps).
        """
        _require(max_requests_per_second > 0, "max_requests_per_second must be above 0")
        _require(invalid_request_limit >= 1, "invalid_request_limit must be at least 1")
        _require(ban_backoff_seconds >= 0, "ban_backoff_seconds must not be negative")
        _require(max_header_wait > 0, "max_header_wait must be above 0")
        self.max_requests_per_second = float(max_requests_per_second)
        self.invalid_request_limit = int(invalid_request_limit)
        self.ban_backoff_seconds = float(ban_backoff_seconds)
        self.max_header_wait = float(max_header_wait)
        self._clock = clock
        self._wall_clock = wall_clock
        self._log = logger or logging.getLogger("tap_discord.ratelimit")
        self._lock = threading.Lock()
        self._local = threading.local()
        self._interval = 1.0 / self.max_requests_per_second
        self._next_slot = float("-inf")
        self._window_limit = max(1, int(min(self.max_requests_per_second, 1e9)))
        self._in_flight = 0
        self._answered: deque[float] = deque()
        self._slot_waits: list[_SlotWait] = []  # prioritized threads waiting for a slot
        self._buckets = BucketTable(
            max_header_wait=self.max_header_wait, wall_clock=wall_clock, log=self._log
        )
        self._sleeper = Sleeper(sleep, before_wait, self._log)
        self._wait_totals = WaitTotals()
        self._global_paused_until = float("-inf")
        self._ban = BanBackoff(self.ban_backoff_seconds, self._log)
        self._stop_message: str | None = None
        self._counters = _Counters()
        self._guard = InvalidRequestGuard(self.invalid_request_limit)

    # Public API ----------------------------------------------------------------------

    def acquire(self, method: str, url: str) -> Reservation:
        """Block until a request to this route may be sent (global limiter + bucket).

        Returns the request's reservation of a slot in the route's bucket and in the
        global rate. Raises `RateLimitBanError` if the invalid-request guard has
        tripped or a confirmed ban is in force.
        """
        route = parse_route(method, url)
        waited = WaitLog()
        reservation, first_slot = self._reserve(route, waited)
        slot: float | None = first_slot
        try:
            while slot is not None:
                self._sleep_until(slot, waited)
                slot = self._confirm(reservation, waited)
        except BaseException:
            self.release(reservation)
            raise
        self._sleeper.report(waited)
        if waited.total > 0:
            with self._lock:
                self._wait_totals.add(waited)
        return reservation

    def set_priority(self, priority: int | None) -> None:
        """Give this thread's requests a place in the global queue (lower goes first).

        Only threads with a priority are reordered, among themselves; None restores
        first come, first served.
        """
        self._local.priority = priority

    def record_response(
        self,
        reservation: Reservation,
        status: int,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> None:
        """Learn from a response: bucket headers, 429s, invalid requests, bans.

        Ends the request's reservation. Raises `RateLimitBanError` when the probe after
        a ban back-off is banned again.
        """
        try:
            response = RateLimitResponse.parse(status, headers, body)
        except Exception:
            self.release(reservation)  # never leave a sent request counted as in flight
            raise
        with self._lock:
            now = self._clock()
            self._end(reservation)
            self._count_invalid(response, now)
            if response.is_ban:
                self._on_ban(reservation, now)
                return
            self._ban.on_answer(reservation)
            route = reservation.route
            bucket = self._buckets.learn(route, response, now)
            if response.status == 429:
                self._on_429(route, bucket, response, now)

    def release(self, reservation: Reservation) -> None:
        """Give back a reservation whose request got no response (network error).

        Does nothing once its response was recorded or it was released.
        """
        with self._lock:
            if reservation.done:
                return
            self._end(reservation)
            self._ban.probe_lost(reservation)

    @property
    def stats(self) -> RateLimitStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            c = self._counters
            return RateLimitStats(
                requests=c.requests,
                route_429=self._buckets.route_429s,
                shared_429=self._buckets.shared_429s,
                global_429=c.global_429,
                bans=self._ban.responses,
                invalid_requests=self._guard.total,
                invalid_requests_window=self._guard.in_window(self._clock()),
                waits=self._wait_totals.waits,
                wait_seconds=self._wait_totals.seconds,
                longest_wait=self._wait_totals.longest,
            )

    # Acquire: reservation and waiting ------------------------------------------------

    def _reserve(self, route: Route, waited: WaitLog) -> tuple[Reservation, float]:
        """Wait until the bucket and every pause allow a request, then reserve it.

        Returns the reservation and the clock time of its global-rate slot.
        """
        while True:
            with self._lock:
                self._raise_if_stopped()
                now = self._clock()
                bucket = self._buckets.for_route(route)
                blocked = self._pause_all(now) or bucket.wait(now)
                if blocked is None:
                    bucket.inflight += 1
                    reservation = Reservation(route, bucket, on_exit=self.release)
                    self._ban.claim_probe(reservation)
                    self._counters.requests += 1
                    return reservation, self._next_global_slot(now)
            self._sleeper.sleep(blocked.seconds, blocked.reason, waited)

    def _next_global_slot(self, now: float) -> float:
        """Space requests evenly at the configured rate (lock held)."""
        slot = max(now, self._next_slot)
        self._next_slot = slot + self._interval
        return slot

    def _global_window_opens(self, now: float) -> float:
        """The time from which a request sent would keep every server window within the limit.

        Requests in flight, and those answered within the last window, may all still
        fall inside the server's window (lock held).
        """
        answered = self._answered
        while answered and answered[0] <= now - GLOBAL_WINDOW_SECONDS + CLOCK_EPSILON:
            answered.popleft()
        excess = self._in_flight + len(answered) - (self._window_limit - 1)
        if excess <= 0:
            return now
        if excess > len(answered):
            return now + POLL_SECONDS
        return answered[excess - 1] + GLOBAL_WINDOW_SECONDS

    def _mark_sent(self, reservation: Reservation) -> None:
        """The reserved request goes now: it counts as in flight."""
        if not reservation.sent:
            reservation.sent = True
            self._in_flight += 1

    def _sleep_until(self, slot: float, waited: WaitLog) -> None:
        """Sleep until a reserved global slot (a prioritized thread's slot may move later)."""
        priority: int | None = getattr(self._local, "priority", None)
        if priority is None:
            delay = slot - self._clock()
            if delay > 0:
                self._sleeper.sleep(delay, "the global request rate", waited)
            return
        wait = self._queue_for_slot(slot, priority)
        while True:
            with self._lock:
                delay = wait.slot - self._clock()
                if delay <= 0:
                    self._slot_waits.remove(wait)
                    return
            try:
                self._sleeper.sleep(delay, "the global request rate", waited)
            except BaseException:
                with self._lock:
                    self._slot_waits.remove(wait)  # its slot must not be handed on
                raise

    def _queue_for_slot(self, slot: float, priority: int) -> _SlotWait:
        """Join the prioritized waiters: take the earliest slot held by a higher value.

        Each waiter of a higher value moves to the next such slot, the last one to
        `slot`: slots stay in priority order and none is added or lost.
        """
        wait = _SlotWait(slot, priority)
        with self._lock:
            behind = sorted(
                (w for w in self._slot_waits if w.priority > priority), key=lambda w: w.slot
            )
            slots = [w.slot for w in behind] + [slot]
            wait.slot = slots[0]
            for waiter, later in zip(behind, slots[1:], strict=True):
                waiter.slot = later
            self._slot_waits.append(wait)
        return wait

    def _confirm(self, reservation: Reservation, waited: WaitLog) -> float | None:
        """After the slot wait, check for a pause that began meanwhile.

        The bucket reservation is kept. Returns None when the request may go now, or a
        new global slot to wait for after sitting out the pause.
        """
        with self._lock:
            self._raise_if_stopped()
            now = self._clock()
            blocked = self._pause_all(now, probing=reservation.probe)
            if blocked is None:
                opens = self._global_window_opens(now)
                if opens > now:  # a fresh slot, so requests stay 1/rate apart
                    return self._next_global_slot(opens)
                if not self._guard.allows(now, self._in_flight):
                    return self._next_global_slot(now + POLL_SECONDS)
                self._ban.claim_probe(reservation)
                self._mark_sent(reservation)
                return None
        self._sleeper.sleep(blocked.seconds, blocked.reason, waited)
        with self._lock:
            return self._next_global_slot(self._clock())

    def _pause_all(self, now: float, *, probing: bool = False) -> Wait | None:
        """A pause that holds every request: ban back-off, ban probe, global 429."""
        ban = self._ban.wait(now, probing=probing)
        if ban is not None:
            return ban
        if now < self._global_paused_until:
            return Wait(self._global_paused_until - now, "a global rate limit (429)")
        return None

    # Reservations ------------------------------------------------------------------

    def _end(self, reservation: Reservation) -> None:
        """Free the reservation's place in its bucket and in the global window (lock held)."""
        if reservation.done:
            return
        reservation.done = True
        reservation.bucket.release()
        if reservation.sent:
            self._in_flight -= 1
            self._answered.append(self._clock())

    # 429s, bans, invalid requests ----------------------------------------------------

    def _on_429(
        self, route: Route, bucket: Bucket, response: RateLimitResponse, now: float
    ) -> None:
        """Pause everything (global) or the bucket (route, shared) for retry_after."""
        retry_after = response.pause_after_429(self._wall_clock, self.max_header_wait)
        c = self._counters
        if response.is_global:
            c.global_429 += 1
            self._global_paused_until = max(self._global_paused_until, now + retry_after)
            self._next_slot = max(self._next_slot, self._global_paused_until)
            self._log.warning(
                "Discord answered %s with a global 429: pausing all requests for %.1f s "
                "(is another program using the same token?)",
                route.label,
                retry_after,
            )
            return
        shared = response.scope == "shared"
        self._buckets.pause(route, bucket, now, retry_after, shared=shared)

    def _on_ban(self, reservation: Reservation, now: float) -> None:
        """First ban: one long back-off for every request. A banned probe: stop the run."""
        if self._ban.on_ban(reservation, now):
            self._stop_message = self._ban.stop_message(
                self._guard.total, self._guard.in_window(now)
            )
            raise RateLimitBanError(self._stop_message)
        if self._ban.until is not None:
            self._next_slot = max(self._next_slot, self._ban.until)

    def _count_invalid(self, response: RateLimitResponse, now: float) -> None:
        """Count 401/403/non-shared 429 and trip the guard at the limit (lock held)."""
        if self._guard.count(response, now) and self._stop_message is None:
            self._stop_message = self._guard.stop_message()

    def _raise_if_stopped(self) -> None:
        if self._stop_message is not None:
            raise RateLimitBanError(self._stop_message)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
