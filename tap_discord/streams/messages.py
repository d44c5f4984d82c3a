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
import json
import typing as t
from functools import cached_property
from urllib.parse import urlsplit

import msgspec
import requests
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from typing_extensions import override

from tap_discord import schemas
from tap_discord.content_intent import MessageContentCheck
from tap_discord.errors import ResourceSkippedError
from tap_discord.nulchars import may_hold_nul, replace_nul
from tap_discord.pagination import SnowflakeAfterPaginator
from tap_discord.prefetch import DRAINED_LANE_PAGES, Prefetcher
from tap_discord.progress import MessageHistory
from tap_discord.responses import MalformedResponseError, response_json
from tap_discord.schemas.messages import EXTRAS_FIELD_NAMES
from tap_discord.sdkcontract import utc_now
from tap_discord.seenwindow import WINDOWS_KEY, SeenWindow, WindowRead
from tap_discord.snowflake import by_id, is_snowflake, lookback_cursor, max_snowflake
from tap_discord.streams.channels import FirstContact
from tap_discord.streams.guilds import GuildChildStream
from tap_discord.tombstones import tombstone
from tap_discord.writer import FloatFreeRecord

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Iterator

    from singer_sdk.helpers.types import Context

    from tap_discord.prefetch import Page


MESSAGE_PAGE_SIZE = 100
#: Characters of lookback windows in a STATE per message record between two STATEs:
#: the windows then weigh under a tenth of the records (`STATE_MSG_FREQUENCY`).
WINDOW_CHARS_PER_MESSAGE = 100
#: Key of the per-channel bookmark map in a guild's partition (layout above).
BOOKMARKS_KEY = "channel_bookmarks"
#: Channel types with a message history: text, voice, announcement, stage, and threads.
MESSAGE_CHANNEL_TYPES = frozenset({0, 2, 5, 13, 10, 11, 12})
_IDS_ATTR = "_tap_discord_message_ids"


class _MessageId(msgspec.Struct):
    """The one field a worker reads of a message: enough for the next cursor."""

    id: str | int


_decode_ids = msgspec.json.Decoder(list[_MessageId]).decode


class PageDecoder:
    """Parses a page of messages, and marks each one that holds no float.

    Why: the writer encodes a `FloatFreeRecord` with msgspec, which is faster than the
    standard encoder; msgspec writes some floats differently from the SDK, so a
    message with one (a voice message's `duration_secs`) takes the standard path.
    Main thread only (the float count is this object's).
    """

    def __init__(self) -> None:
        """Two msgspec decoders: one that counts floats, one that splits a page."""
        self.floats = 0
        self._decode = msgspec.json.Decoder(float_hook=self._float).decode
        self._split = msgspec.json.Decoder(list[msgspec.Raw]).decode

    def _float(self, text: str) -> float:
        """Count a float literal; its value as `json` reads it (`1e400` is infinity)."""
        self.floats += 1
        return float(text)

    def records(self, body: bytes) -> t.Any:
        """The page's JSON; its float-free messages as `FloatFreeRecord`.

        Each message is parsed on its own (msgspec finds their bounds first), which
        tells which hold a float, and costs less than parsing the page in one go.
        """
        try:
            items = self._split(body)
        except msgspec.ValidationError:  # valid JSON, not a list: the record check names it
            return self._decode(body)
        page = []
        for item in items:
            self.floats = 0
            message = self._decode(item)
            if self.floats or type(message) is not dict:
                page.append(message)
            else:
                page.append(FloatFreeRecord(message))
        return page


