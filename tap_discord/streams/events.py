"""Scheduled events of a guild."""

from __future__ import annotations

import typing as t

from typing_extensions import override

from tap_discord import schemas
from tap_discord.streams.guilds import GuildChildStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class ScheduledEventsStream(GuildChildStream):
    """`GET /guilds/{id}/scheduled-events?with_user_count=true` (no paging).

    Discord does not promise to list completed or cancelled events: this is the
    current list, not a history.
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
