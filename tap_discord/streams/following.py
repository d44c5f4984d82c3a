"""The base of the streams that follow messages: `pins`, `message_reactions`, `poll_votes`.

They re-read only what the run's messages say changed (`observed.py`), so a table
version cannot mark their removed rows deleted: they emit tombstones
(`tombstones.py`), and report INCREMENTAL so that no `ACTIVATE_VERSION` soft-deletes
the rows a run did not re-read. What they must remember between runs lives in maps of
their own in the guild's state partition (one partition per guild, like `messages`),
with the bound each stream's docstring states; the SDK keeps no bookmark for them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import typing as t
from functools import cached_property

from typing_extensions import override

from tap_discord.errors import ResourceSkippedError
from tap_discord.prefetch import DRAINED_LANE_PAGES, Prefetcher
from tap_discord.sdkcontract import utc_now
from tap_discord.streams.guilds import GuildChildStream
from tap_discord.tombstones import tombstone

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_discord.observed import MessageObservations
    from tap_discord.streams.messages import MessagesStream

#: The streams that follow messages (the tap collects observations when one is selected).
MESSAGE_FOLLOWER_STREAMS = ("pins", "message_reactions", "poll_votes")


class MessageFollowerStream(GuildChildStream):
    """A guild stream that re-reads what this run's messages say changed."""

    #: Whether the stream learns what to read from the messages stream only.
    needs_messages = True

    @property
    @override
    def replication_method(self) -> str:
        """INCREMENTAL: a run re-reads part of the stream, so no table version applies."""
        return "INCREMENTAL"

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, t.Any], *, context: Context | None = None
    ) -> None:
        """No SDK bookmark: the stream's own maps in the guild partition say what was read.

        A private SDK hook (see sdkcontract.py); the SDK's would demand a replication key.
        """

    @property
    def observations(self) -> MessageObservations:
        """What this run's messages showed."""
        return self.discord_tap.message_observations

    @property
    def messages_stream(self) -> MessagesStream:
        """The tap's messages stream (its channel rules and Message Content check)."""
        from tap_discord.streams.messages import MessagesStream

        stream = self.discord_tap.streams["messages"]
        if not isinstance(stream, MessagesStream):  # pragma: no cover - wiring error
            msg = "the messages stream is missing"
            raise TypeError(msg)
        return stream

    @cached_property
    def found_gone_at(self) -> dt.datetime:
        """When this run started looking: the `_sdc_deleted_at` of its tombstones."""
        return utc_now()

    def tombstone(self, key: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """The record that marks the row with this key (and parent ids) deleted."""
        return tombstone(key, self.found_gone_at)

    def messages_read(self, guild_id: str) -> bool:
        """Whether this run's messages of the guild were read; one warning if never.

        The stream learns what changed from the messages stream's reads: without it
        selected, nothing new is found (work carried over from earlier runs still is).
        """
        if self.observations.messages_read(guild_id):
            return True
        if not self._warned_no_messages:
            self._warned_no_messages = True
            self.logger.warning(
                "Skipping new %s: it follows the messages this run reads, and the "
                "messages stream is not selected; select messages too.",
                self.name,
            )
        return False

    _warned_no_messages = False

    def next_window_start(self, context: Context | None) -> t.Callable[[str], int | None]:
        """Per channel, the `after` the next run's messages read will start from.

        A message at or below it is never read again, so nothing learned from it needs
        keeping: the maps hold only messages inside that window. None: the channel has
        no bookmark (not read yet).
        """
        from tap_discord.streams.messages import BOOKMARKS_KEY

        messages = self.messages_stream
        bookmarks = messages.get_context_state(context).get(BOOKMARKS_KEY) or {}

        def start(channel_id: str) -> int | None:
            bookmark = bookmarks.get(channel_id)
            return None if bookmark is None else messages.start_cursor(bookmark)

        return start

    def prefetcher(self, contexts: list[Context]) -> t.ContextManager[Prefetcher | None]:
        """Worker threads fetching these targets' pages ahead, or None with one worker.

        The pages are small (a page of users); the message buffer's budget bounds them.
        """
        settings = self.discord_tap.settings
        if settings.max_workers <= 1 or not contexts:
            return contextlib.nullcontext()
        return Prefetcher(
            self,
            contexts,
            workers=settings.max_workers,
            budget=settings.prefetch_buffer_bytes,
            lane_cap=DRAINED_LANE_PAGES,
            skippable=(ResourceSkippedError,),
            before_wait=self.discord_tap.flush_output,
            logger=self.logger,
        )

    def guild_maps(self, context: Context | None, *names: str) -> list[dict[str, t.Any]]:
        """The stream's maps `names` in the guild's partition, created empty if absent."""
        state = self.get_context_state(context)
        return [state.setdefault(name, {}) for name in names]
