"""The requests side of the limiter: an adapter that sends every request through it."""

from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter
from typing_extensions import override

from tap_discord.ratelimit.limiter import RateLimiter


class RateLimitedAdapter(HTTPAdapter):
    """Mounted on every session the tap uses: acquire() before send, record after.

    The body is read only for 429 responses (to tell a real 429 from a Cloudflare ban
    and to read `retry_after`), so streamed responses stay streamed.
    """

    def __init__(self, limiter: RateLimiter, **kwargs: Any) -> None:
        """Wrap a standard adapter; `kwargs` go to `HTTPAdapter` (pool sizes, ...)."""
        super().__init__(**kwargs)
        self.limiter = limiter

    @override
    def send(
        self, request: requests.PreparedRequest, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send one request through the limiter."""
        method = request.method or "GET"
        with self.limiter.acquire(method, request.url or "") as reservation:
            response = super().send(request, *args, **kwargs)
            body = response.content if response.status_code == 429 else None
            self.limiter.record_response(reservation, response.status_code, response.headers, body)
        return response
