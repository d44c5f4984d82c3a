"""What the limiter has seen in a run, as one snapshot (`RateLimiter.stats`)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    #: Responses by HTTP status (`"200"`, `"429"`, ...); `"none"`: sent, no response
    #: came (timeout, dropped connection).
    by_status: dict[str, int] = field(default_factory=dict)
