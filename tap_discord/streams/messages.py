"""Channel and thread messages, incremental by snowflake with a bookmark per channel.

State layout (one SDK partition per guild, bounded by the number of guilds):

    {"bookmarks": {"messages": {"partitions": [
        {"context": {"guild_id": "G"},
         "channel_bookmarks": {"<channel or thread id>": "<id of the last message emitted>"}}
    ]}}}

Threads are unbounded (thousands per guild), and thousands of SDK partitions cost
quadratic time and state size, so per-channel bookmarks live in this map inside the
guild's partition. A bookmark moves only after the SDK has written the record it
names, so a STATE message never claims a record that was not emitted.

With `max_workers` > 1, worker threads fetch the pages of the channels ahead of the
one being emitted (`prefetch.py`); records, bookmarks and STATE stay on this thread,
in the same order as a one-channel-at-a-time run.
"""

from __future__ import annotations

import contextlib
import typing as t
from functools import cached_property

from tap_discord import schemas
from tap_discord.content_intent import MessageContentCheck
from tap_discord.errors import ResourceSkippedError
from tap_discord.pagination import SnowflakeAfterPaginator
from tap_discord.prefetch import PAGES_PER_WORKER, Prefetcher
from tap_discord.snowflake import lookback_cursor, max_snowflake
from tap_discord.streams.channels import ChannelsStream, ThreadsStream, by_id
from tap_discord.streams.guilds import GuildChildStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk.helpers.types import Context

    from tap_discord.prefetch import Page


MESSAGE_PAGE_SIZE = 100
BOOKMARKS_KEY = "channel_bookmarks"
#: Channel types with a message history: text, voice, announcement, stage, and threads.
MESSAGE_CHANNEL_TYPES = frozenset({0, 2, 5, 13, 10, 11, 12})


