"""A request's reservation: its place in its bucket and in the global rate.

`RateLimiter.acquire()` returns one when the request may go; the caller hands it back
with the response (`record_response()`) or without one (`release()`). Used as a
context manager, it is released on leaving the block unless its response was
recorded, so a request that fails never stays counted as in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tap_discord.ratelimit.buckets import Bucket
from tap_discord.ratelimit.routes import Route


@dataclass(eq=False)
class Reservation:
    """One request, from `acquire()` until its response is recorded or it is released.

    `probe` marks the one request allowed out after a ban back-off; `sent` that it has
    left the global queue (it counts in the global window); `done` that its response
    was recorded or it was released.
    """

    route: Route
    bucket: Bucket
    on_exit: Callable[[Reservation], None] = field(repr=False)
    probe: bool = False
    sent: bool = False
    done: bool = False

    def __enter__(self) -> Reservation:
        """The reservation itself."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Release the reservation unless its response was recorded."""
        if not self.done:  # once set it stays set, so reading it unlocked is safe
            self.on_exit(self)
