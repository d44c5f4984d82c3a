"""Discord snowflakes: conversions between ids, instants and `start_date`.

Discord ids are 64-bit integers sent as JSON strings. They must be compared as
integers: a string compare puts "999..." (18 digits) above "1000..." (19 digits).
"""

from __future__ import annotations

import datetime as dt
import re
import typing as t

import pendulum

DISCORD_EPOCH_MS = 1_420_070_400_000
"""2015-01-01T00:00:00Z, the zero of Discord's 42-bit timestamp."""

_SNOWFLAKE_RE = re.compile(r"^[0-9]{1,20}$")
MAX_SNOWFLAKE = (1 << 63) - 1


def is_snowflake(value: object) -> bool:
    """Tell whether a value is a decimal snowflake string or a non-negative int."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return 0 <= value <= MAX_SNOWFLAKE
    return (
        isinstance(value, str) and bool(_SNOWFLAKE_RE.match(value)) and int(value) <= MAX_SNOWFLAKE
    )


def by_id(item: dict[str, t.Any]) -> int:
    """Sort key of Discord objects: their snowflake `id`, as an integer."""
    return int(item["id"])


def max_snowflake(a: str | int | None, b: str | int | None) -> str | None:
    """Return the larger of two snowflakes (as a string), ignoring None."""
    if a is None:
        return None if b is None else str(b)
    if b is None:
        return str(a)
    return str(a) if int(a) >= int(b) else str(b)


def snowflake_from_datetime(moment: dt.datetime) -> int:
    """Return the smallest snowflake created at `moment` (worker bits zero)."""
    unix_ms = int(moment.timestamp() * 1000)
    return max(0, (unix_ms - DISCORD_EPOCH_MS) << 22)


def datetime_from_snowflake(value: str | int) -> dt.datetime:
    """Return the UTC instant encoded in a snowflake."""
    unix_ms = (int(value) >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(unix_ms / 1000, tz=dt.timezone.utc)


def after_cursor_for(moment: dt.datetime) -> int:
    """Return the `after` cursor that includes everything created at or after `moment`.

    `after` is exclusive, so the cursor is one below the first possible id of that
    millisecond.
    """
    return max(0, snowflake_from_datetime(moment) - 1)


def parse_start_date(value: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """Parse `start_date`: an ISO 8601 date, datetime, or duration meaning "that long ago".

    Raises ValueError with a short reason when the value is none of those.
    """
    text = value.strip()
    if not text:
        raise ValueError("it is empty")
    try:
        parsed = pendulum.parse(text, strict=True)
    except (ValueError, pendulum.parsing.exceptions.ParserError) as exc:
        raise ValueError("it is not an ISO 8601 date, datetime or duration") from exc
    if isinstance(parsed, pendulum.Duration):
        reference = pendulum.instance(now) if now else pendulum.now("UTC")
        return _to_utc(reference - parsed)
    if isinstance(parsed, pendulum.DateTime):
        return _to_utc(parsed)
    if isinstance(parsed, pendulum.Date):
        return dt.datetime(parsed.year, parsed.month, parsed.day, tzinfo=dt.timezone.utc)
    raise ValueError("it is not an ISO 8601 date, datetime or duration")


def _to_utc(moment: dt.datetime) -> dt.datetime:
    """Return an aware UTC datetime; naive values are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.fromtimestamp(moment.timestamp(), tz=dt.timezone.utc)


def parse_duration(value: str) -> dt.timedelta:
    """Parse an ISO 8601 duration such as `P7D` or `PT12H` into a timedelta."""
    try:
        parsed = pendulum.parse(value.strip(), strict=True)
    except (ValueError, pendulum.parsing.exceptions.ParserError) as exc:
        raise ValueError("it is not an ISO 8601 duration such as P7D") from exc
    if not isinstance(parsed, pendulum.Duration):
        raise ValueError("it is not an ISO 8601 duration such as P7D")
    return dt.timedelta(seconds=parsed.total_seconds())


def lookback_cursor(bookmark: int, lookback: dt.timedelta | None, floor: int = 0) -> int:
    """The `after` cursor that re-reads the `lookback` before a bookmark, never past it.

    The window is measured back from the bookmark's own timestamp, so every message is
    read again by the run after the one that first emitted it if it is within
    `lookback` of the newest message then. `floor` (the `start_date` cursor) is never
    crossed: a lookback does not read older than the user asked for.
    """
    if not lookback:
        return bookmark
    window_start = after_cursor_for(datetime_from_snowflake(bookmark) - lookback)
    return min(bookmark, max(floor, window_start))
