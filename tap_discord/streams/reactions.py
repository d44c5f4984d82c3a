"""Who reacted with what: `GET /channels/{c}/messages/{m}/reactions/{emoji}?type=0|1`.

https://discord.com/developers/docs/resources/message#get-reactions: users by
ascending id, up to 100 per page with `after`; `type` 0 lists normal reactions, 1 the
burst (super) ones, separately. One row per (message, emoji, type) holds all its users,
so a re-read replaces the row exactly: a user who took a reaction back vanishes from
`user_ids`, and an emoji (or type) gone from a message gets a tombstone.

What is read: the (message, emoji, type) whose count in the message's `reactions`
(`count_details`) differs from the count the tap last read, among this run's messages
(new ones, and those re-read by `message_lookback`). Equal counts are not read again:
a user swapped for another between two runs is not seen.

State, in the guild's partition:

* `reaction_counts` `{channel id: {message id: {emoji key: [normal, burst]}}}`: the
  counts last read, for the reacted messages the next run's messages read will cover
  (those above its `after`: the lookback window), so the map holds the reacted
  messages of each channel's window: at most 20 emoji per message (Discord's cap),
  about 40 bytes each; without `message_lookback` it is empty after each run;
* `reaction_backlog` `{"message emoji-key type": [channel id, emoji id, emoji name,
  count]}`:
  reactions found changed and not read yet, because the run reached
  `reaction_request_budget`; the next run reads them first. Without a budget it is
  empty at the end of every run.
"""

from __future__ import annotations

import typing as t
from urllib.parse import quote

from typing_extensions import override

from tap_discord import schemas
from tap_discord.errors import ResourceSkippedError
from tap_discord.observed import REACTION_TYPES, SeenReaction
from tap_discord.pagination import SnowflakeAfterPaginator
from tap_discord.permissions import needs_history
from tap_discord.responses import response_json
from tap_discord.streams.following import MessageFollowerStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk.helpers.types import Context

    from tap_discord.observed import ChannelSeen
    from tap_discord.prefetch import Page

USERS_PAGE_SIZE = 100
COUNTS_KEY = "reaction_counts"
BACKLOG_KEY = "reaction_backlog"
UNKNOWN_MESSAGE = 10008
UNKNOWN_EMOJI = 10014
Item = dict[str, t.Any]


def backlog_key(message_id: str, emoji_key: str, kind: str) -> str:
    """The backlog's key of one (message, emoji, type): the row's key, space-separated."""
    return f"{message_id} {emoji_key} {kind}"


def emoji_path(emoji_id: str | None, emoji_name: str | None) -> str:
    """The `{emoji}` of the route, URL-encoded: `name:id` for a custom emoji.

    https://discord.com/developers/docs/resources/message#get-reactions. A deleted
    custom emoji has no name; it is addressed as `_:id`.
    """
    text = f"{emoji_name or '_'}:{emoji_id}" if emoji_id else str(emoji_name or "")
    return quote(text, safe="")


