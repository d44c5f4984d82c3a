"""Scheduled events of a guild."""

from __future__ import annotations

import copy
import typing as t

from typing_extensions import override

from tap_discord import schemas
from tap_discord.snowflake import by_id
from tap_discord.streams.guilds import GuildChildStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context


class ScheduledEventsStream(GuildChildStream):
    """`GET /guilds/{id}/scheduled-events?with_user_count=true` (no paging).

    Discord does not promise to list completed or cancelled events: this is the
    current list, not a history. Read once per guild and run and kept in the tap's
    `SharedLists`: `scheduled_event_users` reads the users of the same events.
    """

    name = "scheduled_events"
    path = "/guilds/{guild_id}/scheduled-events"
    primary_keys = schemas.SCHEDULED_EVENTS_KEYS
    schema = schemas.SCHEDULED_EVENTS_SCHEMA
    mirrors_deletions = True

    @override
    def get_url_params(self, context: Context | None, next_page_token: t.Any) -> dict:
        """Ask for each event's subscriber count."""
        return {"with_user_count": "true"}

    @override
    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Emit copies of the shared list, so SDK edits never reach it."""
        guild_id = str((context or {})["guild_id"])
        yield from copy.deepcopy(self.discord_tap.shared_lists.scheduled_events(guild_id))

    def read_guild_events(self, guild_id: str) -> list[dict[str, t.Any]]:
        """Read the guild's events, by id; raises ResourceSkippedError if Discord refuses.

        Called once per guild and run, by `SharedLists`, which keeps the list.
        """
        return sorted(self.request_records({"guild_id": guild_id}), key=by_id)
