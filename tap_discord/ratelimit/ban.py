"""The ban back-off: one long pause after a suspected Cloudflare ban, then one probe.

An IP that makes too many invalid requests is banned for a while:
https://discord.com/developers/docs/topics/rate-limits#invalid-request-limit-aka-cloudflare-bans.
Every request sent during a ban is one more invalid request, so the first ban response
pauses every request for `ban_backoff_seconds`; then a single request (the probe)
goes. If Discord answers it, the run resumes; if the probe is banned too, the run
stops.

Not thread-safe by itself: the limiter calls it with its lock held.
"""

from __future__ import annotations

import logging

from tap_discord.ratelimit.reservation import Reservation
from tap_discord.ratelimit.waits import POLL_SECONDS, Wait


class BanBackoff:
    """Whether a ban back-off is on, and the one probe request that may end it."""

    def __init__(self, backoff_seconds: float, log: logging.Logger) -> None:
        """Pause `backoff_seconds` after the first ban response."""
        self.backoff_seconds = backoff_seconds
        self._log = log
        self.until: float | None = None  # end of the back-off, None while not banned
        self._probe_out = False
        self.responses = 0

    def wait(self, now: float, *, probing: bool) -> Wait | None:
        """How long the back-off holds a request (the probe's own, when `probing`)."""
        if self.until is None:
            return None
        if now < self.until:
            return Wait(self.until - now, "a suspected Cloudflare ban to pass")
        if self._probe_out and not probing:
            return Wait(POLL_SECONDS, "the probe request after a ban back-off")
        return None

    def claim_probe(self, reservation: Reservation) -> None:
        """After a back-off, the first request to go is the one probe."""
        if self.until is not None and not reservation.probe:
            reservation.probe = True
            self._probe_out = True

    def probe_lost(self, reservation: Reservation) -> None:
        """A request got no response: if it was the probe, another may go."""
        if reservation.probe:
            self._probe_out = False

    def on_ban(self, reservation: Reservation, now: float) -> bool:
        """Count a ban response; True when it answers the probe, so the run must stop.

        The first starts the back-off; those of requests already in flight then are
        part of the same episode.
        """
        self.responses += 1
        if self.until is None:
            self.until = now + self.backoff_seconds
            self._log.warning(
                "Discord/Cloudflare answered with a ban response (429 without rate-limit "
                "headers): pausing all requests for %.0f s, then trying one request",
                self.backoff_seconds,
            )
            return False
        if not reservation.probe:
            return False
        self._probe_out = False
        return True

    def on_answer(self, reservation: Reservation) -> None:
        """A real answer to the probe lifts the ban suspicion."""
        if self.until is not None and reservation.probe:
            self.until = None
            self._probe_out = False
            self._log.info("Discord answers normally again after the ban back-off; resuming")

    def stop_message(self, invalid_total: int, invalid_in_window: int) -> str:
        """Why the run stopped after a banned probe, and what to do."""
        return (
            "Discord/Cloudflare has temporarily banned this IP for too many invalid requests "
            f"(still banned after a {self.backoff_seconds:.0f} s pause; this run made "
            f"{invalid_total} invalid requests, {invalid_in_window} in the last 10 minutes): "
            "wait about 1 hour before running the tap again, and check that no other "
            "program on this IP is hammering Discord"
        )
