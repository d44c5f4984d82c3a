"""What world to generate: sizes, time span and the bot's permissions.

A `WorldSpec` plus its seed fully determines the world's structure and contents;
only absolute times follow the clock (the message span ends near `end_time`,
which defaults to now) so that "recent" data really is recent.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace


@dataclass
class WorldSpec:
    """Sizes and switches of a generated Discord world.

    Counts ending in `_threads` are per text channel; `forum_posts` is per forum or
    media channel. `unreadable_channels` / `no_history_channels` given as a count
    add that many extra text channels to the first guild (the bot lacks View
    Channel / Read Message History there); given as ids they flag existing channels.
    """

    seed: int = 7
    guilds: int = 2
    text_channels: int = 4
    messages_per_channel: int | Sequence[int] = 150
    #: one voice, category, announcement, stage, forum and media channel per guild
    other_channel_types: bool = True
    #: messages in each voice, stage and announcement channel
    other_channel_messages: int = 6
    active_public_threads: int = 1
    archived_public_threads: int = 2
    active_private_threads: int = 1
    archived_private_threads: int = 1
    forum_posts: int = 3
    messages_per_thread: int = 6
    members: int = 40
    invites: int = 3
    roles: int = 4
    emojis: int = 3
    stickers: int = 2
    scheduled_events: int = 2
    audit_log_entries: int = 30
    #: banned users per guild (Discord pages bans by 1000)
    bans: int = 4
    #: most users interested in one scheduled event (the first event of a guild has
    #: exactly this many; Discord pages them by 100)
    event_users: int = 6
    #: most members of one thread (the first thread of a guild has exactly this many;
    #: Discord pages them by 100)
    thread_members: int = 8
    #: messages of ordinary channels spread over this many days before `end_time`
    span_days: float = 60.0
    #: the world's "now"; None = the clock at generation time
    end_time: dt.datetime | None = None
    #: the first text channel dates from 2015 and its messages span 2015 → now,
    #: straddling the 17→18 and 18→19 digit boundaries of ids
    boundary_channel: bool = True
    unreadable_channels: int | Sequence[str] = 0
    no_history_channels: int | Sequence[str] = 0
    manage_guild: bool = True
    manage_channels: bool = True
    view_audit_log: bool = True
    manage_threads: bool = True
    members_intent: bool = True
    message_content_intent: bool = True
    #: NUL characters at every depth a loader meets: nested users, embeds, replied-to
    #: messages, audit-log changes, member, role, channel and event fields
    nul_everywhere: bool = False
    #: share of ordinary messages that get each optional part (replies, embeds, ...)
    richness: float = 1.0
    #: messages pinned in each text and announcement channel (social.py)
    pins_per_channel: int = 0
    #: shorthand: per-guild message counts of the text channels (sets text_channels)
    text_channel_messages: Sequence[int] | None = None
    #: shorthand: the same count for every kind of thread and for forum posts
    threads_per_kind: int | None = None

    def __post_init__(self) -> None:
        """Expand the shorthands into the detailed fields."""
        if self.text_channel_messages is not None:
            self.text_channels = len(self.text_channel_messages)
            self.messages_per_channel = list(self.text_channel_messages)
            self.text_channel_messages = None
        if self.threads_per_kind is not None:
            n = self.threads_per_kind
            self.active_public_threads = self.archived_public_threads = n
            self.active_private_threads = self.archived_private_threads = n
            self.forum_posts = n
            self.threads_per_kind = None

    def with_(self, **changes: object) -> WorldSpec:
        """A copy with some fields changed (presets are starting points)."""
        return replace(self, **changes)  # type: ignore[arg-type]

    def messages_for(self, index: int) -> int:
        """Message count of the `index`-th text channel (across guilds, in order)."""
        counts = self.messages_per_channel
        if isinstance(counts, int):
            return counts
        return int(counts[index % len(counts)]) if counts else 0

    @classmethod
    def small(cls, **changes: object) -> WorldSpec:
        """Fast tests: 2 guilds, one empty channel, one of exactly 100 and one of 101
        messages, every kind of thread, one unreadable and one history-less channel."""
        spec = cls(
            guilds=2,
            text_channels=4,
            messages_per_channel=[0, 100, 101, 37, 12, 5, 60, 3],
            active_public_threads=1,
            archived_public_threads=3,
            active_private_threads=1,
            archived_private_threads=2,
            forum_posts=3,
            messages_per_thread=3,
            members=25,
            audit_log_entries=60,
            unreadable_channels=1,
            no_history_channels=1,
        )
        return spec.with_(**changes)

    @classmethod
    def demo(cls, **changes: object) -> WorldSpec:
        """The README demo: two lively guilds, a few hundred messages per channel."""
        spec = cls(
            guilds=2,
            text_channels=5,
            messages_per_channel=[420, 180, 0, 260, 75],
            active_public_threads=1,
            archived_public_threads=2,
            active_private_threads=1,
            archived_private_threads=1,
            forum_posts=4,
            messages_per_thread=8,
            members=120,
            invites=4,
            roles=6,
            emojis=5,
            stickers=3,
            scheduled_events=3,
            audit_log_entries=120,
            unreadable_channels=1,
            no_history_channels=1,
            nul_everywhere=True,
        )
        return spec.with_(**changes)

    @classmethod
    def bench_rate_limited(cls, **changes: object) -> WorldSpec:
        """Rate-limit benchmark: 1 guild, 40 text channels x 2,000 messages, 2,000 members."""
        spec = cls(
            guilds=1,
            text_channels=40,
            messages_per_channel=2000,
            other_channel_types=False,
            active_public_threads=0,
            archived_public_threads=0,
            active_private_threads=0,
            archived_private_threads=0,
            forum_posts=0,
            members=2000,
            audit_log_entries=200,
            span_days=120.0,
        )
        return spec.with_(**changes)

    @classmethod
    def bench_bulk(cls, **changes: object) -> WorldSpec:
        """Throughput benchmark: 1 guild, 10 channels, 1,000,000 messages in total."""
        spec = cls(
            guilds=1,
            text_channels=10,
            messages_per_channel=100_000,
            other_channel_types=False,
            active_public_threads=0,
            archived_public_threads=0,
            active_private_threads=0,
            archived_private_threads=0,
            forum_posts=0,
            members=200,
            span_days=365.0,
        )
        return spec.with_(**changes)

    @classmethod
    def preset(cls, name: str, **changes: object) -> WorldSpec:
        """A preset by its command-line name."""
        presets = {
            "small": cls.small,
            "demo": cls.demo,
            "bench_rate_limited": cls.bench_rate_limited,
            "bench_bulk": cls.bench_bulk,
        }
        if name not in presets:
            raise ValueError(f"unknown world {name!r}; choose one of {sorted(presets)}")
        return presets[name](**changes)
