"""Pinned messages: `GET /channels/{id}/messages/pins`, read only where pins may have moved.

https://discord.com/developers/docs/resources/message#get-channel-pins (50 per page,
`before` = the last item's `pinned_at`, while `has_more`; a channel holds at most 250
pins). The deprecated `GET /channels/{id}/pins` stops at 50 and is not used.

A channel (or thread) is read when

* its `last_pin_timestamp` differs from the value the last read of it saw (a pin); or
* a message the tap holds as pinned was, in this run's messages, not pinned any more or
  gone from a channel read over it (an unpin or a deletion, inside what the messages
  stream re-reads: `message_lookback`). Discord documents `last_pin_timestamp` as the
  time of the last pin, and does not say it changes on an unpin; so an unpin of a
  message outside that window shows only once another pin moves it.

State, in the guild's partition: `pin_marks` `{channel id: last_pin_timestamp read}`
and `pinned_ids` `{channel id: [pinned message ids]}`, for channels with pins only:
at most 250 ids per channel, Discord's cap on pins.
"""

from __future__ import annotations

import typing as t

from typing_extensions import override

from tap_discord import schemas
from tap_discord.errors import ResourceSkippedError
from tap_discord.pagination import PinnedBeforePaginator
from tap_discord.permissions import needs_history
from tap_discord.responses import response_json
from tap_discord.snowflake import by_id
from tap_discord.streams.following import MessageFollowerStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import requests
    from singer_sdk.helpers.types import Context

PINS_PAGE_SIZE = 50
MARKS_KEY = "pin_marks"
PINNED_KEY = "pinned_ids"


class PinsStream(MessageFollowerStream):
    """`GET /channels/{id}/messages/pins` for each channel and thread whose pins moved."""

    name = "pins"
    path = "/channels/{channel_id}/messages/pins"
    primary_keys = schemas.PINS_KEYS
    schema = schemas.PINS_SCHEMA
    needs_messages = False
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = needs_history("reading pins")

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Each channel's pins where they may have moved; tombstones for unpinned ones."""
        guild_id = str((context or {})["guild_id"])
        marks, held = self.guild_maps(context, MARKS_KEY, PINNED_KEY)
        for channel in self.targets(guild_id):
            channel_id = str(channel["id"])
            stamp = channel.get("last_pin_timestamp")
            if not self.pins_may_have_moved(guild_id, channel_id, stamp, marks, held):
                continue
            try:
                pins = self.read_pins(guild_id, channel_id)
            except ResourceSkippedError as exc:
                self.warn_skipped(exc, {"guild_id": guild_id, "channel_id": channel_id})
                continue
            if not pins and stamp is not None and held.get(channel_id):
                self.warn_empty(guild_id, channel_id)
                continue
            yield from pins
            now = {pin["message_id"] for pin in pins}
            for message_id in sorted(set(held.get(channel_id, ())) - now, key=int):
                key = {"guild_id": guild_id, "channel_id": channel_id, "message_id": message_id}
                yield self.tombstone(key)
            remember(held, channel_id, sorted(now, key=int))
            remember(marks, channel_id, stamp)

    def warn_empty(self, guild_id: str, channel_id: str) -> None:
        """An empty answer where pins were: kept, as Discord may mean "not allowed"."""
        self.logger.warning(
            "Keeping the pins of guild_id=%s, channel_id=%s: Discord answered an empty "
            "pin list, which is also its answer without Read Message History; they are "
            "marked deleted once the channel has a new pin.",
            guild_id,
            channel_id,
        )

    def targets(self, guild_id: str) -> list[dict[str, t.Any]]:
        """The guild's channels and threads with a message history the bot may read."""
        lists = self.discord_tap.shared_lists
        items = [*lists.channels(guild_id), *lists.threads(guild_id)]
        return sorted(self.messages_stream.readable(items), key=by_id)

    def pins_may_have_moved(
        self,
        guild_id: str,
        channel_id: str,
        stamp: str | None,
        marks: dict[str, t.Any],
        held: dict[str, t.Any],
    ) -> bool:
        """A new pin (the channel's `last_pin_timestamp` moved), or a held pin seen gone."""
        if stamp != marks.get(channel_id):
            return True
        seen = self.observations.seen(guild_id, channel_id)
        return any(
            seen.covers(message_id) and message_id not in seen.pinned
            for message_id in held.get(channel_id, ())
        )

    def read_pins(self, guild_id: str, channel_id: str) -> list[dict[str, t.Any]]:
        """Every pin of one channel, newest first, one record each (no id twice)."""
        context = {"guild_id": guild_id, "channel_id": channel_id}
        pins: dict[str, dict[str, t.Any]] = {}
        for item in self.request_records(context):
            message_id = str(item["message"]["id"])
            pins.setdefault(
                message_id,
                {
                    "guild_id": guild_id,
                    "channel_id": channel_id,
                    "message_id": message_id,
                    "pinned_at": item["pinned_at"],
                },
            )
        return list(pins.values())

    @override
    def get_new_paginator(self) -> PinnedBeforePaginator:
        """Backwards by `pinned_at` while Discord says `has_more`."""
        return PinnedBeforePaginator(None)

    @override
    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict:
        """50 per page (the most), before the previous page's last pin."""
        params: dict[str, t.Any] = {"limit": PINS_PAGE_SIZE}
        if next_page_token is not None:
            params["before"] = next_page_token
        return params

    @override
    def parse_response(self, response: requests.Response) -> Iterator[dict]:
        """The page's `{pinned_at, message}` items (the records are built from them)."""
        body = response_json(response)
        items = body.get("items") if isinstance(body, dict) else None
        yield from items or ()


def remember(store: dict[str, t.Any], channel_id: str, value: t.Any) -> None:
    """Keep a channel's value, or drop the channel when there is nothing to keep."""
    if value:
        store[channel_id] = value
    else:
        store.pop(channel_id, None)
