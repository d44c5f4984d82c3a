"""Injected faults and Cloudflare-style pages (docs/discord-behaviour.md#what-a-ban-looks-like).

Which request gets a fault is a pure function of `settings.fault_seed` and the
request's number, so a failing test replays exactly. Faults are decided before a
request is processed, so a faulted request never changes any state.
"""

from __future__ import annotations

import random
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.emulator.core import Settings

FAULT_KINDS = (
    "5xx_json",
    "5xx_html",
    "drop",
    "slow",
    "truncated_json",
    "html_200",
    "route_429",
    "global_429",
    "shared_429",
)

JSON_5XX = (
    (500, "500: Internal Server Error"),
    (502, "502: Bad Gateway"),
    (503, "503: Service Unavailable"),
    (504, "504: Gateway Timeout"),
)
HTML_5XX = (
    (502, "Bad gateway"),
    (503, "Service unavailable"),
    (504, "Gateway time-out"),
    (520, "Web server is returning an unknown error"),
    (522, "Connection timed out"),
    (524, "A timeout occurred"),
)

BAN_JSON = {
    "code": 0,
    "message": (
        "You are being blocked from accessing our API temporarily due to exceeding our "
        "rate limits frequently. Please read our docs at "
        "https://discord.com/developers/docs/topics/rate-limits to prevent this moving "
        "forward."
    ),
}


class FaultPlan:
    """Numbers /api requests and decides, per number, whether to inject a fault."""

    def __init__(self) -> None:
        """No request seen yet."""
        self.lock = threading.Lock()
        self.number = 0
        self.served = 0

    def reset(self) -> None:
        """Start numbering again (with `Emulator.reset_requests`)."""
        with self.lock:
            self.number = 0
            self.served = 0

    def decide(self, settings: Settings) -> tuple[str | None, int]:
        """(fault kind or None, request number) for the next request."""
        with self.lock:
            number = self.number
            self.number += 1
            faults = settings.faults
            if not faults or self.served >= settings.max_faults:
                return None, number
            roll = random.Random(settings.fault_seed * 1_000_003 + number).random()
            total = 0.0
            for kind in FAULT_KINDS:
                total += float(faults.get(kind, 0.0))
                if roll < total:
                    self.served += 1
                    return kind, number
        return None, number


def cloudflare_page(status: int, title: str, code: int | None = None) -> bytes:
    """A Cloudflare-style HTML error page (what a proxy in front of Discord sends)."""
    detail = f"error code: {code}" if code is not None else f"Error {status}"
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>discord.com | {status}: {title}</title></head>\n"
        f"<body><h1>{title}</h1><p>{detail}</p>"
        "<p>Cloudflare Ray ID: 8f0e3c1b2a4d5e6f</p></body></html>\n"
    ).encode()


def ban_html() -> bytes:
    """Cloudflare's 1015 page ("You are being rate limited")."""
    return (
        b'<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        b"<title>Access denied | discord.com used Cloudflare to restrict access</title>"
        b"</head>\n<body><h1>Error 1015</h1><h2>You are being rate limited</h2>"
        b"<p>The owner of this website (discord.com) has banned you temporarily from "
        b"accessing this website.</p><p>error code: 1015</p></body></html>\n"
    )


def html_200_page() -> bytes:
    """A 200 that is not JSON at all (a captive portal or a CDN challenge page)."""
    return (
        b"<!DOCTYPE html>\n<html><head><title>Just a moment...</title></head>"
        b"<body><noscript>Enable JavaScript and cookies to continue</noscript></body>"
        b"</html>\n"
    )
