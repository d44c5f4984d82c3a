"""Progress lines: what a long run is doing, at INFO about every 30 seconds.

A backfill of a large server runs for an hour or more; these lines say how far it is:
the stream and guild being read, records so far and their rate, and for messages the
channels and threads done of the total, how much of their history is read, and
where the channel being written has got to. Each channel's reading runs from its start
cursor to the `last_message_id` it had when listed, and both are snowflakes, i.e.
instants: the time between them is the history to read, and the channel's bookmark says
how much of it is done.

Main thread only: the lines are made by the thread that writes the records (the writer
calls `tick` every `TICK_RECORDS` records, and the tap before each wait), and `tick`
does nothing on any other thread. The interval comes from `TAP_DISCORD_PROGRESS_SECONDS`
(tests shorten it).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import typing as t
from collections.abc import Callable, Mapping

from tap_discord.snowflake import datetime_from_snowflake

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

INTERVAL_ENV = "TAP_DISCORD_PROGRESS_SECONDS"
DEFAULT_INTERVAL_SECONDS = 30.0
#: The writer calls `tick` after this many records (a clock read per record costs more).
TICK_RECORDS = 500


def interval_from_env() -> float:
    """Seconds between progress lines: `TAP_DISCORD_PROGRESS_SECONDS`, else 30."""
    raw = os.environ.get(INTERVAL_ENV, "")
    try:
        value = float(raw)
    except ValueError:
        return DEFAULT_INTERVAL_SECONDS
    return value if value > 0 else DEFAULT_INTERVAL_SECONDS


def snowflake_ms(value: str | int) -> int:
    """Milliseconds since Discord's epoch encoded in a snowflake."""
    return int(value) >> 22


class MessageHistory:
    """How far the messages stream has read a guild's channels and threads, in time.

    `plan`: the read contexts in reading order (`channel_id`, `after`, `until`); the
    stream may extend it (threads are listed while channels are read). `bookmarks`: the
    guild's `{channel id: last emitted message id}` map, which moves with each record.
    """

    def __init__(self, plan: list[Context], bookmarks: Mapping[str, str]) -> None:
        """Nothing read yet."""
        self._plan = plan
        self._bookmarks = bookmarks
        self.done = 0

    def at(self, index: int) -> None:
        """The targets before `index` are written; `index` is being read."""
        self.done = index

    def span_ms(self) -> tuple[int, int]:
        """(history read, history to read in all), in milliseconds."""
        read = total = 0
        for index, target in enumerate(self._plan):
            start = max(snowflake_ms(target["after"]), snowflake_ms(target["channel_id"]))
            end = snowflake_ms(target["until"]) if target.get("until") else start
            span = max(0, end - start)
            total += span
            if index < self.done:
                read += span
            elif index == self.done:
                bookmark = self._bookmarks.get(str(target["channel_id"]))
                if bookmark is not None:
                    read += min(span, max(0, snowflake_ms(bookmark) - start))
        return read, total

    def describe(self) -> str:
        """'12 of 40 channels and threads done; history 61 % read (channel 1 at 2019-03-02)'.

        The share is of the history of all channels and threads together, by time, as
        far as it is written. No time left is guessed from it: worker threads read the
        later channels ahead of the output, so the written share lags what is read.
        """
        read, total = self.span_ms()
        text = f"{self.done} of {len(self._plan)} channels and threads done"
        if total <= 0:
            return text
        return f"{text}; history {100 * read / total:.0f} % read{self._position()}"

    def _position(self) -> str:
        """' (channel 123 at 2019-03-02)': where the channel being written has got to."""
        if self.done >= len(self._plan):
            return ""
        channel_id = str(self._plan[self.done]["channel_id"])
        bookmark = self._bookmarks.get(channel_id)
        if bookmark is None:
            return f" (channel {channel_id} starting)"
        day = datetime_from_snowflake(bookmark).date().isoformat()
        return f" (channel {channel_id} at {day})"


class Progress:
    """Logs a progress line when `tick` is called and the interval has passed."""

    def __init__(
        self,
        logger: logging.Logger,
        records: Mapping[str, int],
        last_stream: Callable[[], str | None] = lambda: None,
        *,
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`records`: records written so far per stream (the writer's counter).

        `last_stream`: the stream of the last record written; a stream that did not
        call `begin` is named from it.
        """
        self._log = logger
        self._records = records
        self._last_stream = last_stream
        self._interval = interval_from_env() if interval is None else interval
        self._clock = clock
        self._owner = threading.get_ident()
        self._next = clock() + self._interval
        self._stream: str | None = None
        self._guild: str | None = None
        self._since = clock()
        self._records_before = 0
        self._before: dict[str, int] = {}
        self.history: MessageHistory | None = None

    def begin(self, stream: str, context: Context | None) -> None:
        """A stream starts reading a context (a guild, or the whole stream)."""
        self._stream = stream
        self._guild = str(context["guild_id"]) if context and "guild_id" in context else None
        self._since = self._clock()
        self._before = dict(self._records)
        self._records_before = self._records.get(stream, 0)
        self.history = None

    def tick(self) -> None:
        """Log a line if the interval has passed (main thread; elsewhere nothing)."""
        if threading.get_ident() != self._owner:
            return
        now = self._clock()
        if now < self._next:
            return
        self._next = now + self._interval
        self._follow_writer()
        if self._stream is not None:
            self._log.info("Progress: %s", self.line(now))

    def _follow_writer(self) -> None:
        """Name the stream writing records now, if it is not the one that began last."""
        last = self._last_stream()
        if last is None or last == self._stream:
            return
        before = self._before.get(last, 0)
        if self._stream is None or self._records.get(last, 0) > before:
            self.begin(last, None)
            self._records_before = before  # its records since the last `begin`

    def line(self, now: float) -> str:
        """'messages, guild 1: 12 of 40 channels ..., 24,000 records (1,150/s)'."""
        stream = self._stream or "?"
        records = self._records.get(stream, 0) - self._records_before
        elapsed = max(now - self._since, 1e-9)
        where = f"{stream}, guild {self._guild}" if self._guild else stream
        text = f"{where}: {records:,} records ({records / elapsed:,.0f}/s)"
        if self.history is not None:
            text += f", {self.history.describe()}"
        return text
