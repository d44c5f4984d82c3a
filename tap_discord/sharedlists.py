"""The lists several streams of one run share: guild ids, channels, threads.

Each list is read at most once per run, by the stream whose route it is, and kept
here for the other streams that need it:

=================  ===================  =============================================
list               read by              also used by
=================  ===================  =============================================
guild ids          `user_guilds`        `guilds` (its partitions; every guild stream
                   (unless `guild_ids`  is a child of `guilds`)
                   is set)
channels of guild  `channels`           `messages` (the channels to read), `threads`
                                        (parents of archived threads), `guilds`
                                        (the Unknown Guild cross-check)
threads of guild   `threads`            `messages` (the threads to read; it has them
                                        listed first, see below)
unreadable         `threads`,           both, so a channel refused once is not asked
channels           `messages`           again
audit-log names    `audit_log`          the four `audit_log_*` reference streams
scheduled events   `scheduled_events`   `scheduled_event_users` (the events to read)
=================  ===================  =============================================

The order the streams run in: for each guild, the SDK syncs the children of
`guilds` in the order of `streams.BOT_STREAMS`, which `order_problems` checks:

1. `guilds` before its children, which the SDK does for a parent stream;
2. `messages` before `threads`: the messages stream lists the threads while its
   worker threads read the channels' pages, sharing a `FirstContact` so that each
   channel's first request goes alone; `threads` then emits that list;
3. `messages` before `pins`, `message_reactions` and `poll_votes`: they read what
   the guild's messages of this run showed changed (`observed.py`);
4. the `audit_log_*` reference streams before `audit_log`: the first of them reads
   the guild's new audit-log pages, so the objects an entry names are emitted before
   the entry's bookmark is saved.

The lists handed out are the kept ones: a stream that emits them emits copies, so
the SDK's edits of a record never reach them.
"""

from __future__ import annotations

import typing as t

from tap_discord.client import DiscordStream
from tap_discord.errors import ResourceSkippedError
from tap_discord.streams.audit_log import AuditLogStream
from tap_discord.streams.channels import ChannelsStream, ThreadsStream
from tap_discord.streams.events import ScheduledEventsStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from singer_sdk.streams import Stream

    from tap_discord.streams.audit_log import GuildReferences
    from tap_discord.streams.channels import FirstContact

Item = dict[str, t.Any]
StreamT = t.TypeVar("StreamT", bound=DiscordStream)

#: Pairs of streams that must run in this order, when both are offered (see above).
RUNS_BEFORE: tuple[tuple[str, str], ...] = (
    ("messages", "threads"),
    ("messages", "pins"),
    ("messages", "message_reactions"),
    ("messages", "poll_votes"),
    ("audit_log_users", "audit_log"),
    ("audit_log_webhooks", "audit_log"),
    ("audit_log_integrations", "audit_log"),
    ("audit_log_threads", "audit_log"),
)


def order_problems(names: Iterable[str]) -> list[str]:
    """One line per pair of `RUNS_BEFORE` that `names` (a run order) has the wrong way."""
    position = {name: index for index, name in enumerate(names)}
    return [
        f"{first} must run before {second}"
        for first, second in RUNS_BEFORE
        if first in position and second in position and position[first] > position[second]
    ]


class SharedLists:
    """The guild, channel and thread lists of one run, read once and shared."""

    def __init__(self, streams: Mapping[str, Stream], configured_guild_ids: list[str]) -> None:
        """Nothing read yet; `streams` are the tap's, found by name when first needed."""
        self._streams = streams
        self._configured_guild_ids = configured_guild_ids
        self._user_guilds: list[Item] | None = None
        self._channels: dict[str, list[Item]] = {}
        self._threads: dict[str, list[Item]] = {}
        #: Channels Discord refused (403/404): their messages and threads are not asked for.
        self.unreadable_channels: set[str] = set()
        self._events: dict[str, list[Item]] = {}

    def guild_ids(self) -> list[str]:
        """`guild_ids` if set, else the bot's guilds (`GET /users/@me/guilds`, once)."""
        if self._configured_guild_ids:
            return self._configured_guild_ids
        if self._user_guilds is None:
            lister = self._stream("user_guilds", DiscordStream)
            self._user_guilds = list(lister.request_records({}))
        return [str(guild["id"]) for guild in self._user_guilds]

    def channels(self, guild_id: str) -> list[Item]:
        """The guild's channels, by id; a guild whose list Discord refuses has none.

        The refusal is one warning, and is kept: the list is not asked for again.
        """
        try:
            return self._read_channels(guild_id)
        except ResourceSkippedError as exc:
            self._stream("channels", ChannelsStream).warn_skipped(exc, {"guild_id": guild_id})
            self._channels[guild_id] = []
            return []

    def channels_readable(self, guild_id: str) -> bool:
        """Whether the guild's channel list can be read (no warning when it cannot)."""
        try:
            self._read_channels(guild_id)
        except ResourceSkippedError:
            return False
        return True

    def _read_channels(self, guild_id: str) -> list[Item]:
        """The kept list, or read it; raises ResourceSkippedError if Discord refuses."""
        if guild_id not in self._channels:
            lister = self._stream("channels", ChannelsStream)
            self._channels[guild_id] = lister.read_guild_channels(guild_id)
        return self._channels[guild_id]

    def threads(self, guild_id: str, contact: FirstContact | None = None) -> list[Item]:
        """Every thread of the guild the bot can list, by id.

        `contact`: shared with the worker threads that read the guild's channels while
        the threads are listed (only the first call of a guild lists them).
        """
        if guild_id not in self._threads:
            lister = self._stream("threads", ThreadsStream)
            self._threads[guild_id] = lister.list_threads(guild_id, contact)
        return self._threads[guild_id]

    def scheduled_events(self, guild_id: str) -> list[Item]:
        """The guild's scheduled events, by id; a refused list is one warning, and empty."""
        if guild_id not in self._events:
            lister = self._stream("scheduled_events", ScheduledEventsStream)
            try:
                self._events[guild_id] = lister.read_guild_events(guild_id)
            except ResourceSkippedError as exc:
                lister.warn_skipped(exc, {"guild_id": guild_id})
                self._events[guild_id] = []
        return self._events[guild_id]

    def audit_log_references(self, guild_id: str) -> GuildReferences:
        """The objects the guild's new audit-log entries name (read on first use)."""
        return self._stream("audit_log", AuditLogStream).references(guild_id)

    def _stream(self, name: str, kind: type[StreamT]) -> StreamT:
        """The tap's stream `name`, which must be a `kind`."""
        stream = self._streams[name]
        if not isinstance(stream, kind):
            msg = f"stream {name!r} is a {type(stream).__name__}, not a {kind.__name__}"
            raise TypeError(msg)
        return stream