class MessagesStream(GuildChildStream):
    """`GET /channels/{id}/messages?after=<bookmark>&limit=100` for every channel and thread."""

    name = "messages"
    path = "/channels/{channel_id}/messages"
    primary_keys = schemas.MESSAGES_KEYS
    replication_key = "id"
    # Pages are emitted oldest-first, so ids rise within a channel; the SDK's own check
    # would compare the string ids, which breaks at the 18→19 digit boundary.
    is_sorted = True
    check_sorted = False
    schema = schemas.MESSAGES_SCHEMA
    # Records are parsed JSON and every object in the schema allows extra properties,
    # so the SDK's conformance could only turn a number in a boolean-only field into a
    # boolean (Discord sends booleans) or NaN into null (the writer does that): skip
    # its recursive walk of every record (tests/test_record_path.py checks the output).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = {
        50001: "Missing Access (50001): the bot cannot view this channel (needs View "
        "Channel, and Connect for voice channels)",
        50013: "Missing Permissions (50013): reading messages needs Read Message History",
    }

    @property
    @override
    def STATE_MSG_FREQUENCY(self) -> int:  # type: ignore[override]
        """A STATE about every page, but never more state bytes than record bytes.

        A bookmark is some 45 bytes and a message record about 1,000, so one message per
        bookmark between two STATEs keeps the bookmarks small beside the records; the
        lookback windows (some 7 bytes per message in them) get one message per
        `WINDOW_CHARS_PER_MESSAGE` characters.
        """
        return max(
            MESSAGE_PAGE_SIZE,
            self._bookmark_count,
            self._window_chars // WINDOW_CHARS_PER_MESSAGE,
        )

    _bookmark_count = 0
    _window_chars = 0

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Walk the guild's channels and threads, oldest new message first in each.

        With `max_workers` > 1, worker threads fetch the pages of the channels ahead;
        records, their order and the bookmarks are the same either way.
        """
        guild_id = str((context or {})["guild_id"])
        content_check = self.content_check
        content_check.start()
        observations = self.discord_tap.message_observations
        observations.start_guild(guild_id)
        bookmarks = self.channel_bookmarks(context)
        windows = self.seen_windows()
        plan = self.read_plan(guild_id, self.channel_targets(guild_id), bookmarks)
        progress = self.discord_tap.progress
        progress.begin(self.name, context)
        progress.history = history = MessageHistory(plan, bookmarks)
        prefetcher = self.prefetcher(plan)
        # Made before any worker starts: each reads it at its channel's first request.
        if isinstance(prefetcher, Prefetcher):
            self._first_contact = FirstContact(self.discord_tap.flush_output)
        try:
            with prefetcher as prefetched:
                # Listed while workers read the channels (their windows open meanwhile).
                threads = self.list_threads(guild_id, self._first_contact)
                thread_plan = self.read_plan(guild_id, threads, bookmarks)
                if prefetched:
                    prefetched.extend(thread_plan)
                plan += thread_plan
                for index, target in enumerate(plan):
                    history.at(index)
                    channel_id = self._channel_read = str(target["channel_id"])
                    pages = prefetched.pages(index) if prefetched else None
                    reading = self.window_read(windows, channel_id)
                    complete = yield from self.read_channel(target, pages, reading)
                    if (
                        windows is not None
                        and reading is not None
                        and complete
                        and reading.read_any
                    ):
                        yield from self.tombstones(target, reading)
                        # Only now, with its tombstones written (seenwindow.py).
                        self.remember_window(
                            windows, bookmarks.get(channel_id), channel_id, reading
                        )
                history.at(len(plan))
        finally:
            self._guild_state = None
            self._channel_read = None
            self._first_contact = None

    _first_contact: FirstContact | None = None

    def list_threads(self, guild_id: str, contact: FirstContact | None) -> list[dict[str, t.Any]]:
        """The guild's threads to read, listed now (or from the threads stream's list).

        `contact`: shared with the workers that read the guild's channels meanwhile;
        the first request to each channel, from either side, goes alone.
        """
        return self.readable(self.discord_tap.shared_lists.threads(guild_id, contact))

    @override
    def fetch_pages(
        self, session: requests.Session, context: Context, priority: int | None = None
    ) -> Generator[Page, None, None]:
        """A channel's pages; none for a channel found unreadable (by the thread listing).

        When the thread listing runs meanwhile, the first request to the channel goes
        alone, and a 403 marks it unreadable at once (`FirstContact`).
        """
        channel_id = str(context["channel_id"])
        unreadable = self.discord_tap.shared_lists.unreadable_channels
        contact = self._first_contact
        asks_first = contact is not None and contact.first(channel_id)
        try:
            if channel_id in unreadable:
                return
            pages = super().fetch_pages(session, context, priority)
            try:
                page = next(pages, None)
            except ResourceSkippedError:
                unreadable.add(channel_id)  # as the thread listing does: 403 or 404
                raise
        finally:
            if contact is not None and asks_first:
                contact.answered(channel_id)
        try:
            if page is not None:
                yield page
                yield from pages
        finally:
            pages.close()  # here, on this thread (its limiter priority is per thread)

    @cached_property
    def page_decoder(self) -> PageDecoder:
        """The page parser of this stream (main thread)."""
        return PageDecoder()

    @cached_property
    def content_check(self) -> MessageContentCheck:
        """Whether message bodies come gated by a missing Message Content intent (once)."""
        return MessageContentCheck(self)

    _guild_state: dict[str, t.Any] | None = None
    _channel_read: str | None = None  # the channel or thread `get_records` reads now

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, t.Any], *, context: Context | None = None
    ) -> None:
        """Move the channel's bookmark to the record just written, and the SDK's own.

        Why here: the SDK calls this right after writing the record, then writes a STATE
        every `STATE_MSG_FREQUENCY` records, and only then resumes `get_records`; a
        bookmark moved there would leave the last record out of that STATE (one record
        more repeated after a kill). A lookback re-emits older messages: the bookmark
        never moves back.

        The SDK's step runs on the guild state found once, where the SDK would search
        the state's partition list for the guild on every record. The result is the
        same: the partition's `replication_key` and `replication_key_value`, the id of
        the last record.

        A private SDK hook (see sdkcontract.py).
        """
        state = self._guild_state
        channel_id = self._channel_read
        if state is not None and channel_id is not None:
            bookmarks = state[BOOKMARKS_KEY]  # the map `channel_bookmarks` returned
            bookmarks[channel_id] = str(
                max_snowflake(bookmarks.get(channel_id), latest_record["id"])
            )
        if state is None or not self.is_sorted or self.check_sorted:
            super()._increment_stream_state(latest_record, context=context)
            return
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = latest_record["id"]

    def read_plan(
        self, guild_id: str, targets: list[dict[str, t.Any]], bookmarks: dict[str, str]
    ) -> list[Context]:
        """The request context of every target with something to read, in reading order.

        A target whose `last_message_id` is not beyond its start cursor costs no request;
        with `message_lookback`, every target with a bookmark is read (edits need it).
        """
        plan: list[Context] = []
        for target in targets:
            channel_id = str(target["id"])
            start = self.start_cursor(bookmarks.get(channel_id))
            if has_messages_after(target, start):
                until = int(target["last_message_id"])
                plan.append(channel_context(guild_id, channel_id, start, until))
        return plan

    def prefetcher(self, plan: list[Context]) -> t.ContextManager[Prefetcher | None]:
        """Worker threads for the plan's pages (more may be added), or None with one thread."""
        workers = self.discord_tap.settings.max_workers
        if workers <= 1:
            return contextlib.nullcontext()
        return Prefetcher(
            self,
            plan,
            workers=workers,
            budget=self.discord_tap.settings.prefetch_buffer_bytes,
            lane_cap=DRAINED_LANE_PAGES,
            skippable=(ResourceSkippedError,),
            before_wait=self.discord_tap.flush_output,
            spill_budget=self.discord_tap.settings.prefetch_spill_bytes,
            spill_dir=self.discord_tap.settings.prefetch_spill_dir,
            logger=self.logger,
        )

    def channel_bookmarks(self, context: Context | None) -> dict[str, str]:
        """The guild partition's `{channel_id: last emitted message id}` map."""
        state = self.get_context_state(context)
        self._guild_state = state
        bookmarks = state.setdefault(BOOKMARKS_KEY, {})
        self._bookmark_count = len(bookmarks)
        return t.cast("dict[str, str]", bookmarks)

    def start_cursor(self, bookmark: str | None) -> int:
        """The `after` a channel is read from, for sequential and prefetched reads alike.

        Resume after the bookmark, less `message_lookback` (edits and reactions of recent
        messages); a first sync starts at `start_date` (or the beginning).
        """
        settings = self.discord_tap.settings
        if bookmark is not None:
            return lookback_cursor(int(bookmark), settings.message_lookback, settings.start_after)
        return settings.start_after

    def channel_targets(self, guild_id: str) -> list[dict[str, t.Any]]:
        """The guild's channels with a message history, by id (`readable`)."""
        return self.readable(self.discord_tap.shared_lists.channels(guild_id))

    def readable(self, items: Iterable[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        """The channels or threads of `items` to read, by id.

        Those with a message history that the bot may read and `channel_ids` wants (a
        thread through its parent too).
        """
        tap = self.discord_tap
        wanted = tap.settings.configured_channel_ids
        targets = [
            item
            for item in items
            if item.get("type") in MESSAGE_CHANNEL_TYPES
            and str(item["id"]) not in tap.shared_lists.unreadable_channels
            and (
                wanted is None or str(item["id"]) in wanted or str(item.get("parent_id")) in wanted
            )
        ]
        return sorted(targets, key=by_id)

    def read_channel(
        self,
        context: Context,
        pages: Iterable[Page] | None = None,
        reading: WindowRead | None = None,
    ) -> Generator[dict, None, bool]:
        """All messages of one channel after `after`, oldest first; skip it on 403/404.

        `pages` are the channel's pages fetched by a worker thread (None: fetch them here).
        Each message is checked for the Message Content intent, and its id noted in
        `reading` if given. Returns whether the channel was read to its end (not skipped).
        """
        if pages is None:
            pages = self.fetch_pages(self.requests_session, context)
        observe = self.content_check.observe
        note = reading.add if reading is not None else None
        try:
            guild_id = str(context["guild_id"])
            observations = self.discord_tap.message_observations
            for message in self.records_of_pages(pages, context):
                observe(message)
                observations.observe(guild_id, message)
                if note is not None:
                    note(int(message["id"]))
                yield message  # its bookmark moves once it is written
            observations.channel_read(guild_id, str(context["channel_id"]), int(context["after"]))
        except ResourceSkippedError as exc:
            channel_id = str(context["channel_id"])
            if exc.status == 403:
                self.discord_tap.shared_lists.unreadable_channels.add(channel_id)
            where = {"guild_id": context["guild_id"], "channel_id": channel_id}
            self.warn_skipped(exc, where)
            return False
        return True

    # Deleted messages (seenwindow.py) ---------------------------------------------------

    def seen_windows(self) -> dict[str, str] | None:
        """The guild partition's lookback windows; None (and none kept) without lookback."""
        state = self._guild_state
        if state is None:
            return None
        if not self.discord_tap.settings.message_lookback:
            state.pop(WINDOWS_KEY, None)
            return None
        windows = t.cast("dict[str, str]", state.setdefault(WINDOWS_KEY, {}))
        self._window_chars = sum(len(text) for text in windows.values())
        return windows

    def window_read(self, windows: dict[str, str] | None, channel_id: str) -> WindowRead | None:
        """What a channel's read notes for its windows (None without lookback)."""
        lookback = self.discord_tap.settings.message_lookback
        if windows is None or lookback is None:
            return None
        previous: SeenWindow | None = None
        kept = windows.get(channel_id)
        if kept is not None:
            try:
                previous = SeenWindow.decode(kept)
            except ValueError:
                self.logger.warning(
                    "Ignoring the damaged lookback window of channel %s in the state: "
                    "messages deleted there before this run are not marked deleted",
                    channel_id,
                )
        return WindowRead(previous, int(lookback.total_seconds() * 1000))

    def tombstones(self, context: Context, reading: WindowRead) -> Iterator[dict[str, t.Any]]:
        """A tombstone for each message of the channel's last window not read again."""
        gone = reading.gone(int(context["after"]), context.get("until"))
        if not gone:
            return
        now = utc_now()
        key = {"channel_id": str(context["channel_id"]), "guild_id": str(context["guild_id"])}
        for message_id in gone:
            yield tombstone({"id": str(message_id), **key}, now)

    def remember_window(
        self, windows: dict[str, str], bookmark: str | None, channel_id: str, reading: WindowRead
    ) -> None:
        """Keep the ids of this complete read that the next run re-reads (up to the bookmark)."""
        if bookmark is None:  # nothing ever emitted: nothing to remember
            return
        floor = self.start_cursor(bookmark)
        windows[channel_id] = reading.next_window(floor, int(bookmark)).encode()

    @override
    def new_page_paginator(self, context: Context) -> SnowflakeAfterPaginator:
        """Forward by snowflake from the context's `after`, up to its `until`.

        The paginator reads a page's ids through `page_ids` (parsed once per response,
        without parsing the messages themselves).
        """
        return SnowflakeAfterPaginator(
            None,
            page_size=MESSAGE_PAGE_SIZE,
            id_of=int,
            items_of=page_ids,
            until=context.get("until"),
        )

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        """`after` the bookmark (or the previous page's newest id), 100 per page."""
        after = next_page_token if next_page_token is not None else (context or {})["after"]
        return {"after": after, "limit": MESSAGE_PAGE_SIZE}

    @override
    def _require_json(self, response: requests.Response) -> None:
        """A worker reads only the ids of a page (to page on); the rest is parsed later.

        Why: parsing every message in a worker thread would cost the GIL twice over.
        The ids decoder still validates the whole body, so a truncated or HTML 200 is
        retried like any malformed answer. Other requests of this stream (`get_json`:
        the application's flags) get the base check.
        """
        if not _is_messages_page(response):
            super()._require_json(response)
            return
        try:
            page_ids(response)
        except requests.RequestException as exc:
            raise RetriableAPIError(str(exc), response) from exc

    @override
    def newest_first(self, response: requests.Response) -> bool:
        """Whether the page's ids strictly decrease, as Discord sends them (worker thread)."""
        ids = page_ids(response)
        # Sorted newest first with no id twice (as one check in C: a page is 100 ids).
        return ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)

    @override
    def page_records(self, page: Page) -> list[dict[str, t.Any]]:
        """A page's messages, oldest first (Discord sends them newest-first, even with `after`)."""
        try:
            records = self.page_decoder.records(page.body)
        except msgspec.MsgspecError:  # invalid UTF-8: parsed as `json` would (replaced)
            records = json.loads(page.body.decode("utf-8", "replace"))
        if may_hold_nul(page.body):
            replace_nul(records)
        if page.newest_first:
            records.reverse()
        else:
            records.sort(key=by_id)
        check = self.record_check.check
        where = urlsplit(page.response.url or "").path or self.path
        return [check(gather_extras(record), where) for record in records]


def gather_extras(message: t.Any) -> t.Any:
    """Move a message's rarely filled fields into its `extras` object (see the schema)."""
    if isinstance(message, dict) and not EXTRAS_FIELD_NAMES.isdisjoint(message):
        names = [name for name in message if name in EXTRAS_FIELD_NAMES]
        message["extras"] = {name: message.pop(name) for name in names}
    return message


def _is_messages_page(response: requests.Response) -> bool:
    """Whether a response answers `GET /channels/{id}/messages` (a page of messages)."""
    path = response.request.path_url if response.request is not None else ""
    return path.split("?", 1)[0].endswith("/messages")


def page_ids(response: requests.Response) -> list[int]:
    """The message ids of a 2xx page, read once per response; a bad body raises.

    Raises `MalformedResponseError` (retried) when the body is not a JSON list of
    messages.
    """
    cached = getattr(response, _IDS_ATTR, None)
    if cached is not None:
        return t.cast("list[int]", cached)
    try:
        ids = [int(item.id) for item in _decode_ids(response.content)]
    except (msgspec.MsgspecError, ValueError):
        body = response_json(response)  # raises MalformedResponseError on bad JSON
        if not isinstance(body, list) or not all(isinstance(m, dict) for m in body):
            msg = f"body is not a list of messages ({len(response.content)} bytes)"
            raise MalformedResponseError(msg, response=response) from None
        # A message without a usable id is not paged on; the record check stops the run
        # naming it when the page is emitted.
        ids = [int(m["id"]) for m in body if is_snowflake(m.get("id"))]
    setattr(response, _IDS_ATTR, ids)
    return ids


def channel_context(
    guild_id: str, channel_id: str, after: int, until: int | None = None
) -> dict[str, t.Any]:
    """The request context of one channel's read.

    Its URL, its first `after` cursor, and the newest message id it had when listed
    (`until`, where its paging may stop).
    """
    return {"guild_id": guild_id, "channel_id": channel_id, "after": after, "until": until}


def has_messages_after(channel: dict[str, t.Any], cursor: int) -> bool:
    """False when the channel's newest message is at or below the cursor: no request.

    `last_message_id` may name a deleted message; it still only moves forward, so a
    channel whose value is not beyond the cursor has nothing new.
    """
    last = channel.get("last_message_id")
    return last is not None and int(last) > cursor
