"""Discord rate limits: the only place in the tap that knows about them.

Every request of a run goes through one `RateLimiter` (mounted on each session with
`RateLimitedAdapter`). Discord's rules are described at
https://discord.com/developers/docs/topics/rate-limits; each has its own module:

* `routes.py`: which route and major parameter (channel, guild, webhook) a request
  URL falls under, the key of its per-route limit;
* `buckets.py`: per-route buckets learned from the `X-RateLimit-*` headers, one
  `Bucket` per bucket hash and major parameter;
* `pacing.py`: the global rate (`max_requests_per_second`, Discord's 50 per second),
  global 429 pauses, and the order of prioritized threads;
* `ban.py`: one long back-off after a suspected Cloudflare ban, then one probe;
* `invalid.py`: the guard that counts 401/403/429 over 10 minutes and stops the run
  at `invalid_request_limit`, long before Discord's ban threshold.

`limiter.py` is the coordinator the adapter (`adapter.py`) calls: `acquire()` returns
a `Reservation` (`reservation.py`), handed back with the response. `response.py` reads
a response's headers and 429 body once for all policies; `waits.py` sleeps and logs
the waits; `stats.py` is the snapshot of what the limiter has seen.
"""

from tap_discord.ratelimit.adapter import RateLimitedAdapter
from tap_discord.ratelimit.limiter import RateLimiter
from tap_discord.ratelimit.reservation import Reservation
from tap_discord.ratelimit.routes import Route, parse_route
from tap_discord.ratelimit.stats import RateLimitStats

__all__ = [
    "RateLimitStats",
    "RateLimitedAdapter",
    "RateLimiter",
    "Reservation",
    "Route",
    "parse_route",
]
