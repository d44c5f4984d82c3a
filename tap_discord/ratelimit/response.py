"""What a response tells the rate limiter: its `X-RateLimit-*` headers and 429 body.

Discord documents the headers at
https://discord.com/developers/docs/topics/rate-limits#header-format and the 429 body
(`retry_after`, `global`) at
https://discord.com/developers/docs/topics/rate-limits#exceeding-a-rate-limit. A
Cloudflare ban (https://discord.com/developers/docs/topics/rate-limits#invalid-request-limit-aka-cloudflare-bans)
answers with a 429 that has none of those headers, or with an HTML page: what clients
observe, not what the page documents.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

RESET_MARGIN_SECONDS = 0.002
"""Added to every server-given wait: Discord rounds to milliseconds, never send early."""

DEFAULT_RETRY_AFTER = 1.0
"""Pause after a 429 that names no retry time at all."""


@dataclass(frozen=True)
class RateLimitResponse:
    """The parts of a response the limiter reads, normalised once."""

    status: int
    headers: dict[str, str]
    body: dict[str, Any] | None
    body_is_json: bool

    @classmethod
    def parse(
        cls, status: int, headers: Mapping[str, str], body: bytes | None
    ) -> RateLimitResponse:
        """Lower-case the header names and decode a JSON object body, if there is one."""
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        parsed: Any = None
        is_json = False
        if body:
            try:
                parsed = json.loads(body)
                is_json = True
            except ValueError:
                parsed = None
        return cls(status, lowered, parsed if isinstance(parsed, dict) else None, is_json)

    @property
    def has_rate_limit_headers(self) -> bool:
        return any(k.startswith("x-ratelimit-") for k in self.headers)

    @property
    def bucket_hash(self) -> str:
        """`X-RateLimit-Bucket`, or empty when the route sent none."""
        return self.headers.get("x-ratelimit-bucket", "").strip()

    @property
    def scope(self) -> str:
        return self.headers.get("x-ratelimit-scope", "").strip().lower()

    @property
    def is_ban(self) -> bool:
        """Cloudflare's ban: a 429 without rate-limit headers, or not in JSON."""
        return self.status == 429 and (not self.body_is_json or not self.has_rate_limit_headers)

    @property
    def is_global(self) -> bool:
        flag = self.headers.get("x-ratelimit-global", "").strip().lower() == "true"
        return bool(self.body and self.body.get("global") is True) or flag or self.scope == "global"

    def retry_after(self) -> float | None:
        """Seconds to pause after a 429: the body's float wins over the rounded header."""
        value = _number(self.body.get("retry_after")) if self.body else None
        if value is None:
            value = _number(self.headers.get("retry-after"))
        return None if value is None else max(0.0, value)

    def pause_after_429(self, wall_clock: Callable[[], float], cap: float) -> float:
        """Seconds a 429 pauses for: `retry_after`, else the bucket's reset, else a default."""
        retry_after = self.retry_after()
        if retry_after is None:
            return self.reset_in(wall_clock, cap) or DEFAULT_RETRY_AFTER
        return retry_after + RESET_MARGIN_SECONDS

    def reset_in(self, wall_clock: Callable[[], float], cap: float) -> float | None:
        """Seconds until the bucket resets, capped at `cap`.

        `Reset-After` when sent; else the absolute `Reset`, read against `wall_clock`.
        """
        reset_after = self.header_number("reset-after")
        if reset_after is None:
            reset = self.header_number("reset")
            if reset is None:
                return None
            reset_after = reset - wall_clock()
        return min(max(0.0, reset_after) + RESET_MARGIN_SECONDS, cap)

    def header_number(self, name: str) -> float | None:
        """`X-RateLimit-<name>` as a number, or None when missing or not a number."""
        return _number(self.headers.get(f"x-ratelimit-{name}"))


def _number(value: object) -> float | None:
    """A finite float from a header or JSON value, or None."""
    if value is None or isinstance(value, bool):
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None
