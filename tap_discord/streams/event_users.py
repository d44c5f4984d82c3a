"""Who said they would come to each scheduled event (RSVPs), read per event.

State: the guild's SDK partition (one per guild) keeps the events that had ended
(completed or cancelled) when their users were read in full:

    {"context": {"guild_id": "G"}, "finished_events": ["<event id>", ...],
     "listed_users": {"<event id>": "<user ids>"}}

An ended event's list no longer changes, so it is not asked for again. The list
keeps only events Discord still lists, so it never grows past the guild's current
events. Events that have not ended are re-read on every run; a user one no longer
lists (an RSVP withdrawn), and every user of an event Discord no longer lists, is
marked deleted with a tombstone (`listed_users`: listings.py).
"""

from __future__ import annotations

import typing as t

from typing_extensions import override

from tap_discord import schemas
from tap_discord.errors import ResourceSkippedError
from tap_discord.listings import KeptListings, tombstones
from tap_discord.pagination import SnowflakeAfterPaginator
from tap_discord.snowflake import is_snowflake
from tap_discord.streams.guilds import GuildChildStream
from tap_discord.tombstones import is_tombstone

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context, Record

EVENT_USER_PAGE_SIZE = 100
#: Key of the ended-and-read events in a guild's partition (layout above).
FINISHED_KEY = "finished_events"
#: https://discord.com/developers/docs/resources/guild-scheduled-event#guild-scheduled-event-object-guild-scheduled-event-status
ENDED_STATUSES = frozenset({3, 4})  # COMPLETED, CANCELED
MISSING_ACCESS = 50001
#: Stage and voice events: their users are visible with View Channel on the channel.
CHANNEL_EVENT_TYPES = frozenset({1, 2})


class ScheduledEventUsersStream(GuildChildStream):
    """`GET /guilds/{id}/scheduled-events/{event}/users?with_member=true&limit=100&after=…`."""

    name = "scheduled_event_users"
    path = "/guilds/{guild_id}/scheduled-events/{event_id}/users"
    primary_keys = schemas.SCHEDULED_EVENT_USERS_KEYS
    schema = schemas.SCHEDULED_EVENT_USERS_SCHEMA
    forbidden_reasons: t.ClassVar[dict[int | None, str]] = {
        50001: "Missing Access (50001): the users of a voice or stage event need View "
        "Channel on the event's channel",
    }

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Each event's users, except events that had ended when last read in full.

        Users an event no longer lists, and the users of events gone from Discord's
        list, get a tombstone (`listings.py`).
        """
        guild_id = str((context or {})["guild_id"])
        state = self.get_context_state(context)
        finished = self.finished_events(state, guild_id)
        kept = KeptListings(state, self.logger, f"{self.name} of guild {guild_id}")
        events = self.discord_tap.shared_lists.scheduled_events(guild_id)
        unreadable = self.discord_tap.shared_lists.unreadable_channels
        for event in events:
            event_id = str(event["id"])
            if event_id in finished or _channel_of(event) in unreadable:
                continue
            target = {"guild_id": guild_id, "event_id": event_id}
            seen: set[int] = set()
            try:
                for row in self.request_records(target):
                    seen.add(int(_user_id(row)))
                    yield row
            except ResourceSkippedError as exc:
                self.warn_skipped(exc, target)
                if exc.code == MISSING_ACCESS and _channel_of(event):
                    unreadable.add(str(_channel_of(event)))  # its other events: not asked
                continue
            yield from self.withdrawn(guild_id, event_id, kept.previous(event_id) - seen)
            kept.remember(event_id, seen)  # only now, with its tombstones written
            if event.get("status") in ENDED_STATUSES:
                finished.add(event_id)  # every user of it has been emitted by now
        listed = {str(event["id"]) for event in events}
        if self.discord_tap.mirror.first_gap(("scheduled_events", "guilds")) is None:
            for gone in kept.gone_parents(listed):
                yield from self.withdrawn(guild_id, gone, kept.previous(gone))
                kept.forget(gone)
        state[FINISHED_KEY] = sorted(finished & listed, key=int)

    def withdrawn(self, guild_id: str, event_id: str, users: set[int]) -> Iterator[Record]:
        """Tombstones of the users no longer interested in the event (or of a gone event)."""
        return tombstones(
            users,
            lambda user_id: {
                "guild_scheduled_event_id": event_id,
                "user_id": user_id,
                "guild_id": guild_id,
            },
        )

    def finished_events(self, state: dict[str, t.Any], guild_id: str) -> set[str]:
        """The kept ended events; a damaged list is dropped (one warning): all are read."""
        kept = state.get(FINISHED_KEY)
        if kept is None:
            return set()
        if isinstance(kept, list) and all(is_snowflake(event) for event in kept):
            return {str(event) for event in kept}
        self.logger.warning(
            "state: %s.%s of guild %s is not a list of event ids; reading the users of "
            "every event again",
            self.name,
            FINISHED_KEY,
            guild_id,
        )
        return set()

    @override
    def get_new_paginator(self) -> SnowflakeAfterPaginator:
        """Ascending by user id; a page shorter than 100 is the last."""
        return SnowflakeAfterPaginator(None, page_size=EVENT_USER_PAGE_SIZE, id_of=_user_id)

    @override
    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        """Full pages with each user's member object."""
        return {"limit": EVENT_USER_PAGE_SIZE, "with_member": "true", "after": next_page_token or 0}

    @override
    def post_process(self, row: Record, context: Context | None = None) -> Record | None:
        """Key by (event, user); a tombstone has its key already."""
        if is_tombstone(row):
            return row
        row = super().post_process(row, context) or row
        row["user_id"] = _user_id(row)
        return row


def _channel_of(event: dict[str, t.Any]) -> str | None:
    """The channel whose View Channel a stage or voice event's users need."""
    if event.get("entity_type") in CHANNEL_EVENT_TYPES and event.get("channel_id"):
        return str(event["channel_id"])
    return None


def _user_id(row: dict) -> str:
    """The interested user's id."""
    return str(row["user"]["id"])
