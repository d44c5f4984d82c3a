"""The coordinator: every request of a run asks it before going and reports after.

`acquire()` waits until every policy lets the request go and returns its
`Reservation`; the caller hands that back to `record_response()` with the response, or
to `release()` when none came. The policies live in their own modules (see the
package's docstring); this one decides in which order they are asked:

1. the pauses that hold every request (ban back-off and probe, global 429), then the
   route's bucket; the request then takes its place in the bucket;
2. its slot in the global rate (a prioritized thread's slot may move later);
3. once the slot has come: the pauses again (one may have begun meanwhile), the
   one-second global window and the invalid-request guard; then it goes.

The limiter never retries: the caller retries a 429, and its next `acquire()` waits
the pause out.

Threads: any number of threads may call `acquire()`. One lock guards the state of
every policy, and is never held while sleeping. A request takes its place in its
bucket before it waits for its global slot, so several threads cannot all spend a
bucket's last `Remaining`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping

from tap_discord.errors import ConfigError, RateLimitBanError
from tap_discord.ratelimit.ban import BanBackoff
from tap_discord.ratelimit.buckets import Bucket, BucketTable
from tap_discord.ratelimit.invalid import InvalidRequestGuard
from tap_discord.ratelimit.pacing import GlobalPacing, SlotQueue
from tap_discord.ratelimit.reservation import Reservation
from tap_discord.ratelimit.response import RateLimitResponse
from tap_discord.ratelimit.routes import Route, parse_route
from tap_discord.ratelimit.stats import RateLimitStats
from tap_discord.ratelimit.waits import POLL_SECONDS, Sleeper, Wait, WaitLog, WaitTotals

_GLOBAL_RATE = "the global request rate"
#: `RateLimitStats.by_status` key of requests sent that got no response.
NO_RESPONSE = "none"


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
        `before_wait` runs before each sleep of `waits.BEFORE_WAIT_MIN_SECONDS` or more
        (the tap writes out its output then; not before the short pacing sleeps).
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
        log = logger or logging.getLogger("tap_discord.ratelimit")
        # Guards every policy and counter below. Reentrant: SIGTERM's handler runs on the
        # main thread wherever it is, inside this lock too, and reads `stats` for the
        # run summary (with a plain lock, the thread would wait on itself forever).
        self._lock = threading.RLock()
        self._local = threading.local()  # each thread's priority
        self._buckets = BucketTable(
            max_header_wait=self.max_header_wait, wall_clock=wall_clock, log=log
        )
        self._pacing = GlobalPacing(self.max_requests_per_second, log)
        self._queue = SlotQueue()
        self._ban = BanBackoff(self.ban_backoff_seconds, log)
        self._guard = InvalidRequestGuard(self.invalid_request_limit)
        self._sleeper = Sleeper(sleep, before_wait, log)
        self._wait_totals = WaitTotals()
        self._requests = 0
        self._statuses: Counter[str] = Counter()
        self._stop_message: str | None = None

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
        self._count_wait(waited)
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
            self._statuses[str(response.status)] += 1
            self._count_invalid(response, now)
            if response.is_ban:
                self._on_ban(reservation, now)
                return
            self._ban.on_answer(reservation)
            bucket = self._buckets.learn(reservation.route, response, now)
            if response.status == 429:
                self._on_429(reservation.route, bucket, response, now)

    def release(self, reservation: Reservation) -> None:
        """Give back a reservation whose request got no response (network error).

        Does nothing once its response was recorded or it was released.
        """
        with self._lock:
            if reservation.done:
                return
            if reservation.sent:
                self._statuses[NO_RESPONSE] += 1
            self._end(reservation)
            self._ban.probe_lost(reservation)

    @property
    def stats(self) -> RateLimitStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return RateLimitStats(
                requests=self._requests,
                route_429=self._buckets.route_429s,
                shared_429=self._buckets.shared_429s,
                global_429=self._pacing.global_429s,
                bans=self._ban.responses,
                invalid_requests=self._guard.total,
                invalid_requests_window=self._guard.in_window(self._clock()),
                waits=self._wait_totals.waits,
                wait_seconds=self._wait_totals.seconds,
                longest_wait=self._wait_totals.longest,
                by_status=dict(self._statuses),
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
                    self._requests += 1
                    return reservation, self._pacing.next_slot(now)
            self._sleeper.sleep(blocked.seconds, blocked.reason, waited)

    def _sleep_until(self, slot: float, waited: WaitLog) -> None:
        """Sleep until a reserved global slot (a prioritized thread's slot may move later)."""
        priority: int | None = getattr(self._local, "priority", None)
        if priority is None:
            delay = slot - self._clock()
            if delay > 0:
                self._sleeper.sleep(delay, _GLOBAL_RATE, waited)
            return
        with self._lock:
            wait = self._queue.join(slot, priority)
        while True:
            with self._lock:
                delay = wait.slot - self._clock()
                if delay <= 0:
                    self._queue.leave(wait)
                    return
            try:
                self._sleeper.sleep(delay, _GLOBAL_RATE, waited)
            except BaseException:
                with self._lock:
                    self._queue.leave(wait)  # its slot must not be handed on
                raise

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
                return self._send_or_delay(reservation, now)
        self._sleeper.sleep(blocked.seconds, blocked.reason, waited)
        with self._lock:
            return self._pacing.next_slot(self._clock())

    def _send_or_delay(self, reservation: Reservation, now: float) -> float | None:
        """Mark the request sent, or return a later slot if the window or guard say so."""
        opens = self._pacing.window_opens(now)
        if opens > now:  # a fresh slot, so requests stay 1/rate apart
            return self._pacing.next_slot(opens)
        if not self._guard.allows(now, self._pacing.in_flight):
            return self._pacing.next_slot(now + POLL_SECONDS)
        self._ban.claim_probe(reservation)
        if not reservation.sent:
            reservation.sent = True
            self._pacing.sent()
        return None

    def _pause_all(self, now: float, *, probing: bool = False) -> Wait | None:
        """A pause that holds every request: ban back-off, ban probe, global 429."""
        return self._ban.wait(now, probing=probing) or self._pacing.wait(now)

    def _count_wait(self, waited: WaitLog) -> None:
        """Log what one `acquire()` waited for and add it to the run's totals."""
        if waited.total <= 0:
            return
        self._sleeper.report(waited)
        with self._lock:
            self._wait_totals.add(waited)

    # Responses (lock held) -----------------------------------------------------------

    def _end(self, reservation: Reservation) -> None:
        """Free the reservation's place in its bucket and in the global window."""
        if reservation.done:
            return
        reservation.done = True
        reservation.bucket.release()
        if reservation.sent:
            self._pacing.answered(self._clock())

    def _on_429(
        self, route: Route, bucket: Bucket, response: RateLimitResponse, now: float
    ) -> None:
        """Pause everything (global) or the bucket (route, shared) for retry_after."""
        seconds = response.pause_after_429(self._wall_clock, self.max_header_wait)
        if response.is_global:
            self._pacing.pause(route, now, seconds)
        else:
            self._buckets.pause(route, bucket, now, seconds, shared=response.scope == "shared")

    def _on_ban(self, reservation: Reservation, now: float) -> None:
        """First ban: one long back-off for every request. A banned probe: stop the run."""
        if self._ban.on_ban(reservation, now):
            invalid_in_window = self._guard.in_window(now)
            self._stop_message = self._ban.stop_message(self._guard.total, invalid_in_window)
            raise RateLimitBanError(self._stop_message)
        if self._ban.until is not None:
            self._pacing.hold_until(self._ban.until)

    def _count_invalid(self, response: RateLimitResponse, now: float) -> None:
        """Count 401/403/non-shared 429 and stop the run once the guard trips."""
        if self._guard.count(response, now) and self._stop_message is None:
            self._stop_message = self._guard.stop_message()

    def _raise_if_stopped(self) -> None:
        if self._stop_message is not None:
            raise RateLimitBanError(self._stop_message)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