class MessagesStream(GuildChildStream):
    """`GET /channels/{id}/messages?after=<bookmark>&limit=100` for every channel and thread."""

    name = "messages"
    path = "/channels/{channel_id}/messages"
    primary_keys = ("id",)
    replication_key = "id"
    # Pages are emitted oldest-first, so ids rise within a channel; the SDK's own check
    # would compare the string ids, which breaks at the 18→19 digit boundary.
    is_sorted = True
    check_sorted = False
    schema = schemas.MESSAGES_SCHEMA
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = {
        50001: "Missing Access (50001): the bot cannot view this channel (needs View "
        "Channel, and Connect for voice channels)",
        50013: "Missing Permissions (50013): reading messages needs Read Message History",
    }

    @property
    def STATE_MSG_FREQUENCY(self) -> int:  # type: ignore[override]  # noqa: N802
        """A STATE about every page, but never more state bytes than record bytes."""
        return max(MESSAGE_PAGE_SIZE, self._bookmark_count)

    _bookmark_count = 0

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Walk the guild's channels and threads, oldest new message first in each.

        With `max_workers` > 1, worker threads fetch the pages of the channels ahead;
        records, their order and the bookmarks are the same either way.
        """
        guild_id = str((context or {})["guild_id"])
        content_check = self.content_check
        content_check.start()
        bookmarks = self.channel_bookmarks(context)
        plan = self.read_plan(guild_id, bookmarks)
        with self.prefetcher(plan) as prefetched:
            for index, target in enumerate(plan):
                channel_id = str(target["channel_id"])
                pages = prefetched.pages(index) if prefetched else None
                for message in self.read_channel(guild_id, channel_id, target["after"], pages):
                    content_check.observe(message)
                    yield message
                    # The SDK has written `message` by the time the generator resumes.
                    # A lookback re-emits older messages: the bookmark never moves back.
                    bookmarks[channel_id] = str(
                        max_snowflake(bookmarks.get(channel_id), message["id"])
                    )

    @cached_property
    def content_check(self) -> MessageContentCheck:
        """Whether message bodies come gated by a missing Message Content intent (once)."""
        return MessageContentCheck(self)

    def read_plan(self, guild_id: str, bookmarks: dict[str, str]) -> list[Context]:
        """The request context of every target with something to read, in reading order.

        A target whose `last_message_id` is not beyond its start cursor costs no request;
        with `message_lookback`, every target with a bookmark is read (edits need it).
        """
        plan: list[Context] = []
        for target in self.message_targets(guild_id):
            channel_id = str(target["id"])
            start = self.start_cursor(bookmarks.get(channel_id))
            if has_messages_after(target, start):
                plan.append(channel_context(guild_id, channel_id, start))
        return plan

    def prefetcher(self, plan: list[Context]) -> t.ContextManager[Prefetcher | None]:
        """Worker threads for the plan's pages, or None when one thread is enough."""
        workers = min(self.discord_tap.max_workers, len(plan))
        if workers <= 1:
            return contextlib.nullcontext()
        return Prefetcher(
            self,
            plan,
            workers=workers,
            budget=workers * PAGES_PER_WORKER,
            lane_cap=PAGES_PER_WORKER,
            skippable=(ResourceSkippedError,),
        )

    def channel_bookmarks(self, context: Context | None) -> dict[str, str]:
        """The guild partition's `{channel_id: last emitted message id}` map."""
        state = self.get_context_state(context)
        bookmarks = state.setdefault(BOOKMARKS_KEY, {})
        self._bookmark_count = len(bookmarks)
        return t.cast("dict[str, str]", bookmarks)

    def start_cursor(self, bookmark: str | None) -> int:
        """The `after` a channel is read from, for sequential and prefetched reads alike.

        Resume after the bookmark, less `message_lookback` (edits and reactions of recent
        messages); a first sync starts at `start_date` (or the beginning).
        """
        tap = self.discord_tap
        if bookmark is not None:
            return lookback_cursor(int(bookmark), tap.message_lookback, tap.start_after)
        return tap.start_after

    def message_targets(self, guild_id: str) -> list[dict[str, t.Any]]:
        """Channels and threads with a message history, filtered by `channel_ids`, by id."""
        tap = self.discord_tap
        channels = t.cast("ChannelsStream", tap.streams["channels"]).guild_channels(guild_id)
        threads = t.cast("ThreadsStream", tap.streams["threads"]).guild_threads(guild_id)
        wanted = tap.configured_channel_ids
        targets = [
            item
            for item in (*channels, *threads)
            if item.get("type") in MESSAGE_CHANNEL_TYPES
            and str(item["id"]) not in tap.unreadable_channels
            and (
                wanted is None or str(item["id"]) in wanted or str(item.get("parent_id")) in wanted
            )
        ]
        return sorted(targets, key=by_id)

    def read_channel(
        self,
        guild_id: str,
        channel_id: str,
        after: int,
        pages: Iterable[Page] | None = None,
    ) -> Iterator[dict]:
        """All messages of one channel after `after`, oldest first; skip it on 403/404.

        `pages` are the channel's pages fetched by a worker thread (None: fetch them here).
        """
        context = channel_context(guild_id, channel_id, after)
        records = (
            self.request_records(context)
            if pages is None
            else self.records_of_pages(pages, context)
        )
        try:
            yield from records
        except ResourceSkippedError as exc:
            if exc.status == 403:
                self.discord_tap.unreadable_channels.add(channel_id)
            self.warn_skipped(exc, {"guild_id": guild_id, "channel_id": channel_id})

    def get_new_paginator(self) -> SnowflakeAfterPaginator:
        """Forward by snowflake; the first cursor comes from the request context."""
        return SnowflakeAfterPaginator(None, page_size=MESSAGE_PAGE_SIZE, id_of=_message_id)

    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        """`after` the bookmark (or the previous page's newest id), 100 per page."""
        after = next_page_token if next_page_token is not None else (context or {})["after"]
        return {"after": after, "limit": MESSAGE_PAGE_SIZE}

    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """Discord sends every page newest-first, even with `after`: emit it oldest-first."""
        page = list(super().parse_response(response))
        page.sort(key=by_id)
        return page


def channel_context(guild_id: str, channel_id: str, after: int) -> dict[str, t.Any]:
    """The request context of one channel's read: its URL and first `after` cursor."""
    return {"guild_id": guild_id, "channel_id": channel_id, "after": after}


def has_messages_after(channel: dict[str, t.Any], cursor: int) -> bool:
    """False when the channel's newest message is at or below the cursor: no request.

    `last_message_id` may name a deleted message; it still only moves forward, so a
    channel whose value is not beyond the cursor has nothing new.
    """
    last = channel.get("last_message_id")
    return last is not None and int(last) > cursor


def _message_id(message: dict) -> str:
    """A message's id."""
    return str(message["id"])
