"""Discord rate limits: the only place in the tap that knows about them."""

from tap_discord.ratelimit.adapter import RateLimitedAdapter
from tap_discord.ratelimit.limiter import RateLimiter, RateLimitStats
from tap_discord.ratelimit.routes import Route, parse_route

__all__ = ["RateLimitStats", "RateLimitedAdapter", "RateLimiter", "Route", "parse_route"]
