"""Rate limits as Discord applies them: route buckets, global, bans.

Rules: https://discord.com/developers/docs/topics/rate-limits; sizes and bans:
docs/discord-behaviour.md#rate-limits.

Route buckets are sliding windows counted per (route, major parameter) and named
by an opaque 32-hex hash that is the same for every channel or guild. The global
limit counts every request of one token. Invalid requests (401, 403, non-shared
429) can earn a Cloudflare-style ban. All windows are multiplied by
`settings.time_scale`, so tests can run the real rules ten or twenty times faster.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.emulator.core import Settings

Headers = list[tuple[str, str]]

INVALID_WINDOW_SECONDS = 600.0
"""Discord bans an IP after too many invalid requests within 10 minutes."""

OFF_MODE_LIMIT = 10_000
"""Bucket size advertised when limits are off: large, so clients never wait."""


def bucket_hash(route_name: str) -> str:
    """The opaque bucket id of a route (same across every channel or guild)."""
    return hashlib.md5(f"tap-discord-emulator/{route_name}".encode()).hexdigest()


@dataclass
class RouteVerdict:
    """Headers to send and, when over the limit, how long to wait."""

    headers: Headers
    retry_after: float | None = None
    scope: str = "user"


class SlidingWindows:
    """Request times per key, within a sliding window."""

    def __init__(self) -> None:
        """Empty; keys appear on first use."""
        self.hits: dict[object, deque[float]] = {}

    def prune(self, key: object, now: float, window: float) -> deque[float]:
        """The key's times that are still inside the window."""
        hits = self.hits.setdefault(key, deque())
        while hits and hits[0] <= now - window:
            hits.popleft()
        return hits


class RateLimits:
    """Route buckets, the global limit and the invalid-request ban, in one lock."""

    def __init__(self, settings: Settings) -> None:
        """Counters start empty."""
        self.settings = settings
        self.lock = threading.Lock()
        self.routes = SlidingWindows()
        self.shared = SlidingWindows()
        self.globals = SlidingWindows()
        self.invalid: deque[float] = deque()
        self.banned_until = 0.0

    def reset(self) -> None:
        """Forget every window and any ban (tests start clean)."""
        with self.lock:
            self.routes = SlidingWindows()
            self.shared = SlidingWindows()
            self.globals = SlidingWindows()
            self.invalid.clear()
            self.banned_until = 0.0

    # route buckets --------------------------------------------------------------------

    def route(
        self, name: str, major: str, limit: int, window: float, caller: str = ""
    ) -> RouteVerdict:
        """Count one request on a route bucket and say whether it may pass.

        Buckets are per caller (the bot, or one OAuth2 user) and major parameter.
        """
        settings = self.settings
        override = settings.route_limits.get(name)
        if override:
            limit, window = int(override[0]), float(override[1])
        window *= settings.time_scale
        now = time.monotonic()
        bucket = bucket_hash(name)
        if settings.rate_limits != "real":
            return RouteVerdict(_route_headers(OFF_MODE_LIMIT, OFF_MODE_LIMIT - 1, window, bucket))
        with self.lock:
            hits = self.routes.prune((caller, name, major), now, window)
            if len(hits) >= limit:
                wait = hits[0] + window - now
                return RouteVerdict(_route_headers(limit, 0, wait, bucket), retry_after=wait)
            hits.append(now)
            reset_after = hits[0] + window - now
            remaining = limit - len(hits)
        return RouteVerdict(_route_headers(limit, remaining, reset_after, bucket))

    def shared_limit(self, name: str, major: str) -> float | None:
        """A per-resource limit every user shares (`settings.shared_limits`)."""
        spec = self.settings.shared_limits.get(name)
        if not spec or self.settings.rate_limits != "real":
            return None
        limit, window = int(spec[0]), float(spec[1]) * self.settings.time_scale
        now = time.monotonic()
        with self.lock:
            hits = self.shared.prune((name, major), now, window)
            if len(hits) >= limit:
                return hits[0] + window - now
            hits.append(now)
        return None

    # global ---------------------------------------------------------------------------

    def global_limit(self, token_key: str) -> float | None:
        """Count one request of a token; the wait if it is over 50 per second."""
        settings = self.settings
        if settings.rate_limits != "real":
            return None
        window = 1.0 * settings.time_scale
        now = time.monotonic()
        with self.lock:
            hits = self.globals.prune(token_key, now, window)
            if len(hits) >= settings.global_limit:
                return hits[0] + window - now
            hits.append(now)
        return None

    # bans -----------------------------------------------------------------------------

    def banned(self) -> bool:
        """Whether requests are being refused as by Cloudflare (forced or earned)."""
        if self.settings.ban:
            return True
        return time.monotonic() < self.banned_until

    def note_invalid(self) -> None:
        """Count a 401/403/non-shared 429; ban once `ban_after_invalid` is reached."""
        threshold = self.settings.ban_after_invalid
        scale = self.settings.time_scale
        now = time.monotonic()
        with self.lock:
            self.invalid.append(now)
            while self.invalid and self.invalid[0] <= now - INVALID_WINDOW_SECONDS * scale:
                self.invalid.popleft()
            if threshold and len(self.invalid) >= threshold:
                self.banned_until = now + self.settings.ban_seconds * scale
                self.invalid.clear()


def _route_headers(limit: int, remaining: int, reset_after: float, bucket: str) -> Headers:
    """The five X-RateLimit-* headers of a normal response."""
    reset_after = max(0.0, reset_after)
    return [
        ("X-RateLimit-Limit", str(limit)),
        ("X-RateLimit-Remaining", str(remaining)),
        ("X-RateLimit-Reset", f"{time.time() + reset_after:.3f}"),
        ("X-RateLimit-Reset-After", f"{reset_after:.3f}"),
        ("X-RateLimit-Bucket", bucket),
    ]


def route_headers(limit: int, remaining: int, reset_after: float, name: str) -> Headers:
    """Route headers for a route by name (used by injected 429s)."""
    return _route_headers(limit, remaining, reset_after, bucket_hash(name))


def retry_after_value(seconds: float) -> float:
    """`retry_after` as Discord prints it: seconds, 3 decimals, never zero."""
    return max(0.001, round(seconds, 3))


def retry_after_header(seconds: float) -> str:
    """The `Retry-After` header: the body value rounded up to whole seconds."""
    return str(max(1, math.ceil(seconds)))
