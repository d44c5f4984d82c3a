"""Guild scheduled events, plus the additions of Discord's OpenAPI spec.

https://discord.com/developers/docs/resources/guild-scheduled-event#guild-scheduled-event-object
https://github.com/discord/discord-api-spec

``GET /guilds/{id}/scheduled-events?with_user_count=true``; also embedded in invites.
"""

from __future__ import annotations

from tap_discord.schemas.common import (
    ENTITY_METADATA,
    MEMBER,
    RECURRENCE_RULE,
    USER,
)
from tap_discord.schemas.fields import (
    BOOLEAN,
    INTEGER,
    SNOWFLAKE,
    STRING,
    TIMESTAMP,
    Fields,
    always,
    always_nullable,
    array,
    field,
    nested,
    record,
)

#: Spec only (``ScheduledEventUserResponse``): the current user's RSVP.
SCHEDULED_EVENT_USER_RSVP = nested(
    always("guild_scheduled_event_id", SNOWFLAKE),
    field("guild_scheduled_event_exception_id", SNOWFLAKE),
    always("user_id", SNOWFLAKE),
    field("user", USER),
    field("member", MEMBER),
    always("response", INTEGER),
)
#: Spec only (``GuildScheduledEventExceptionResponse``): one changed or cancelled
#: occurrence of a recurring event.
SCHEDULED_EVENT_EXCEPTION = nested(
    always("event_id", SNOWFLAKE),
    always("event_exception_id", SNOWFLAKE),
    always_nullable("scheduled_start_time", TIMESTAMP),
    always_nullable("scheduled_end_time", TIMESTAMP),
    always("is_canceled", BOOLEAN),
)

SCHEDULED_EVENT_FIELDS: Fields = (
    always("id", SNOWFLAKE),
    always("guild_id", SNOWFLAKE),
    always_nullable("channel_id", SNOWFLAKE),  # null for EXTERNAL events
    field("creator_id", SNOWFLAKE),  # null for events created before 2021-10-25
    always("name", STRING),
    field("description", STRING),
    always("scheduled_start_time", TIMESTAMP),
    always_nullable("scheduled_end_time", TIMESTAMP),  # required for EXTERNAL events
    always("privacy_level", INTEGER),
    always("status", INTEGER),
    always("entity_type", INTEGER),
    always_nullable("entity_id", SNOWFLAKE),
    always_nullable("entity_metadata", ENTITY_METADATA),
    field("creator", USER),
    field("user_count", INTEGER),  # with with_user_count=true
    field("image", STRING),
    always_nullable("recurrence_rule", RECURRENCE_RULE),
    # In the spec's ScheduledEventResponse only:
    field("user_rsvp", SCHEDULED_EVENT_USER_RSVP),
    field("guild_scheduled_event_exceptions", array(SCHEDULED_EVENT_EXCEPTION)),
)
SCHEDULED_EVENT = nested(*SCHEDULED_EVENT_FIELDS)

SCHEDULED_EVENTS_KEYS = ("id",)
SCHEDULED_EVENTS_SCHEMA = record(SCHEDULED_EVENT_FIELDS)
