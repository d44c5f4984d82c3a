"""What the messages stream saw this run, for the streams that follow messages.

`pins`, `message_reactions` and `poll_votes` learn what changed from the messages the
`messages` stream reads anyway (new ones, and those re-read by `message_lookback`), so
an unchanged rerun costs them no request:

* a message's `reactions` counts say which of its reactions to read again;
* a message's `poll.results` say whether its voters changed, and when they are final;
* a message's `pinned` flag, and a pinned message missing from a channel read to the
  end, say that a pin may be gone (Discord's `last_pin_timestamp` is documented to move
  on a pin only: https://discord.com/developers/docs/resources/channel#channel-object).

Only what those streams need is kept: the id and counts of messages with reactions or
a poll, the ids of pinned messages, and per channel where a read that reached its end
started. Filled on the main thread as records are emitted; read by the following
streams, which run after `messages` for the same guild (`sharedlists.RUNS_BEFORE`).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

#: Reaction types as the reactions route names them (`type` 0 and 1) and the rows do.
REACTION_TYPES = ("normal", "burst")


@dataclass(frozen=True)
class SeenReaction:
    """One emoji on a message: its identity and its normal and burst counts."""

    emoji_id: str | None
    emoji_name: str | None
    normal: int
    burst: int

    @property
    def key(self) -> str:
        """The emoji's key in a message: a custom emoji's id, else the unicode emoji."""
        return self.emoji_id or self.emoji_name or ""


@dataclass(frozen=True)
class SeenPoll:
    """A poll message: its answers, their counts (None: results unknown), finality."""

    answer_ids: tuple[int, ...]
    counts: dict[int, int] | None
    finalized: bool


@dataclass
class ChannelSeen:
    """What one channel's (or thread's) read showed."""

    #: The read's first `after` cursor, once the read reached the channel's end: every
    #: message after it that still exists was seen (None: not read to the end).
    complete_after: int | None = None
    #: Whether the read returned any message. Without Read Message History Discord
    #: answers an empty list, not an error: an empty read proves nothing was deleted.
    nonempty: bool = False
    reactions: dict[str, tuple[SeenReaction, ...]] = field(default_factory=dict)
    polls: dict[str, SeenPoll] = field(default_factory=dict)
    pinned: set[str] = field(default_factory=set)

    def covers(self, message_id: str) -> bool:
        """Whether the read went over `message_id`: absent from it means deleted."""
        after = self.complete_after
        return after is not None and self.nonempty and int(message_id) > after


class MessageObservations:
    """Per guild and channel, what the following streams need of this run's messages."""

    def __init__(self) -> None:
        """Nothing seen; `wanted` is set when one of the following streams is selected."""
        self.wanted = False
        self._guilds: dict[str, dict[str, ChannelSeen]] = {}
        self._read: set[str] = set()
        self._current: t.Any = None  # the channel of the last message observed

    def start_guild(self, guild_id: str) -> None:
        """The messages stream begins the guild (it was selected and runs)."""
        self._read.add(guild_id)
        self._guilds.setdefault(guild_id, {})

    def messages_read(self, guild_id: str) -> bool:
        """Whether the messages stream ran for the guild this run."""
        return guild_id in self._read

    def channel(self, guild_id: str, channel_id: str) -> ChannelSeen:
        """The record of one channel's read, created empty on first use."""
        return self._guilds.setdefault(guild_id, {}).setdefault(channel_id, ChannelSeen())

    def seen(self, guild_id: str, channel_id: str) -> ChannelSeen:
        """What the read of one channel showed; an empty record if it was not read."""
        return self._guilds.get(guild_id, {}).get(channel_id) or ChannelSeen()

    def channels(self, guild_id: str) -> dict[str, ChannelSeen]:
        """Every channel of the guild the messages stream saw something of."""
        return self._guilds.get(guild_id, {})

    def observe(self, guild_id: str, message: t.Mapping[str, t.Any]) -> None:
        """Note what matters of one emitted message (main thread)."""
        if not self.wanted:
            return
        channel_id = message["channel_id"]
        if channel_id != self._current:  # messages come channel by channel
            self._current = channel_id
            self.channel(guild_id, str(channel_id)).nonempty = True
        reactions = message.get("reactions")
        poll = message.get("poll")
        pinned = message.get("pinned")
        if not (reactions or poll or pinned):
            return
        message_id = str(message["id"])
        seen = self.channel(guild_id, str(channel_id))
        if reactions:
            seen.reactions[message_id] = tuple(map(seen_reaction, reactions))
        if isinstance(poll, dict):
            seen.polls[message_id] = seen_poll(poll)
        if pinned:
            seen.pinned.add(message_id)

    def channel_read(self, guild_id: str, channel_id: str, after: int) -> None:
        """A channel's read reached its end, from the `after` cursor given."""
        if self.wanted:
            self.channel(guild_id, channel_id).complete_after = after


def seen_reaction(reaction: t.Mapping[str, t.Any]) -> SeenReaction:
    """A message's `reactions` entry, as counts per type.

    https://discord.com/developers/docs/resources/message#reaction-count-details-object
    """
    emoji = reaction.get("emoji") or {}
    details = reaction.get("count_details") or {}
    burst = int(details.get("burst") or 0)
    normal = int(details.get("normal", int(reaction.get("count") or 0) - burst) or 0)
    emoji_id = emoji.get("id")
    return SeenReaction(
        str(emoji_id) if emoji_id is not None else None, emoji.get("name"), normal, burst
    )


def seen_poll(poll: t.Mapping[str, t.Any]) -> SeenPoll:
    """A message's `poll`: its answer ids, counts (absent answer: 0 votes) and finality.

    A poll without `results` has unknown results, not none
    (https://discord.com/developers/docs/resources/poll#poll-results-object).
    """
    answers = tuple(int(a["answer_id"]) for a in poll.get("answers") or ())
    results = poll.get("results")
    if not isinstance(results, dict):
        return SeenPoll(answers, None, finalized=False)
    counts = dict.fromkeys(answers, 0)
    for item in results.get("answer_counts") or ():
        counts[int(item["id"])] = int(item.get("count") or 0)
    return SeenPoll(answers, counts, finalized=bool(results.get("is_finalized")))