class MessageReactionsStream(MessageFollowerStream):
    """The users of each changed reaction of this run's messages, within a request budget."""

    name = "message_reactions"
    path = "/channels/{channel_id}/messages/{message_id}/reactions/{emoji}"
    primary_keys = schemas.MESSAGE_REACTIONS_KEYS
    schema = schemas.MESSAGE_REACTIONS_SCHEMA
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = needs_history("reading reactions")

    _requests = 0  # reaction pages planned this run, against `reaction_request_budget`

    @override
    def get_records(self, context: Context | None) -> Iterable[Item]:
        """Tombstones for reactions gone, then the users of changed ones, oldest found first."""
        guild_id = str((context or {})["guild_id"])
        counts, backlog = self.guild_maps(context, COUNTS_KEY, BACKLOG_KEY)
        if self.messages_read(guild_id):
            window = self.next_window_start(context)
            for channel_id, seen in self.observations.channels(guild_id).items():
                yield from self.compare(guild_id, channel_id, seen, counts, backlog)
            for channel_id in list(counts):
                keep_window(counts, channel_id, window(channel_id))
        yield from self.read_backlog(guild_id, backlog)

    def compare(
        self,
        guild_id: str,
        channel_id: str,
        seen: ChannelSeen,
        counts: dict[str, t.Any],
        backlog: dict[str, t.Any],
    ) -> Iterator[Item]:
        """Queue the changed reactions of one channel's messages; tombstone those gone."""
        held: dict[str, dict[str, list[int]]] = counts.get(channel_id, {})
        for message_id, reactions in seen.reactions.items():
            before = held.get(message_id, {})
            now = {reaction.key: [reaction.normal, reaction.burst] for reaction in reactions}
            for reaction in reactions:
                self.queue_changed(channel_id, message_id, reaction, before, backlog)
            for gone in sorted(before.keys() - now.keys()):
                yield from self.drop(guild_id, channel_id, message_id, gone, before[gone], backlog)
            for key, pair in now.items():
                for index, kind in enumerate(REACTION_TYPES):
                    if not pair[index] and before.get(key, [0, 0])[index]:
                        yield self.gone(guild_id, channel_id, message_id, key, kind, backlog)
            held[message_id] = now
        for message_id in sorted(held.keys() - seen.reactions.keys(), key=int):
            if seen.covers(message_id):  # re-read without reactions: all taken back, or deleted
                for key, pair in sorted(held.pop(message_id).items()):
                    yield from self.drop(guild_id, channel_id, message_id, key, pair, backlog)
        if held:
            counts[channel_id] = held
        else:
            counts.pop(channel_id, None)

    def queue_changed(
        self,
        channel_id: str,
        message_id: str,
        reaction: SeenReaction,
        before: dict[str, list[int]],
        backlog: dict[str, t.Any],
    ) -> None:
        """Put each type of a reaction whose count moved (and is not 0) in the backlog."""
        old = before.get(reaction.key, [0, 0])
        for index, count in enumerate((reaction.normal, reaction.burst)):
            if count and count != old[index]:
                key = backlog_key(message_id, reaction.key, REACTION_TYPES[index])
                backlog[key] = [channel_id, reaction.emoji_id, reaction.emoji_name, count]

    def drop(
        self,
        guild_id: str,
        channel_id: str,
        message_id: str,
        emoji_key: str,
        pair: list[int],
        backlog: dict[str, t.Any],
    ) -> Iterator[Item]:
        """Tombstones for both types of an emoji gone from a message (those it had)."""
        for index, kind in enumerate(REACTION_TYPES):
            if pair[index]:
                yield self.gone(guild_id, channel_id, message_id, emoji_key, kind, backlog)

    def gone(
        self,
        guild_id: str,
        channel_id: str,
        message_id: str,
        emoji_key: str,
        kind: str,
        backlog: dict[str, t.Any],
    ) -> Item:
        """The tombstone of one row; it leaves the backlog too."""
        backlog.pop(backlog_key(message_id, emoji_key, kind), None)
        key = {"message_id": message_id, "emoji_key": emoji_key, "type": kind}
        return self.tombstone({"guild_id": guild_id, "channel_id": channel_id, **key})

    def read_backlog(self, guild_id: str, backlog: dict[str, t.Any]) -> Iterator[Item]:
        """Read the queued reactions, oldest queued first, within the run's budget.

        With `max_workers` > 1, worker threads fetch the planned reactions' pages ahead
        (`prefetch.py`), as for messages; rows leave from this thread, in plan order.
        """
        plan = self.within_budget(guild_id, backlog)
        refused: set[str] = set()  # channels that answered 403 this run (warned once)
        with self.prefetcher([context for _, context in plan]) as prefetched:
            for index, (key, context) in enumerate(plan):
                pages = prefetched.pages(index) if prefetched else None
                channel_id, message_id = context["channel_id"], context["message_id"]
                try:
                    users = self.users_of(context, pages)
                except ResourceSkippedError as exc:
                    yield from self.unread(exc, guild_id, key, context, backlog, refused)
                    continue
                yield {
                    "guild_id": guild_id,
                    "channel_id": channel_id,
                    "message_id": message_id,
                    "emoji_key": key.split(" ")[1],
                    "type": REACTION_TYPES[context["type"]],
                    "emoji_id": context["emoji_id"],
                    "emoji_name": context["emoji_name"],
                    "count": len(users),
                    "user_ids": users,
                }
                backlog.pop(key, None)

    def within_budget(
        self, guild_id: str, backlog: dict[str, t.Any]
    ) -> list[tuple[str, dict[str, t.Any]]]:
        """The backlog's reactions to read now: each one while the run is under budget.

        A reaction of `n` users costs `n // 100 + 1` pages; one begun is read whole, so
        a run may exceed the budget by the pages of its last reaction.
        """
        budget = self.discord_tap.settings.reaction_request_budget
        plan: list[tuple[str, dict[str, t.Any]]] = []
        for key, (channel_id, emoji_id, emoji_name, *count) in backlog.items():
            if budget and self._requests >= budget:
                self.logger.info(
                    "reaction_request_budget (%d requests) reached: %d changed reactions "
                    "of guild %s are left for the next run, which reads them first.",
                    budget,
                    len(backlog) - len(plan),
                    guild_id,
                )
                break
            self._requests += int(count[0] if count else 0) // USERS_PAGE_SIZE + 1
            message_id, _, kind = key.split(" ")
            context = {
                "guild_id": guild_id,
                "channel_id": channel_id,
                "message_id": message_id,
                "emoji": emoji_path(emoji_id, emoji_name),
                "type": REACTION_TYPES.index(kind),
                "emoji_id": emoji_id,
                "emoji_name": emoji_name,
            }
            plan.append((key, context))
        return plan

    def unread(
        self,
        exc: ResourceSkippedError,
        guild_id: str,
        key: str,
        context: dict[str, t.Any],
        backlog: dict[str, t.Any],
        refused: set[str],
    ) -> Iterator[Item]:
        """A reaction Discord would not list: gone with its message, kept, or dropped."""
        message_id, emoji_key, kind = key.split(" ")
        channel_id = context["channel_id"]
        if exc.code == UNKNOWN_MESSAGE:  # deleted since: its reactions are gone
            yield self.gone(guild_id, channel_id, message_id, emoji_key, kind, backlog)
            return
        if exc.status == 403:  # kept for the next run: unreadable is not gone
            if channel_id not in refused:
                refused.add(channel_id)
                self.warn_skipped(exc, {"guild_id": guild_id, "channel_id": channel_id})
            return
        self.warn_skipped(exc, {"guild_id": guild_id, "channel_id": channel_id})
        backlog.pop(key, None)

    def users_of(self, context: Context, pages: Iterable[Page] | None) -> list[str]:
        """The ids of one reaction type's users, ascending, from its pages."""
        if pages is None:
            pages = self.fetch_pages(self.requests_session, context)
        users = self.records_of_pages(pages, context)
        return sorted({user_id(user) for user in users}, key=int)

    @override
    def get_new_paginator(self) -> SnowflakeAfterPaginator:
        """Forward by user id, 100 per page; a short page is the last."""
        return SnowflakeAfterPaginator(None, page_size=USERS_PAGE_SIZE, id_of=user_id)

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        """The reaction type, 100 users per page, after the previous page's last user."""
        params: dict[str, t.Any] = {"type": (context or {})["type"], "limit": USERS_PAGE_SIZE}
        if next_page_token is not None:
            params["after"] = next_page_token
        return params

    @override
    def parse_response(self, response: requests.Response) -> Iterator[dict]:
        """A page of users."""
        body = response_json(response)
        yield from body if isinstance(body, list) else ()


def keep_window(store: dict[str, t.Any], channel_id: str, start: int | None) -> None:
    """Drop a channel's entries for messages the next run will not read again."""
    held = store.get(channel_id)
    if held is None or start is None:
        return
    for message_id in [m for m in held if int(m) <= start]:
        del held[message_id]
    if not held:
        del store[channel_id]


def user_id(user: t.Any) -> str:
    """A user object's id."""
    return str(user["id"])
