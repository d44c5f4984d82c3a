"""Guild channels and threads (active and archived).

Both lists are read once per guild and run and kept in the tap's `SharedLists`,
because the messages stream walks the same channels and threads: reading them twice
would cost requests (archived threads take two per channel) and invalid requests for
channels the bot cannot see.
"""

from __future__ import annotations

import copy
import threading
import typing as t

from typing_extensions import override

from tap_discord import schemas
from tap_discord.errors import ResourceSkippedError
from tap_discord.pagination import HasMoreTimestampPaginator
from tap_discord.responses import response_json
from tap_discord.snowflake import by_id
from tap_discord.streams.guilds import GuildChildStream
from tap_discord.threadgaps import ThreadGaps, kept_parents, remember_parents

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterable

    import requests
    from singer_sdk.helpers.types import Context

MISSING_ACCESS = 50001
#: Channel types whose archived threads can be listed: text, announcement, forum, media.
THREAD_PARENT_TYPES = frozenset({0, 5, 15, 16})
ARCHIVED_PAGE_SIZE = 100


class ChannelsStream(GuildChildStream):
    """`GET /guilds/{id}/channels`: every guild channel (threads are their own stream)."""

    name = "channels"
    path = "/guilds/{guild_id}/channels"
    primary_keys = schemas.CHANNELS_KEYS
    schema = schemas.CHANNELS_SCHEMA
    mirrors_deletions = True

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Emit copies of the shared list, so SDK edits never reach it."""
        guild_id = str((context or {})["guild_id"])
        yield from copy.deepcopy(self.discord_tap.shared_lists.channels(guild_id))

    def read_guild_channels(self, guild_id: str) -> list[dict[str, t.Any]]:
        """Read the guild's channels, by id; raises ResourceSkippedError if Discord refuses.

        Called once per guild and run, by `SharedLists`, which keeps the list.
        """
        return sorted(self.request_records({"guild_id": guild_id}), key=by_id)


class FirstContact:
    """The first request to each channel, made by whichever thread asks first.

    Why: the messages stream reads a guild's channels in worker threads while the main
    thread lists their archived threads, and a channel the bot cannot see answers 403
    to both. The thread that comes second waits for the first one's answer, and asks
    nothing if the channel turned out unreadable: one refused request, not two.
    """

    def __init__(self, before_wait: t.Callable[[], None] | None = None) -> None:
        """No channel asked yet.

        `before_wait` runs before a thread waits for an answer (the tap's output flush:
        the main thread's records do not wait with it).
        """
        self._lock = threading.Lock()
        self._answers: dict[str, threading.Event] = {}
        self._before_wait = before_wait

    def first(self, channel_id: str) -> bool:
        """True: the caller asks first (and must call `answered`); False: it was answered."""
        with self._lock:
            answer = self._answers.get(channel_id)
            if answer is None:
                self._answers[channel_id] = threading.Event()
                return True
        if not answer.is_set() and self._before_wait is not None:
            self._before_wait()
        answer.wait()
        return False

    def answered(self, channel_id: str) -> None:
        """The first request to the channel has its answer (the unreadable set is updated)."""
        self._answers[channel_id].set()


class ThreadsStream(GuildChildStream):
    """Active threads of the guild, plus archived public and private threads per channel.

    A thread can move from active to archived between two calls, so threads are
    de-duplicated by id. Forum and media posts are threads too.
    """

    name = "threads"
    path = "/guilds/{guild_id}/threads/active"
    primary_keys = schemas.THREADS_KEYS
    schema = schemas.THREADS_SCHEMA
    mirrors_deletions = True
    # Archived threads are listed per channel of the channel list.
    mirror_depends_on = ("channels",)
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = {
        50001: "Missing Access (50001): the bot cannot view this channel (grant View "
        "Channel and Read Message History)",
        50013: "Missing Permissions (50013): private archived threads need the Manage "
        "Threads permission",
    }

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Emit copies of the shared list (listed by `messages` if it ran first)."""
        guild_id = str((context or {})["guild_id"])
        yield from copy.deepcopy(self.discord_tap.shared_lists.threads(guild_id))

    def list_threads(self, guild_id: str, contact: FirstContact | None) -> list[dict[str, t.Any]]:
        """Active threads, then archived ones per parent channel, de-duplicated, by id.

        Called once per guild and run, by `SharedLists`, which keeps the list.
        `contact`: shared with threads that read the guild's channels meanwhile.
        """
        found: dict[str, dict[str, t.Any]] = {}
        gaps = self._gaps = ThreadGaps()
        try:
            for thread in self._read({"guild_id": guild_id}):
                found[str(thread["id"])] = thread
            if self.config.get("include_archived_threads", True):
                for thread in self._archived_threads(guild_id, contact):
                    found.setdefault(str(thread["id"]), thread)
            else:  # archived threads still exist: not listing them is not their deletion
                self.discord_tap.mirror.gap(self.name, "include_archived_threads is false")
        finally:
            self._gaps = None
        threads = sorted(found.values(), key=by_id)
        self.weigh_gaps(guild_id, gaps, threads)
        return threads

    #: The channels of the guild being listed whose archived threads were not listed.
    _gaps: ThreadGaps | None = None

    def weigh_gaps(self, guild_id: str, gaps: ThreadGaps, threads: list[dict[str, t.Any]]) -> None:
        """A gap for the run where a channel not listed may have threads in the target.

        Then the channels of this listing's threads join the kept lists (threadgaps.py).
        """
        mirror = self.discord_tap.mirror
        if not (mirror.enabled and self.selected):
            return
        kept = kept_parents(self.get_context_state({"guild_id": guild_id}))
        why = gaps.blocking(kept)
        if why is not None:
            mirror.gap(self.name, why)
        remember_parents(kept, threads)

    @override
    def note_gap(self, exc: ResourceSkippedError, context: Context | None) -> None:
        """A channel's archived threads not listed: a gap of that channel (threadgaps.py)."""
        channel_id = (context or {}).get("channel_id")
        if channel_id is None:  # the guild's active threads: a gap of the whole run
            super().note_gap(exc, context)
            return
        private = (context or {}).get("scope") == "private" and exc.code != MISSING_ACCESS
        self._channel_gap(str(channel_id), private=private, reason=f"{exc.resource} was skipped")

    def _channel_gap(self, channel_id: str, *, private: bool, reason: str) -> None:
        """Note a channel whose archived threads were not listed (a run gap if unsure)."""
        if self._gaps is not None:
            self._gaps.add(channel_id, private=private, reason=reason)
        else:
            self.discord_tap.mirror.gap(self.name, f"channel {channel_id}: {reason}")

    def _archived_threads(
        self, guild_id: str, contact: FirstContact | None
    ) -> Iterable[dict[str, t.Any]]:
        """Public, then private (if allowed) archived threads of each parent channel."""
        shared = self.discord_tap.shared_lists
        unreadable = shared.unreadable_channels
        private_allowed = True
        for channel in shared.channels(guild_id):
            channel_id = str(channel["id"])
            if channel.get("type") not in THREAD_PARENT_TYPES:
                continue
            asks_first = contact is None or contact.first(channel_id)
            try:
                if channel_id not in unreadable:
                    private_allowed = yield from self._channel_archived_threads(
                        guild_id, channel_id, private_allowed=private_allowed
                    )
                else:  # refused to the messages stream: its threads are not listed
                    self._channel_gap(channel_id, private=False, reason="unreadable")
            finally:
                if contact is not None and asks_first:
                    contact.answered(channel_id)

    def _channel_archived_threads(
        self, guild_id: str, channel_id: str, *, private_allowed: bool
    ) -> Generator[dict[str, t.Any], None, bool]:
        """One channel's public, then private (if allowed) archived threads.

        Returns whether private archived threads may still be asked for (a 50013 on
        one channel means the bot lacks Manage Threads in the whole guild).
        """
        unreadable = self.discord_tap.shared_lists.unreadable_channels
        context = {"guild_id": guild_id, "channel_id": channel_id, "scope": "public"}
        try:
            yield from self.request_records(context)
        except ResourceSkippedError as exc:
            unreadable.add(channel_id)
            self.warn_skipped(exc, context)
            return private_allowed
        if not private_allowed:
            self._channel_gap(channel_id, private=True, reason="no Manage Threads")
            return False
        context = {**context, "scope": "private"}
        try:
            yield from self.request_records(context)
        except ResourceSkippedError as exc:
            self.warn_skipped(exc, context)
            if exc.code == MISSING_ACCESS:
                unreadable.add(channel_id)
                return True
            self.logger.warning(
                "Not listing private archived threads of guild %s: grant the bot "
                "Manage Threads to read them.",
                guild_id,
            )
            return False
        return True

    def _read(self, context: Context) -> Iterable[dict[str, t.Any]]:
        """Read one thread list; a list the bot may not see is skipped with a warning."""
        try:
            yield from self.request_records(context)
        except ResourceSkippedError as exc:
            self.warn_skipped(exc, context)

    @override
    def get_url(self, context: Context | None) -> str:
        """Active threads per guild, or one channel's archived threads by scope."""
        context = context or {}
        if "channel_id" in context:
            return (
                f"{self.url_base}/channels/{context['channel_id']}"
                f"/threads/archived/{context['scope']}"
            )
        return f"{self.url_base}/guilds/{context['guild_id']}/threads/active"

    @override
    def get_new_paginator(self) -> HasMoreTimestampPaginator:
        """`has_more` with `before=<archive_timestamp>` (active threads: one page)."""
        return HasMoreTimestampPaginator(None)

    @override
    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict:
        """Full archived pages; active threads take no parameters."""
        if not context or "channel_id" not in context:
            return {}
        params: dict[str, t.Any] = {"limit": ARCHIVED_PAGE_SIZE}
        if next_page_token:
            params["before"] = next_page_token
        return params

    @override
    def parse_response(self, response: requests.Response) -> Iterable[dict]:
        """Thread lists come as `{threads, members, has_more}`."""
        yield from self.checked(response_json(response).get("threads") or [], response)
