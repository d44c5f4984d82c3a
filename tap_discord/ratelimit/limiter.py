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
from dataclasses import dataclass, field

from tap_discord.errors import ConfigError, RateLimitBanError
from tap_discord.ratelimit.response import DEFAULT_RETRY_AFTER, RateLimitResponse
from tap_discord.ratelimit.routes import Route, parse_route

INVALID_WINDOW_SECONDS = 600.0
"""Discord counts invalid requests (401, 403, 429) per 10 minutes."""

DISCORD_BAN_THRESHOLD = 10_000
"""Invalid requests per window at which Cloudflare bans the IP."""

POLL_SECONDS = 0.05
"""Re-check interval while waiting for an in-flight response rather than a clock time."""

LONG_WAIT_SECONDS = 1.0
"""Waits longer than this are logged at INFO, shorter ones at DEBUG."""

CLOCK_EPSILON = 1e-9
"""Float noise allowed when comparing clock times (slots are sums of 1/rate)."""

GLOBAL_WINDOW_SECONDS = 1.0
"""The global limit counts requests per second. We cannot see when a request reaches
Discord, only that it did between our send and our response: so a request counts
against the window from its send until one window after its response, and a request
is sent only while fewer than the limit count. Spacing alone (1/rate) is not enough:
arrival times jitter, and a sliding window then sometimes counts rate + 1."""

_INVALID_STATUSES = frozenset({401, 403, 429})

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


@dataclass
class _Bucket:
    """What is known about one rate-limit bucket (per bucket hash and major parameter).

    `remaining` is the server's last word; `inflight` counts requests sent since, whose
    responses have not arrived. A bucket may be folded into another when its route's
    bucket hash is learned (`merged_into`).
    """

    label: str
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    paused_until: float = 0.0
    inflight: int = 0
    learned: bool = False
    merged_into: _Bucket | None = None

    def resolve(self) -> _Bucket:
        """The live bucket this one has become."""
        bucket = self
        while bucket.merged_into is not None:
            bucket = bucket.merged_into
        return bucket

    def absorb(self, other: _Bucket) -> None:
        """Take over another bucket's reservations and pause."""
        self.inflight += other.inflight
        self.paused_until = max(self.paused_until, other.paused_until)
        other.inflight = 0
        other.merged_into = self

    def refresh(self, now: float) -> None:
        """Forget an exhausted window once its reset time has passed."""
        if self.reset_at is not None and now >= self.reset_at:
            self.reset_at = None
            self.remaining = self.limit


@dataclass(eq=False)
class Reservation:
    """One request's place in its bucket and in the global rate, from `acquire()` on.

    Hand it to `record_response()` with the response, or to `release()` if none came.
    Used as a context manager it releases itself on exit unless its response was
    recorded, so a request that fails never stays counted as in flight.
    """

    route: Route
    bucket: _Bucket
    on_exit: Callable[[Reservation], None] = field(repr=False)
    probe: bool = False
    sent: bool = False
    done: bool = False

    def __enter__(self) -> Reservation:
        """The reservation itself."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Release the reservation unless its response was recorded."""
        self.on_exit(self)


@dataclass(eq=False)
class _SlotWait:
    """A prioritized thread's reserved global slot; a lower priority may take it over."""

    slot: float
    priority: int


@dataclass
class _Counters:
    requests: int = 0
    route_429: int = 0
    shared_429: int = 0
    global_429: int = 0
    bans: int = 0
    invalid_total: int = 0
    waits: int = 0
    wait_seconds: float = 0.0
    longest_wait: float = 0.0
    invalid: deque[tuple[float, int]] = field(default_factory=deque)


# The limiter -------------------------------------------------------------------------


