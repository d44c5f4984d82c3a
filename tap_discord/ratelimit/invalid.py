"""The invalid-request guard: stop the run long before Cloudflare would ban the IP.

Discord restricts an IP that makes too many invalid requests (401, 403 and 429, but
not a 429 of `shared` scope) in 10 minutes:
https://discord.com/developers/docs/topics/rate-limits#invalid-request-limit-aka-cloudflare-bans.
The guard counts them over the same sliding window and trips at
`invalid_request_limit`, far below Discord's threshold.

Not thread-safe by itself: the limiter calls it with its lock held.
"""

from __future__ import annotations

from collections import deque

from tap_discord.ratelimit.response import RateLimitResponse

INVALID_WINDOW_SECONDS = 600.0
"""Discord counts invalid requests (401, 403, 429) per 10 minutes."""

DISCORD_BAN_THRESHOLD = 10_000
"""Invalid requests per window at which Cloudflare bans the IP."""

_INVALID_STATUSES = frozenset({401, 403, 429})


class InvalidRequestGuard:
    """Invalid requests of the last 10 minutes, and whether another may be risked."""

    def __init__(self, limit: int) -> None:
        """Trip at `limit` invalid requests within the window."""
        self.limit = limit
        self.total = 0
        self._window: deque[tuple[float, int]] = deque()  # (clock time, status)

    def count(self, response: RateLimitResponse, now: float) -> bool:
        """Count the response if it is invalid; True when the window has reached the limit."""
        if response.status not in _INVALID_STATUSES:
            return False
        if response.status == 429 and response.scope == "shared" and not response.is_ban:
            return False
        self.total += 1
        self._window.append((now, response.status))
        return self.in_window(now) >= self.limit

    def allows(self, now: float, in_flight: int) -> bool:
        """Whether a request may go without the guard ever counting past its limit.

        Were it and every request in flight refused, the guard would stop the run at
        the limit, not beyond. Why: worker threads send requests at once, and those in
        flight when the limit is reached would all count beyond it.
        """
        return self.in_window(now) + in_flight < self.limit

    def in_window(self, now: float) -> int:
        """Invalid requests counted in the 10 minutes up to `now`."""
        window = self._window
        while window and now - window[0][0] >= INVALID_WINDOW_SECONDS:
            window.popleft()
        return len(window)

    def stop_message(self) -> str:
        """Why the run stopped, which statuses caused it, and what to change."""
        by_status: dict[int, int] = {}
        for _, status in self._window:
            by_status[status] = by_status.get(status, 0) + 1
        counts = ", ".join(f"{n} x {s}" for s, n in sorted(by_status.items()))
        return (
            f"Stopped after {len(self._window)} invalid requests (401/403/429) in "
            f"10 minutes ({counts}) to protect this IP from a Discord/Cloudflare ban (Discord "
            f"bans at {DISCORD_BAN_THRESHOLD:,}): usually the bot lacks permissions on many "
            "channels, so grant them or narrow `guild_ids`/`channel_ids`; if the errors are "
            f"expected, raise `invalid_request_limit` (now {self.limit})"
        )
