"""Snowflakes and timestamps exactly as Discord encodes them.

https://discord.com/developers/docs/reference#snowflakes

Every id the emulator hands out is a real snowflake, so a tap that turns a date
into an `after` cursor selects the same rows here as on Discord.
"""

from __future__ import annotations

import datetime as dt
import re
import time

DISCORD_EPOCH_MS = 1_420_070_400_000
"""2015-01-01T00:00:00Z: the zero of the 42-bit timestamp in every id."""

MAX_SNOWFLAKE = (1 << 63) - 1
"""Largest value Discord accepts for a snowflake query parameter."""

NINETEEN_DIGITS = 10**18
"""The first 19-digit id; ids created from mid-2022 on are at least this big."""

_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?$"
)


def make_snowflake(unix_ms: int, worker: int = 0, process: int = 0, increment: int = 0) -> int:
    """Compose an id the way Discord does: time, worker, process, increment."""
    stamp = max(0, unix_ms - DISCORD_EPOCH_MS)
    return (stamp << 22) | ((worker & 31) << 17) | ((process & 31) << 12) | (increment & 0xFFF)


def snowflake_ms(snowflake: int | str) -> int:
    """Unix milliseconds encoded in an id."""
    return (int(snowflake) >> 22) + DISCORD_EPOCH_MS


def iso_from_ms(unix_ms: int) -> str:
    """Discord's timestamp text: `2017-07-11T17:27:07.299000+00:00` (ms precision)."""
    day, rest = divmod(unix_ms, 86_400_000)
    date = _DAY_CACHE.get(day)
    if date is None:
        t = time.gmtime(day * 86_400)
        date = _DAY_CACHE[day] = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T"
    seconds, millis = divmod(rest, 1000)
    minutes, second = divmod(seconds, 60)
    hour, minute = divmod(minutes, 60)
    return f"{date}{hour:02d}:{minute:02d}:{second:02d}.{millis:03d}000+00:00"


_DAY_CACHE: dict[int, str] = {}
"""Date prefixes by day number: formatting dates dominated timestamp cost."""


def iso_of(snowflake: int | str) -> str:
    """The creation timestamp of an id, as Discord prints it."""
    return iso_from_ms(snowflake_ms(snowflake))


def ms_from_iso(text: str) -> int | None:
    """Parse an ISO 8601 instant (as a tap may send it in `before`); None if not one."""
    match = _ISO_RE.match(text.strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = dt.datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0)
        )
    except ValueError:
        return None
    offset = _zone_offset(zone)
    micros = int((fraction or "0").ljust(6, "0")[:6])
    moment = moment.replace(tzinfo=dt.timezone.utc, microsecond=micros) - offset
    return int(moment.timestamp() * 1000)


def _zone_offset(zone: str | None) -> dt.timedelta:
    """Offset of a `Z` / `+hh:mm` suffix; no suffix means UTC."""
    if not zone or zone == "Z":
        return dt.timedelta(0)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))


def ms_of_date(year: int, month: int, day: int) -> int:
    """Unix ms of midnight UTC on a date (world timelines are laid out in dates)."""
    return int(dt.datetime(year, month, day, tzinfo=dt.timezone.utc).timestamp() * 1000)


def now_ms() -> int:
    """Wall-clock unix milliseconds."""
    return time.time_ns() // 1_000_000
