"""Per-route buckets, learned from each response's `X-RateLimit-*` headers.

Discord names the limit a route falls under by `X-RateLimit-Bucket`; routes with the
same hash share one limit, counted separately for each major parameter (channel,
guild, webhook). Limits are never hard-coded, only read from the headers:
https://discord.com/developers/docs/topics/rate-limits#header-format.

`Bucket` is what is known about one limit; `BucketTable` finds a request's bucket and
updates it from responses. Neither locks: the limiter calls them with its lock held.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from tap_discord.ratelimit.response import DEFAULT_RETRY_AFTER, RateLimitResponse
from tap_discord.ratelimit.routes import Route
from tap_discord.ratelimit.waits import POLL_SECONDS, Wait


@dataclass(eq=False)
class Bucket:
    """What is known about one rate-limit bucket (per bucket hash and major parameter).

    Like discord.py's `http.Ratelimit`, one small object per bucket, updated from each
    response to a request in it. `remaining` is the server's last word; `inflight`
    counts requests reserved since, whose responses have not arrived. A bucket may be
    folded into another when its route's bucket hash is learned (`merged_into`).
    """

    label: str
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    paused_until: float = 0.0
    inflight: int = 0
    learned: bool = False
    merged_into: Bucket | None = None

    def resolve(self) -> Bucket:
        """The live bucket this one has become."""
        bucket = self
        while bucket.merged_into is not None:
            bucket = bucket.merged_into
        return bucket

    def absorb(self, other: Bucket) -> None:
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

    def wait(self, now: float) -> Wait | None:
        """How long the bucket holds a new request back, or None if it may go."""
        if now < self.paused_until:
            return Wait(self.paused_until - now, f"bucket {self.label} (429)")
        self.refresh(now)
        if not self.learned and self.inflight:
            # Nothing is known before the first response: one request finds out alone.
            return Wait(POLL_SECONDS, f"the first response of bucket {self.label}")
        if self.remaining is not None and self.remaining - self.inflight <= 0:
            if self.reset_at is None:
                return Wait(POLL_SECONDS, f"bucket {self.label}")
            return Wait(self.reset_at - now, f"bucket {self.label}")
        return None

    def release(self) -> None:
        """A reserved request was answered or given up: take it out of `inflight`."""
        bucket = self.resolve()
        bucket.inflight = max(0, bucket.inflight - 1)

    def update(
        self, response: RateLimitResponse, now: float, reset_in: float | None, no_reset: float
    ) -> None:
        """Take Limit, Remaining and the reset time from a response's headers.

        `reset_in` is the response's reset, if it named one; a bucket left with nothing
        remaining and no reset time is refreshed after `no_reset` seconds.
        """
        self.learned = True
        limit = response.header_number("limit")
        remaining = response.header_number("remaining")
        if limit is not None:
            self.limit = int(limit)
        if remaining is not None:
            self.remaining = max(0, int(remaining))
        if reset_in is not None:
            self.reset_at = now + reset_in
        elif remaining is not None and self.remaining == 0:
            self.reset_at = now + no_reset


class BucketTable:
    """Every bucket of the run, keyed by bucket hash and major parameter.

    Before a route's first response its bucket is keyed by the route template, so
    nothing is shared by accident; once the hash is known, that early bucket is
    adopted by (or folded into) the hash's bucket.
    """

    def __init__(
        self, *, max_header_wait: float, wall_clock: Callable[[], float], log: logging.Logger
    ) -> None:
        """`max_header_wait` caps every reset time a header gives."""
        self.max_header_wait = max_header_wait
        self._wall_clock = wall_clock
        self._log = log
        self._buckets: dict[str, Bucket] = {}
        self._route_hashes: dict[str, str] = {}
        self._hash_limits: dict[str, int] = {}
        self.route_429s = 0
        self.shared_429s = 0

    def for_route(self, route: Route) -> Bucket:
        """The live bucket of a route, adopting its pre-hash bucket once the hash is known."""
        bucket_hash = self._route_hashes.get(route.template)
        if bucket_hash is None:
            return self._buckets.setdefault(route.key, Bucket(route.label))
        key = f"{bucket_hash}:{route.major}"
        bucket = self._buckets.get(key)
        early = self._buckets.pop(route.key, None)
        if bucket is None:
            bucket = early or Bucket(route.label)
            if not bucket.learned and bucket_hash in self._hash_limits:
                # A major parameter not seen before starts with the hash's known limit.
                bucket.limit = bucket.remaining = self._hash_limits[bucket_hash]
                bucket.learned = True
            self._buckets[key] = bucket
        elif early is not None and early is not bucket:
            bucket.absorb(early)
        return bucket

    def learn(self, route: Route, response: RateLimitResponse, now: float) -> Bucket:
        """Map the route to its `X-RateLimit-Bucket`, update that bucket and return it."""
        bucket_hash = response.bucket_hash
        if bucket_hash:
            self._route_hashes[route.template] = bucket_hash
        bucket = self.for_route(route)
        if response.has_rate_limit_headers or response.status < 400:
            reset_in = response.reset_in(self._wall_clock, self.max_header_wait)
            no_reset = min(DEFAULT_RETRY_AFTER, self.max_header_wait)
            bucket.update(response, now, reset_in, no_reset)
            limit = response.header_number("limit")
            if bucket_hash and limit is not None:
                self._hash_limits[bucket_hash] = int(limit)
        return bucket

    def pause(
        self, route: Route, bucket: Bucket, now: float, seconds: float, *, shared: bool
    ) -> None:
        """A route or shared 429: hold the bucket for `seconds`."""
        if shared:
            self.shared_429s += 1
        else:
            self.route_429s += 1
        bucket.paused_until = max(bucket.paused_until, now + seconds)
        level = logging.WARNING if seconds > self.max_header_wait else logging.INFO
        self._log.log(
            level,
            "Discord answered %s with a %s429: pausing its bucket for %.1f s",
            route.label,
            "shared " if shared else "",
            seconds,
        )