#: Sleeps at least this long run the limiter's `before_wait` first.
BEFORE_WAIT_MIN_SECONDS = 0.1


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
        self._sleep = sleep
        self._before_wait = before_wait
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
        self._buckets: dict[str, _Bucket] = {}
        self._route_hashes: dict[str, str] = {}
        self._hash_limits: dict[str, int] = {}
        self._global_paused_until = float("-inf")
        self._ban_until: float | None = None
        self._ban_probe_out = False
        self._stop_message: str | None = None
        self._counters = _Counters()

    # Public API ----------------------------------------------------------------------

    def acquire(self, method: str, url: str) -> Reservation:
        """Block until a request to this route may be sent (global limiter + bucket).

        Returns the request's reservation of a slot in the route's bucket and in the
        global rate. Raises `RateLimitBanError` if the invalid-request guard has
        tripped or a confirmed ban is in force.
        """
        route = parse_route(method, url)
        waited = _WaitLog()
        reservation, first_slot = self._reserve(route, waited)
        slot: float | None = first_slot
        try:
            while slot is not None:
                self._sleep_until(slot, waited)
                slot = self._confirm(reservation, waited)
        except BaseException:
            self.release(reservation)
            raise
        self._record_wait(waited)
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
            self._on_not_ban(reservation, now)
            route = reservation.route
            bucket = self._learn_bucket(route, response)
            if response.has_rate_limit_headers or response.status < 400:
                self._apply_headers(bucket, response, now)
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
            if reservation.probe:
                self._ban_probe_out = False

    @property
    def stats(self) -> RateLimitStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            self._prune_invalid(self._clock())
            c = self._counters
            return RateLimitStats(
                requests=c.requests,
                route_429=c.route_429,
                shared_429=c.shared_429,
                global_429=c.global_429,
                bans=c.bans,
                invalid_requests=c.invalid_total,
                invalid_requests_window=len(c.invalid),
                waits=c.waits,
                wait_seconds=c.wait_seconds,
                longest_wait=c.longest_wait,
            )

    # Acquire: reservation and waiting ------------------------------------------------

    def _reserve(self, route: Route, waited: _WaitLog) -> tuple[Reservation, float]:
        """Wait until the bucket and every pause allow a request, then reserve it.

        Returns the reservation and the clock time of its global-rate slot.
        """
        while True:
            with self._lock:
                self._raise_if_stopped()
                now = self._clock()
                bucket = self._bucket_for(route)
                blocked = self._pause_all(now) or self._bucket_wait(bucket, now)
                if blocked is None:
                    bucket.inflight += 1
                    reservation = Reservation(route, bucket, on_exit=self.release)
                    self._claim_probe(reservation)
                    self._counters.requests += 1
                    return reservation, self._next_global_slot(now)
            self._wait(blocked[0], blocked[1], waited)

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

    def _sleep_until(self, slot: float, waited: _WaitLog) -> None:
        """Sleep until a reserved global slot (a prioritized thread's slot may move later)."""
        priority: int | None = getattr(self._local, "priority", None)
        if priority is None:
            delay = slot - self._clock()
            if delay > 0:
                self._wait(delay, "the global request rate", waited)
            return
        wait = self._queue_for_slot(slot, priority)
        while True:
            with self._lock:
                delay = wait.slot - self._clock()
                if delay <= 0:
                    self._slot_waits.remove(wait)
                    return
            try:
                self._wait(delay, "the global request rate", waited)
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

    def _confirm(self, reservation: Reservation, waited: _WaitLog) -> float | None:
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
                if not self._within_invalid_limit(now):
                    return self._next_global_slot(now + POLL_SECONDS)
                self._claim_probe(reservation)
                self._mark_sent(reservation)
                return None
        self._wait(blocked[0], blocked[1], waited)
        with self._lock:
            return self._next_global_slot(self._clock())

    def _claim_probe(self, reservation: Reservation) -> None:
        """After a ban back-off, the first request to go is the one probe (lock held)."""
        if self._ban_until is not None and not reservation.probe:
            reservation.probe = True
            self._ban_probe_out = True

    def _pause_all(self, now: float, *, probing: bool = False) -> tuple[float, str] | None:
        """A pause that holds every request: ban back-off, ban probe, global 429."""
        if self._ban_until is not None:
            if now < self._ban_until:
                return self._ban_until - now, "a suspected Cloudflare ban to pass"
            if self._ban_probe_out and not probing:
                return POLL_SECONDS, "the probe request after a ban back-off"
        if now < self._global_paused_until:
            return self._global_paused_until - now, "a global rate limit (429)"
        return None

    def _bucket_wait(self, bucket: _Bucket, now: float) -> tuple[float, str] | None:
        """How long the bucket blocks a new request, or None."""
        if now < bucket.paused_until:
            return bucket.paused_until - now, f"bucket {bucket.label} (429)"
        bucket.refresh(now)
        if not bucket.learned and bucket.inflight:
            return POLL_SECONDS, f"the first response of bucket {bucket.label}"
        if bucket.remaining is not None and bucket.remaining - bucket.inflight <= 0:
            if bucket.reset_at is None:
                return POLL_SECONDS, f"bucket {bucket.label}"
            return bucket.reset_at - now, f"bucket {bucket.label}"
        return None

    def _wait(self, seconds: float, reason: str, waited: _WaitLog) -> None:
        """Sleep outside the lock, logging long waits at INFO before they start."""
        if seconds <= 0:
            return
        if seconds > LONG_WAIT_SECONDS:
            self._log.info("Rate limit: waiting %.1f s for %s", seconds, reason)
            waited.announced = True
        waited.add(seconds, reason)
        if self._before_wait is not None and seconds >= BEFORE_WAIT_MIN_SECONDS:
            self._before_wait()
        self._sleep(seconds)

    def _record_wait(self, waited: _WaitLog) -> None:
        if waited.total <= 0:
            return
        if not waited.announced:
            level = logging.INFO if waited.total > LONG_WAIT_SECONDS else logging.DEBUG
            self._log.log(level, "Rate limit: waited %.3f s for %s", waited.total, waited.reason)
        with self._lock:
            c = self._counters
            c.waits += 1
            c.wait_seconds += waited.total
            c.longest_wait = max(c.longest_wait, waited.total)

    # Reservations ------------------------------------------------------------------

    def _end(self, reservation: Reservation) -> None:
        """Free the reservation's place in its bucket and in the global window (lock held)."""
        if reservation.done:
            return
        reservation.done = True
        bucket = reservation.bucket.resolve()
        bucket.inflight = max(0, bucket.inflight - 1)
        if reservation.sent:
            self._in_flight -= 1
            self._answered.append(self._clock())

    # Buckets -------------------------------------------------------------------------

    def _bucket_for(self, route: Route) -> _Bucket:
        """The live bucket of a route, adopting its pre-hash bucket once the hash is known."""
        bucket_hash = self._route_hashes.get(route.template)
        if bucket_hash is None:
            return self._buckets.setdefault(route.key, _Bucket(route.label))
        key = f"{bucket_hash}:{route.major}"
        bucket = self._buckets.get(key)
        early = self._buckets.pop(route.key, None)
        if bucket is None:
            bucket = early or _Bucket(route.label)
            if not bucket.learned and bucket_hash in self._hash_limits:
                bucket.limit = bucket.remaining = self._hash_limits[bucket_hash]
                bucket.learned = True
            self._buckets[key] = bucket
        elif early is not None and early is not bucket:
            bucket.absorb(early)
        return bucket

    def _learn_bucket(self, route: Route, response: RateLimitResponse) -> _Bucket:
        """Map the route to its `X-RateLimit-Bucket` and return its live bucket."""
        bucket_hash = response.bucket_hash
        if bucket_hash:
            self._route_hashes[route.template] = bucket_hash
        return self._bucket_for(route)

    def _apply_headers(self, bucket: _Bucket, response: RateLimitResponse, now: float) -> None:
        """Take Limit, Remaining and the reset time from a response (lock held)."""
        bucket.learned = True
        limit = response.header_number("limit")
        remaining = response.header_number("remaining")
        if limit is not None:
            bucket.limit = int(limit)
            bucket_hash = response.bucket_hash
            if bucket_hash:
                self._hash_limits[bucket_hash] = bucket.limit
        if remaining is not None:
            bucket.remaining = max(0, int(remaining))
        reset_in = response.reset_in(self._wall_clock, self.max_header_wait)
        if reset_in is not None:
            bucket.reset_at = now + reset_in
        elif remaining is not None and bucket.remaining == 0:
            bucket.reset_at = now + min(DEFAULT_RETRY_AFTER, self.max_header_wait)

    # 429s, bans, invalid requests ----------------------------------------------------

    def _on_429(
        self, route: Route, bucket: _Bucket, response: RateLimitResponse, now: float
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
        if shared:
            c.shared_429 += 1
        else:
            c.route_429 += 1
        bucket.paused_until = max(bucket.paused_until, now + retry_after)
        level = logging.WARNING if retry_after > self.max_header_wait else logging.INFO
        self._log.log(
            level,
            "Discord answered %s with a %s429: pausing its bucket for %.1f s",
            route.label,
            "shared " if shared else "",
            retry_after,
        )

    def _on_ban(self, reservation: Reservation, now: float) -> None:
        """First ban: one long back-off. A banned probe after it: stop the run."""
        c = self._counters
        c.bans += 1
        if self._ban_until is None:
            self._ban_until = now + self.ban_backoff_seconds
            self._next_slot = max(self._next_slot, self._ban_until)
            self._log.warning(
                "Discord/Cloudflare answered with a ban response (429 without rate-limit "
                "headers): pausing all requests for %.0f s, then trying one request",
                self.ban_backoff_seconds,
            )
            return
        if not reservation.probe:
            return
        self._ban_probe_out = False
        self._stop_message = (
            "Discord/Cloudflare has temporarily banned this IP for too many invalid requests "
            f"(still banned after a {self.ban_backoff_seconds:.0f} s pause; this run made "
            f"{c.invalid_total} invalid requests, {len(c.invalid)} in the last 10 minutes): "
            "wait about 1 hour before running the tap again, and check that no other "
            "program on this IP is hammering Discord"
        )
        raise RateLimitBanError(self._stop_message)

    def _on_not_ban(self, reservation: Reservation, now: float) -> None:
        """A real answer after a ban back-off lifts the ban suspicion."""
        if self._ban_until is None:
            return
        if reservation.probe:
            self._ban_until = None
            self._ban_probe_out = False
            self._log.info("Discord answers normally again after the ban back-off; resuming")

    def _count_invalid(self, response: RateLimitResponse, now: float) -> None:
        """Count 401/403/non-shared 429 and trip the guard at the limit (lock held)."""
        if response.status not in _INVALID_STATUSES:
            return
        if response.status == 429 and response.scope == "shared" and not response.is_ban:
            return
        c = self._counters
        c.invalid_total += 1
        c.invalid.append((now, response.status))
        self._prune_invalid(now)
        if len(c.invalid) >= self.invalid_request_limit and self._stop_message is None:
            self._stop_message = self._guard_message()

    def _within_invalid_limit(self, now: float) -> bool:
        """Whether a request may go without the guard ever counting past its limit.

        Were it and every request in flight refused, the guard would stop the run at
        `invalid_request_limit`, not beyond (lock held). Why: worker threads send
        requests at once, and those in flight when the limit is reached would all
        count beyond it.
        """
        self._prune_invalid(now)
        return len(self._counters.invalid) + self._in_flight < self.invalid_request_limit

    def _prune_invalid(self, now: float) -> None:
        window = self._counters.invalid
        while window and now - window[0][0] >= INVALID_WINDOW_SECONDS:
            window.popleft()

    def _guard_message(self) -> str:
        """Why the run stopped, which statuses caused it, and what to change."""
        by_status: dict[int, int] = {}
        for _, status in self._counters.invalid:
            by_status[status] = by_status.get(status, 0) + 1
        counts = ", ".join(f"{n} x {s}" for s, n in sorted(by_status.items()))
        return (
            f"Stopped after {len(self._counters.invalid)} invalid requests (401/403/429) in "
            f"10 minutes ({counts}) to protect this IP from a Discord/Cloudflare ban (Discord "
            f"bans at {DISCORD_BAN_THRESHOLD:,}): usually the bot lacks permissions on many "
            "channels, so grant them or narrow `guild_ids`/`channel_ids`; if the errors are "
            f"expected, raise `invalid_request_limit` (now {self.invalid_request_limit})"
        )

    def _raise_if_stopped(self) -> None:
        if self._stop_message is not None:
            raise RateLimitBanError(self._stop_message)


@dataclass
class _WaitLog:
    """The waits of one `acquire()` call, for logging and statistics."""

    total: float = 0.0
    reason: str = ""
    longest: float = 0.0
    announced: bool = False

    def add(self, seconds: float, reason: str) -> None:
        self.total += seconds
        if seconds >= self.longest:
            self.longest = seconds
            self.reason = reason


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
