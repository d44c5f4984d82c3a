"""Id allocation and timeline helpers for world generation.

Objects other than messages take ids from one allocator (worker 31, process 31);
each message-bearing channel gets its own (worker, process) pair, so ids never
collide and always encode the instant the object was created.
"""

from __future__ import annotations

from array import array

from tests.emulator.snowflakes import DISCORD_EPOCH_MS, make_snowflake

MAX_LOG_ORDINAL = 1022
"""(worker, process) pairs 0..1022 go to message logs; 1023 is the object allocator."""


class IdAllocator:
    """Snowflakes for guilds, channels, users, roles, ... (never messages)."""

    def __init__(self) -> None:
        """Start with increment 0."""
        self.counter = 0

    def at(self, unix_ms: int) -> str:
        """A fresh id created at `unix_ms`, as a decimal string."""
        self.counter += 1
        return str(make_snowflake(unix_ms, 31, 31, self.counter))


def spread_ids(start_ms: int, end_ms: int, count: int, ordinal: int, salt: int = 0) -> array[int]:
    """`count` ascending message ids spread over [start_ms, end_ms), with jitter.

    The ids are strictly increasing (ties in the millisecond are broken by the
    increment bits) and each encodes its own instant, as real message ids do.
    """
    if count <= 0:
        return array("q")
    span = max(1, end_ms - start_ms)
    step = span // count
    bits = ((ordinal % 32) << 17) | (((ordinal // 32) % 32) << 12)
    base = start_ms - DISCORD_EPOCH_MS
    mix = (salt * 2654435761 + 97) & 0xFFFFFFFF
    if step <= 1:
        values = (((base + (i * span) // count) << 22) | bits | (i & 0xFFF) for i in range(count))
    else:
        values = (
            ((base + (i * span) // count + ((i * 2654435761 + mix) & 0xFFFFFFFF) % step) << 22)
            | bits
            | (i & 0xFFF)
            for i in range(count)
        )
    return array("q", values)
